"""Kallglot: real-time voice translation for phone calls."""

__version__ = "0.1.0"

__all__ = ["__version__"]
