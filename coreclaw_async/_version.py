"""The installed version of coreclaw-async."""

__version__ = "0.1.0.dev0"
