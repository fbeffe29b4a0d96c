"""The `kanta` command line, thin over the Python API: one module per subcommand or small group."""

from .main import main

__all__ = ["main"]
