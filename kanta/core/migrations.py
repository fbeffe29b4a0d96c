"""Schema migrations: find the `migrate_vN` functions, plan which to run, and run them."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from ..errors import DatabaseError
from .diff import diff

__all__ = [
    "Migration",
    "MigrationInfo",
    "MigrationReport",
    "code_version",
    "copy_state",
    "load_migrations",
    "missing",
    "plan",
    "run",
]

Migration = Callable[..., Any]
"""A `migrate_vN(d)` or `migrate_vN(d, kanta)` function; mutates `d` or returns a new dict."""

# No leading zeros, so `migrate_v1` and `migrate_v01` cannot both claim version 1.
_NAME = re.compile(r"migrate_v([1-9][0-9]*)")


class MigrationInfo(msgspec.Struct, frozen=True):
    """One migration that was applied: what it was, and what it did."""

    version: int
    name: str
    description: str  # the docstring's first line without its final period, or "vN"
    changed: bool = False  # whether it changed the state
    diff: dict[str, Any] | None = None  # what it changed (None when nothing)
    before: dict[str, Any] | None = None  # the state it was given


class MigrationReport(msgspec.Struct):
    """What migrations ran when a database was opened."""

    version: int
    original: int
    applied: list[MigrationInfo]

    @property
    def migrations(self) -> list[MigrationInfo]:
        """The applied migrations, in the order they ran (kanta 0.9.x's name for `applied`)."""
        return self.applied


def load_migrations(
    source: ModuleType | str | None, *, db_path: str | Path | None = None
) -> dict[int, Migration]:
    """Collect the `migrate_vN` functions of a module (or import path), keyed by N."""
    if source is None:
        return {}
    module = _import(source, db_path) if isinstance(source, str) else source
    if not isinstance(module, ModuleType):
        raise TypeError(f"migrations must be a module, an import path or None, not {module!r}")
    found: dict[int, Migration] = {}
    for name, value in vars(module).items():
        match = _NAME.fullmatch(name)
        if match and callable(value):
            _arity(value, name)  # fail at load time rather than halfway through an upgrade
            found[int(match.group(1))] = value
    return dict(sorted(found.items()))


def code_version(migrations: Mapping[int, Migration]) -> int:
    """The schema version the code expects: the highest migration number, or 0."""
    return max(migrations, default=0)


def plan(
    stored_version: int,
    migrations: Mapping[int, Migration],
    *,
    db_path: str | Path | None = None,
) -> list[int]:
    """The migration versions to run, in order, to bring `stored_version` up to the code's.

    A gap in the numbering (`migrate_v1`, `migrate_v3`) runs what exists, as kanta 0.9.x
    does: see `missing` for the numbers to warn about. Without any migrations, a file of
    any version opens as it is (reporting tools open files of every version).
    """
    highest = code_version(migrations)
    if stored_version < 0:
        raise DatabaseError(f"invalid stored schema version {stored_version}", db_path=db_path)
    if migrations and stored_version > highest:
        raise DatabaseError(
            f"database version {stored_version} is newer than the code "
            f"(highest migration {highest}); upgrade the application",
            db_path=db_path,
        )
    return [version for version in migrations if version > stored_version]


def missing(stored_version: int, versions: list[int]) -> list[int]:
    """The numbers a planned run skips: gaps between the stored version and the last one."""
    wanted = range(stored_version + 1, versions[-1] + 1) if versions else range(0)
    return [version for version in wanted if version not in versions]


def run(
    state: dict[str, Any],
    versions: list[int],
    migrations: Mapping[int, Migration],
    *,
    stored_version: int | None = None,
    kanta: object = None,
    db_path: str | Path | None = None,
) -> tuple[dict[str, Any], MigrationReport]:
    """Apply the migrations `versions` to `state` in order; return the new state and a report."""
    original = _original(stored_version, versions)
    applied: list[MigrationInfo] = []
    for version in versions:
        function = _lookup(migrations, version, db_path)
        before = copy_state(state)
        state = _apply(function, version, state, kanta, db_path)
        applied.append(_info(function, version, before, diff(before, state)))
    reached = versions[-1] if versions else original
    return state, MigrationReport(version=reached, original=original, applied=applied)


def _import(path: str, db_path: str | Path | None) -> ModuleType:
    try:
        return importlib.import_module(path)
    except Exception as exc:  # the module's own code may raise anything while importing
        raise DatabaseError(
            f"cannot import migrations module {path!r}: {exc}", db_path=db_path
        ) from exc


def _arity(function: Migration, name: str) -> int:
    """How many positional arguments to pass: 2 if it accepts `(d, kanta)`, else 1."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: cannot inspect its signature") from exc
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(p.default is p.empty for p in positional)
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    keyword_only = any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in parameters)
    most = 2 if variadic else len(positional)
    if keyword_only or required > 2 or most < 1:
        raise TypeError(f"{name} must take one or two positional parameters: (d) or (d, kanta)")
    return min(most, 2)


def _lookup(
    migrations: Mapping[int, Migration], version: int, db_path: str | Path | None
) -> Migration:
    try:
        return migrations[version]
    except KeyError:
        raise DatabaseError(
            f"migration migrate_v{version} is missing; migrations must be numbered without gaps",
            db_path=db_path,
        ) from None


def _apply(
    function: Migration,
    version: int,
    state: dict[str, Any],
    kanta: object,
    db_path: str | Path | None,
) -> dict[str, Any]:
    name = f"migrate_v{version}"
    arguments = (state, kanta)[: _arity(function, name)]
    try:
        result = function(*arguments)
    except Exception as exc:
        raise DatabaseError(f"{name} (version {version}) failed: {exc!r}", db_path=db_path) from exc
    if result is None:
        return state
    if not isinstance(result, dict):
        raise DatabaseError(
            f"{name} (version {version}) returned {type(result).__name__}; expected a dict or None",
            db_path=db_path,
        )
    return result


def _info(
    function: Migration, version: int, before: dict[str, Any], change: dict[str, Any] | None
) -> MigrationInfo:
    first_line = (inspect.getdoc(function) or "").partition("\n")[0].strip()
    description = first_line.removesuffix(".") or f"v{version}"
    name = f"migrate_v{version}"
    return MigrationInfo(version, name, description, change is not None, change, before)


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a builtin (replayed) state: what a migration was given."""
    copied: dict[str, Any] = msgspec.msgpack.decode(msgspec.msgpack.encode(state))
    return copied


def _original(stored_version: int | None, versions: list[int]) -> int:
    # Without an explicit stored version, the plan itself says where it started.
    if stored_version is not None:
        return stored_version
    return versions[0] - 1 if versions else 0
