"""The `headwater` command: thin layer that parses, calls the layers and prints."""

from headwater.cli.main import app

__all__ = ["app"]
