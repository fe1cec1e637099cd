"""Hotkey views: the contract (base) and how they are found (registry)."""
