"""`python -m kanta`: the command line (`main` is also 0.9.x's console-script target)."""

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
