"""`Kanta`, under the module path kanta 0.9.x programs import it from."""

from .database import Kanta

__all__ = ["Kanta"]
