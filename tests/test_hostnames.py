"""The compact host-name map: the same answers as a dict, for any names."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kalipso.data.hostnames import HostNames, matching

ips = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(ips, names, max_size=40), st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                                                         max_size=4), ips)
def test_host_names_answer_as_a_dict(table, needle, other):
    h = HostNames(table)
    assert len(h) == len(table) and dict(h.pairs()) == table and set(h) == set(table)
    for ip, name in table.items():
        assert ip in h and h[ip] == name and h.get(ip) == name
    assert (other in h) == (other in table) and h.get(other) == table.get(other)
    needle = needle.lower()
    expected = {ip for ip, name in table.items() if needle in name.lower()}
    # a character that lower-cases to two ('İ') matches only in its own case in the compact map
    if all(len(c.lower()) == 1 for name in table.values() for c in name):
        assert matching(h, needle) == expected
    else:
        assert matching(h, needle) <= expected


def test_many_names_and_many_matches():
    table = {f"10.{i // 65536}.{i // 256 % 256}.{i % 256}": f"PC-{i}" for i in range(30_000)}
    h = HostNames(table)
    for needle in ("pc-", "pc-1", "pc-29999", "-2", "x", "9.9"):
        assert matching(h, needle) == {ip for ip, n in table.items() if needle in n.lower()}, needle
    assert 5 not in h and h.get(None) is None  # type: ignore[arg-type]
