"""The one key table of the main board. The help bar and the help overlay are drawn from it.

Commands are registered by name; keys are bound separately, so the help never drifts from
what the keys do. Keys used here are reserved: a view cannot take them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    keys: tuple[str, ...]
    command: str
    help: str
    in_bar: bool = False
    label: str = ""  # the short name in the help bar (the command's name when empty)

    @property
    def bar_label(self) -> str:
        return self.label or self.command


MAIN_BOARD: tuple[Binding, ...] = (
    Binding(("q",), "quit", "quit (in a view: back to the main board)", True),
    Binding(("?",), "help", "help: every key", True),
    Binding(("\t",), "focus_next", "next pane"),
    Binding(("KEY_BTAB",), "focus_prev", "previous pane"),
    Binding(("KEY_UP", "k"), "up", "move up"),
    Binding(("KEY_DOWN", "j"), "down", "move down"),
    Binding(("KEY_PPAGE",), "page_up", "page up"),
    Binding(("KEY_NPAGE",), "page_down", "page down"),
    Binding(("KEY_HOME", "g"), "home", "first line"),
    Binding(("KEY_END", "G"), "end", "last line"),
    Binding(("\n", "KEY_ENTER"), "open",
            "tree: expand profile, select time window; timeline, evidence: expand a group, details"),
    Binding(("KEY_RIGHT", "l"), "right", "tree: expand or select; timeline, evidence: scroll right"),
    Binding(("KEY_LEFT", "h"), "left", "tree: collapse; timeline, evidence: scroll left"),
    Binding(("/",), "filter", "filter profiles by IP or host name", True),
    Binding(("s",), "sort", "sort profiles by IP or by threat", True),
    Binding(("n",), "next_malicious", "next malicious time window", True, "next alert"),
    Binding(("b",), "prev_malicious", "previous malicious time window"),
    Binding(("a",), "newest_alert", "go to the newest alert that arrived while Kalipso was open"),
    Binding(("c",), "collapse", "timeline: fold repeated lines (×N) or show every line"),
    Binding(("r", "\x12"), "refresh", "refresh now", True),
    Binding(("w", "W"), "copy_ip", "copy the selected IP to the clipboard", True, "copy IP"),
    Binding(("\x1b",), "back", "back to the main board"),
)

RESERVED_KEYS = frozenset(k for b in MAIN_BOARD for k in b.keys if len(k) == 1)
# Keys a user's config may give to a view: the command keeps another key (r -> Ctrl-R).
CONFIGURABLE_KEYS = frozenset(k for b in MAIN_BOARD if len(b.keys) > 1 and b.in_bar for k in b.keys[:1]
                              if len(k) == 1 and k.isalpha())


def command_for(key: str) -> str | None:
    for binding in MAIN_BOARD:
        if key in binding.keys:
            return binding.command
    return None


def key_for(binding: Binding, taken: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The first key of a binding that no view has taken."""
    return next((k for k in binding.keys if k not in taken), None)


def key_label(key: str) -> str:
    return {"\x12": "Ctrl-R", "\t": "Tab", "\n": "Enter", "\x1b": "Esc", "KEY_BTAB": "Shift-Tab", "KEY_UP": "Up",
            "KEY_DOWN": "Down", "KEY_PPAGE": "PgUp", "KEY_NPAGE": "PgDn", "KEY_HOME": "Home",
            "KEY_END": "End", "KEY_ENTER": "Enter", "KEY_RIGHT": "Right", "KEY_LEFT": "Left"}.get(key, key)


def markdown_table(views: list[tuple[str, str, str]]) -> str:
    """The keys of the board and of the given views (key, name, title) as a Markdown table.

    README.md carries this table between markers; a test regenerates it so it never drifts.
    """
    rows = ["| key | what it does |", "|---|---|"]
    for b in MAIN_BOARD:
        keys = " / ".join(f"`{label}`" for label in dict.fromkeys(key_label(k) for k in b.keys))
        rows.append(f"| {keys} | {b.help} |")
    for key, name, title in views:
        rows.append(f"| `{key}` | view {name}: {title} |")
    return "\n".join(rows)


if __name__ == "__main__":
    from kalipso.views.registry import discover

    print(markdown_table([(v.key, v.name, v.title) for v in discover().views if v.dist == "kalipso"]))
