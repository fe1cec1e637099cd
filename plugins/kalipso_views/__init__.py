"""Kalipso's built-in hotkey views, registered through the public ``kalipso.views`` group."""
