"""Files written beside the database (rotated history, cut tails): whole, durable, new."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from ..errors import DatabaseError
from .logfile import FileOps, LogFile, sync_dir, write_all


def write_beside(candidates: Iterable[Path], data: bytes, ops: FileOps | None = None) -> Path:
    """Write `data` under the first free name of `candidates` and return that name.

    The bytes go to a temporary file first, synced, then are linked to the final name, so a
    crash never leaves a partial file under it, and an existing file is never replaced.
    """
    ops = ops or FileOps()
    names = iter(candidates)
    first = next(names)
    tmp = first.with_name(f".{first.name}.tmp-{os.getpid()}")
    _write_synced(ops, tmp, data)
    try:
        for name in (first, *names):
            try:
                ops.link(tmp, name)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _error(name, "cannot create", exc) from exc
            sync_dir(ops, name)
            return name
        raise DatabaseError("no free name to write to", db_path=first)
    finally:
        with contextlib.suppress(OSError):
            ops.unlink(tmp)


def _write_synced(ops: FileOps, path: Path, data: bytes) -> None:
    try:
        fd = ops.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _error(path, "cannot create", exc) from exc
    try:
        write_all(ops, fd, data, 0)
        ops.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            ops.unlink(path)
        raise _error(path, "cannot write", exc) from exc
    finally:
        with contextlib.suppress(OSError):
            ops.close(fd)


def read_beside(path: Path) -> bytes:
    """The whole content of a file beside the database."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _error(path, "cannot read", exc) from exc


def list_beside(path: Path, wanted: Callable[[str], bool]) -> list[Path]:
    """The files in the database's folder whose names are `wanted`."""
    return [entry for entry in path.parent.iterdir() if wanted(entry.name)]


def remove(path: Path, ops: FileOps | None = None) -> None:
    """Remove a file beside the database, durably (missing is fine)."""
    ops = ops or FileOps()
    try:
        ops.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _error(path, "cannot remove", exc) from exc
    sync_dir(ops, path)


def _error(path: Path, message: str, exc: OSError) -> DatabaseError:
    return DatabaseError(f"{message}: {exc.strerror or exc}", db_path=path)


def drop_stale_temps(path: Path, ops: FileOps | None = None) -> None:
    """Remove temporary files a killed writer of this database left beside it.

    Only the holder of the database's lock writes them, so while it is held they are stale.
    """

    def stale(name: str) -> bool:
        ours = name.startswith((f".{path.name}.tmp-", f".{path.stem}@"))
        return ours and ".tmp-" in name

    for entry in list_beside(path, stale):
        remove(entry, ops)


def save_cut(file: LogFile, data: bytes, keep: int, now: datetime) -> Path:
    """Save `data[keep:]` in a new side file, then truncate the database to `keep` bytes."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    base = file.path.with_name(f"{file.path.name}.cut-{stamp}-{keep}")
    candidates = [base, *(base.with_name(f"{base.name}.{n}") for n in range(1, 100))]
    side = write_beside(candidates, data[keep:], file.ops)
    file.truncate(keep)
    return side
