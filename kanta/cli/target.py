"""The `-d`, `-m` and `-k` options: import the user's code, migrate and decode the state with it."""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from ..core.migrations import Migration, load_migrations, plan, run
from ..errors import DatabaseError
from ..history import History
from ..printable import printable
from .common import EXIT_MIGRATION, EXIT_VALIDATION, CliError, say
from .logcallbacks import LogCallbacks


@contextlib.contextmanager
def _cwd_importable() -> Iterator[None]:
    # The installed `kanta` script, unlike `python -m`, does not see the current folder.
    added = "" not in sys.path and str(Path.cwd()) not in sys.path
    if added:
        sys.path.insert(0, str(Path.cwd()))
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(Path.cwd()))


def import_module(name: str) -> ModuleType:
    """Import a module by dotted name or from a `.py` file; CliError (exit 1) if it fails."""
    with _cwd_importable():
        try:
            if name.endswith(".py"):
                return _module_from_file(Path(name))
            return importlib.import_module(name)
        except CliError:
            raise
        except Exception as exc:  # the module's own code may raise anything
            raise CliError(f"cannot import {name!r}: {exc}") from exc


def _module_from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location(f"_kanta_cli_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs, as an import would, so its classes can resolve annotations.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def import_object(spec: str, default: str | None = None) -> Any:
    """The object `MODULE:ATTR` (also `MODULE.ATTR`, `FILE.py:ATTR`) names."""
    module_name, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if not attr and default is None and not spec.endswith(".py"):
        module_name, _, attr = spec.rpartition(".")
    attr = attr or default or ""
    if not module_name or not attr:
        raise CliError(f"{spec!r}: give MODULE:ATTR")
    module = import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise CliError(f"{spec!r}: {module_name} has no attribute {attr!r}") from None


@dataclass
class Target:
    """What the state is brought to after the selection: migrations, then a root type."""

    root_type: Any = None
    migrations: dict[int, Migration] | None = None
    kanta: object = None  # handed to `migrate_vN(d, kanta)` migrations
    log_callbacks: LogCallbacks | None = None  # the -k object's logfmt and logemit


def load_target(data: str | None, migrations: str | None, kanta: str | None) -> Target:
    """Import what `-d`, `-m` and `-k` name (before reading the file, so mistakes fail fast)."""
    if kanta is not None:
        # Imported here: the viewer alone needs no database.
        from ..database import Kanta, callbacks_of, configuration

        db = import_object(kanta, default="kanta")
        if not isinstance(db, Kanta):
            raise CliError(f"{kanta!r} is a {type(db).__name__}, not a Kanta object")
        root_type, migrations_of_db = configuration(db)
        root = None if root_type is dict else root_type
        # Kanta has no public accessor for its registry (database.py should grow one).
        hooks = LogCallbacks(callbacks_of(db))
        return Target(root, _load_migrations(migrations_of_db), db, hooks)
    root = import_object(data) if data is not None else None
    if root is not None and not isinstance(root, type):
        raise CliError(f"{data!r} is not a type")
    source = _import_migrations(migrations) if migrations is not None else None
    return Target(root, _load_migrations(source))


def _import_migrations(name: str) -> ModuleType:
    """The `-m` module; one that cannot be imported is a migration error (exit 20), as in 0.9.x."""
    try:
        return import_module(name)
    except CliError as exc:
        raise CliError(str(exc), EXIT_MIGRATION) from exc


def _load_migrations(source: ModuleType | str | None) -> dict[int, Migration] | None:
    if source is None:
        return None
    if isinstance(source, str):
        source = import_module(source)
    try:
        return load_migrations(source)
    except TypeError as exc:
        raise CliError(f"migrations: {exc}", EXIT_MIGRATION) from exc


def finish(
    history: History, state: Any, version: int, target: Target, where: str, quiet: bool
) -> Any:
    """The selected state migrated and decoded as `-m`, `-k` and `-d` ask; `where` names it."""
    if target.migrations is not None:
        state = _migrate(history, state, version, target, quiet)
    if target.root_type is None:
        return state
    name = getattr(target.root_type, "__qualname__", repr(target.root_type))
    try:
        value = history.serializer.from_state(state, target.root_type)
    except msgspec.ValidationError as exc:
        raise CliError(
            f"the state {where} does not validate as {name}: {exc}", EXIT_VALIDATION
        ) from exc
    except Exception as exc:  # a type msgspec cannot decode into (unresolvable annotations)
        raise CliError(f"-d/-k: cannot decode into {name}: {exc!r}") from exc
    say(printable(repr(value)))  # 0.9.x shows the decoded object, also under -q
    return value


def _migrate(history: History, state: Any, version: int, target: Target, quiet: bool) -> Any:
    migrations = target.migrations or {}
    try:
        versions = plan(version, migrations, db_path=history.path)
        # Migrations mutate the state they get; the viewer's state is not theirs to change.
        state, report = run(
            copy.deepcopy(state),
            versions,
            migrations,
            stored_version=version,
            kanta=target.kanta,
            db_path=history.path,
        )
    except DatabaseError as exc:
        raise CliError(f"migration failed: {exc}", EXIT_MIGRATION) from exc
    if versions and not quiet:
        names = ", ".join(
            f"{info.name} ({info.description.rstrip('.')})" if info.description else info.name
            for info in report.applied
        )
        # 0.9.x's line; the file is not changed (the migration ran in memory only).
        file = printable(str(history.path))
        say(f"🛢️ {file} migrated v{version} -> v{report.version}: {printable(names)}")
    return state
