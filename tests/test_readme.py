"""README.md starts with the two commands, and its key table is the key table."""

from __future__ import annotations

import re

from kalipso import keymap
from kalipso.views.registry import discover

from conftest import REPO


def test_key_table_matches_the_key_map():
    readme = (REPO / "README.md").read_text()
    table = re.search(r"<!-- keys:start -->\n(.*?)\n<!-- keys:end -->", readme, re.S).group(1)
    views = [(v.key, v.name, v.title) for v in discover().views if v.dist == "kalipso"]
    assert table == keymap.markdown_table(views), "regenerate it: python -m kalipso.keymap"


def test_readme_starts_with_setup_and_test_commands():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    assert first_block.splitlines()[0].startswith("make demo")
    assert first_block.splitlines()[1].startswith("make test")
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "make install" in ci
