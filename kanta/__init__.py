"""kanta: typed application state in memory, an append-only audited log on disk."""

from .core.diff import diff
from .core.jsonlines import JsonSerializer
from .core.migrations import MigrationInfo, MigrationReport
from .core.msgpackframes import MsgPackSerializer
from .core.patch import patch
from .database import Kanta
from .errors import (
    DatabaseError,
    DataIntegrityError,
    FencedError,
    FileLockError,
    ReplayError,
    ReplicationError,
)
from .events.event import DictPrev, DictState, LogEvent, LogFmt
from .events.loggers import configure_logging
from .maintenance import Problem, RecoverReport, VerifyReport, convert, recover, verify
from .replication import Follower, Replication, restore

__version__ = "1.0.0.dev0"

__all__ = [
    "DataIntegrityError",
    "DatabaseError",
    "DictPrev",
    "DictState",
    "FencedError",
    "FileLockError",
    "Follower",
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
    "Replication",
    "ReplicationError",
    "VerifyReport",
    "configure_logging",
    "convert",
    "diff",
    "patch",
    "recover",
    "restore",
    "verify",
]
