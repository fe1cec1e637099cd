"""The curses user interface: the only place that imports curses."""
