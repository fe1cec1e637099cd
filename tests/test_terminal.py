"""Start-up in odd terminals and locales: the real program in tmux, before and after curses starts."""

from __future__ import annotations

from kalipso.data.server import free_port
from tmuxdrive import Tmux


def test_startup_error_is_one_line_before_curses():
    port = free_port()
    t = Tmux(["-p", str(port)])
    try:
        assert t.wait_exit() == 2
        text = t.output_lines()
        joined = "".join(text)  # the one message line, wrapped by the 120-column terminal
        assert joined.startswith(f"kalipso: No Redis server answers at 127.0.0.1:{port}/0")
        assert joined.endswith("Use -p/--port for its Redis port.") and len(joined) <= 240
        assert "Traceback" not in joined
    finally:
        t.close()
