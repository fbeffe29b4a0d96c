"""kanta: typed application state in memory, an append-only audited log on disk."""

from .database import Kanta
from .diff import diff
from .errors import DatabaseError, DataIntegrityError, FileLockError, ReplayError
from .jsonlog import JsonSerializer
from .logevents import DictPrev, DictState, LogEvent, LogFmt, configure_logging
from .maintenance import Problem, RecoverReport, VerifyReport, convert, recover, verify
from .migrations import MigrationInfo, MigrationReport
from .msgpacklog import MsgPackSerializer
from .patch import patch

__version__ = "1.0.0.dev0"

__all__ = [
    "DataIntegrityError",
    "DatabaseError",
    "DictPrev",
    "DictState",
    "FileLockError",
    "JsonSerializer",
    "Kanta",
    "LogEvent",
    "LogFmt",
    "MigrationInfo",
    "MigrationReport",
    "MsgPackSerializer",
    "Problem",
    "RecoverReport",
    "ReplayError",
    "VerifyReport",
    "configure_logging",
    "convert",
    "diff",
    "patch",
    "recover",
    "verify",
]
