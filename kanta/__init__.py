"""kanta: typed application state in memory, an append-only audited log on disk."""

from .database import Kanta
from .diff import diff
from .errors import DatabaseError, DataIntegrityError, FileLockError, ReplayError
from .jsonlog import JsonSerializer
from .msgpacklog import MsgPackSerializer
from .migrations import MigrationInfo, MigrationReport
from .patch import patch

__version__ = "1.0.0.dev0"

__all__ = [
    "DataIntegrityError",
    "DatabaseError",
    "FileLockError",
    "JsonSerializer",
    "Kanta",
    "MigrationInfo",
    "MigrationReport",
    "MsgPackSerializer",
    "ReplayError",
    "diff",
    "patch",
]
