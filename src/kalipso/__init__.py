"""Kalipso: the terminal user interface of Slips, the Stratosphere Linux IPS."""

__version__ = "0.1.0"
