"""The exceptions, under the module path kanta 0.9.x programs import them from."""

from .errors import DatabaseError, DataIntegrityError, FileLockError, ReplayError

__all__ = ["DataIntegrityError", "DatabaseError", "FileLockError", "ReplayError"]
