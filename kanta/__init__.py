"""kanta: typed application state in memory, an append-only audited log on disk."""

from .core.diff import diff
from .core.jsonlines import JsonSerializer
from .core.migrations import MigrationInfo, MigrationReport
from .core.msgpackframes import MsgPackSerializer
from .core.patch import patch
from .database import Kanta
from .errors import DatabaseError, DataIntegrityError, FileLockError, ReplayError
from .events.event import DictPrev, DictState, LogEvent, LogFmt
from .events.loggers import configure_logging
from .maintenance import Problem, RecoverReport, VerifyReport, convert, recover, verify

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
