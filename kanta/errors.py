"""The exceptions kanta raises: typed, and carrying where the problem is."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class DatabaseError(ValueError):
    """A database file cannot be read, written or brought up to date."""

    def __init__(
        self,
        message: str,
        *,
        db_path: str | Path | None = None,
        line_number: int | None = None,
        position: int | None = None,
        byte_pos: int | None = None,
        action: str | None = None,
        revision: int | None = None,
        cause_type: str | None = None,
    ) -> None:
        self.message = message
        self.cause_type = cause_type  # kanta 0.9.x's field: the kind of the underlying error
        self.db_path = Path(db_path) if db_path is not None else None
        self.line_number = line_number
        self.position = position
        self.byte_pos = byte_pos
        self.action = action
        self.revision = revision
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.db_path is not None:
            where.append(str(self.db_path))
        if self.line_number is not None:
            where.append(f"line {self.line_number}")
        elif self.position is not None:
            where.append(f"record {self.position}")
        if self.byte_pos is not None:
            where.append(f"byte {self.byte_pos}")
        if self.action is not None:
            where.append(f"action {self.action!r}")
        if self.revision is not None:
            where.append(f"revision {self.revision}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields would be lost by the default pickling of exceptions.
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[DatabaseError], rendered: str, fields: dict[str, object]) -> DatabaseError:
    error = cls.__new__(cls)
    Exception.__init__(error, rendered)
    error.__dict__.update(fields)
    return error


class ReplayError(DatabaseError):
    """A record cannot be decoded or applied while replaying the log."""

    def __init__(self, message: str, *, record_type: str | None = None, **where: Any) -> None:
        self.record_type = record_type  # "change" or "snapshot", where known
        super().__init__(message, **where)


class FileLockError(DatabaseError):
    """The database file cannot be had: another writer holds it, or it does not exist."""


class DataIntegrityError(RuntimeError):
    """The database was used in a way that would corrupt or misattribute its state."""

    def __init__(
        self,
        message: str,
        *,
        db_path: str | Path | None = None,
        paths: tuple[str, ...] = (),
        action: str | None = None,
        diff: dict[str, Any] | None = None,
    ) -> None:
        self.db_path = Path(db_path) if db_path is not None else None
        self.paths = paths  # the state paths concerned, dotted ("users.u1.age")
        self.action = action  # the operation refused: a transaction's action, "open", "flush"
        self.diff = diff  # the change concerned, where there is one
        super().__init__(f"{self.db_path}: {message}" if self.db_path is not None else message)


class ReplicationError(DatabaseError):
    """Records could not be replicated: the stream refused them, or could not be reached."""

    def __init__(self, message: str, *, stream: str | None = None, **where: Any) -> None:
        self.stream = stream  # the JetStream stream's name, where known
        super().__init__(message, **where)


class FencedError(ReplicationError):
    """Another writer took the stream over: this one must not append any more.

    `expected` is the stream sequence this writer expected to follow, `found` the one the
    stream had when it refused.
    """

    def __init__(
        self, message: str, *, expected: int | None = None, found: int | None = None, **where: Any
    ) -> None:
        self.expected = expected
        self.found = found
        super().__init__(message, **where)
