"""The `kanta` command line, thin over the Python API: one module per subcommand or small group."""

from .commands import main

__all__ = ["main"]
