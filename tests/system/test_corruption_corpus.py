"""A generated corpus of damaged files: no open or command ever costs data or crashes.

Each mutated file is opened writable and read-only with both serializers. Allowed: a
typed DatabaseError (the file untouched), a cut (only when no whole record follows the
cut, the cut bytes kept beside the file), or an open to a state of the history (the
mutation missed, or cut whole trailing records). The same files drive the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from compat_models import Address, Data, User

from kanta import DatabaseError, Kanta, MsgPackSerializer, verify
from kanta.cli.commands import main as cli_main
from kanta.core.formats import detect
from kanta.history import read_history

FORMATS = ["json", "msgpack"]
FILES_PER_FORMAT = 1000  # 2,000 files, 8,000 opens; --long: ten times as many
# Kinds of damage that only a crash or power cut leaves: never fatal to a writable open.
TAIL_KINDS = {"truncate", "zero tail", "garbage tail"}


@dataclass
class Sample:
    """An undamaged database: its bytes, its records' bytes, the state after each record."""

    fmt: str
    data: bytes
    records: list[bytes]
    states: list[Any]


async def _write_sample(path: Path, fmt: str) -> None:
    # A fixed seed: a random one may start like JSON, which would vary the corpus by run.
    serializer = MsgPackSerializer(b"\x8a\x13\x5e\xc1") if fmt == "msgpack" else None
    async with Kanta(path, Data(), serializer=serializer) as db:
        for i in range(4):
            with db.transaction("add", user=f"admin{i}") as d:
                d.users[f"u{i}"] = User(name=f"User {i}", email=f"u{i}@example.com", tags=["t"])
        db.request_snapshot()  # a snapshot in the middle
        await db.flush()
        with db.transaction("move", user="ops") as d:
            d.users["u1"].address = Address(city="Oulu", zip="90100")
        with db.transaction("count") as d:
            d.counter = 7
        with db.transaction("remove") as d:
            del d.users["u2"]


def _sample(tmp: Path, fmt: str) -> Sample:
    path = tmp / f"sample-{fmt}.kantadb"
    asyncio.run(_write_sample(path, fmt))
    data = path.read_bytes()
    history = read_history(path)
    records = [data[raw.byte_pos : raw.end] for raw in history.scan.records]
    states = [_builtin(entry.state) for entry in history.entries()]
    return Sample(fmt, data, records, states)


def _builtin(state: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(state))


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def _mutations(sample: Sample, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Endless seeded mutations of the sample, each named by its kind."""
    data, records = sample.data, sample.records
    starts = [0]
    for record in records[:-1]:
        starts.append(starts[-1] + len(record))
    kinds: list[tuple[str, Callable[[], bytes]]] = [
        ("bit flip", lambda: _flip(data, rng)),
        ("random byte", lambda: _overwrite(data, rng, bytes([rng.randrange(256)]))),
        ("inserted run", lambda: _insert(data, rng, rng.randbytes(rng.randint(1, 24)))),
        ("deleted run", lambda: _delete(data, rng)),
        ("duplicated run", lambda: _duplicate(data, rng)),
        ("swapped records", lambda: _swap(records, rng)),
        ("duplicated record", lambda: _repeat_record(records, rng)),
        ("truncate", lambda: data[: rng.randrange(len(data))]),
        ("zero tail", lambda: data + bytes(rng.choice([1, 7, 16, 100, 4096]))),
        ("garbage tail", lambda: data + rng.randbytes(rng.randint(1, 15))),
        ("NUL run", lambda: _overwrite(data, rng, bytes(rng.randint(1, 64)))),
        (
            "invalid UTF-8",
            lambda: _overwrite(data, rng, rng.choice([b"\xff", b"\xc3", b"\xed\xa0"])),
        ),
        ("first bytes", lambda: _overwrite(data, rng, rng.randbytes(rng.randint(1, 8)), at=0)),
        ("deep nesting", lambda: _nested_record(sample, rng)),
        ("wrong type", lambda: _wrong_type(sample, rng)),
    ]
    while True:
        name, make = rng.choice(kinds)
        yield name, make()


_BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0"]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _overwrite(data: bytes, rng: random.Random, run: bytes, at: int | None = None) -> bytes:
    offset = rng.randrange(len(data)) if at is None else at
    return data[:offset] + run + data[offset + len(run) :]


def _insert(data: bytes, rng: random.Random, run: bytes) -> bytes:
    offset = rng.randrange(len(data))
    return data[:offset] + run + data[offset:]


def _delete(data: bytes, rng: random.Random) -> bytes:
    offset = rng.randrange(len(data))
    return data[:offset] + data[offset + rng.randint(1, 16) :]


def _duplicate(data: bytes, rng: random.Random) -> bytes:
    offset = rng.randrange(len(data))
    run = data[offset : offset + rng.randint(1, 32)]
    return data[:offset] + run + data[offset:]


def _swap(records: list[bytes], rng: random.Random) -> bytes:
    out = list(records)
    i, j = rng.sample(range(1, len(out)), 2)
    out[i], out[j] = out[j], out[i]
    return b"".join(out)


def _repeat_record(records: list[bytes], rng: random.Random) -> bytes:
    out = list(records)
    i = rng.randrange(len(out))
    out.insert(rng.randrange(1, len(out) + 1), out[i])
    return b"".join(out)


def _nested_record(sample: Sample, rng: random.Random) -> bytes:
    """A whole record whose diff is nested too deep (a line of 0.9.x, or a frame)."""
    depth = rng.choice([200, 1000, 1200, 5000])
    # JSON arrays, or MessagePack arrays of one item (0x91).
    deep = _deep(depth) if sample.fmt == "json" else b"\x91" * depth + b"\x01"
    body = {"ts": "2027-01-01T00:00:00Z", "a": "deep", "diff": {"counter": msgspec.Raw(deep)}}
    return _with_record(sample, body, rng)


def _wrong_type(sample: Sample, rng: random.Random) -> bytes:
    body = rng.choice(
        [
            b'{"ts":"2027-01-01T00:00:00Z","a":"x","v":"seven","diff":{}}',
            b'{"ts":"yesterday","a":"x","diff":{}}',
            b'{"ts":"2027-01-01T00:00:00Z","a":"x","diff":{"users":{"u0":{"age":"old"}}}}',
            b'{"ts":"2027-01-01T00:00:00Z","a":"x","diff":[1,2,3]}',
        ]
    )
    return _with_record(sample, msgspec.json.decode(body), rng)


def _with_record(sample: Sample, body: Any, rng: random.Random) -> bytes:
    """The sample with one hand-made record inserted at a record boundary or appended."""
    if sample.fmt == "json":
        record = msgspec.json.encode(body) + b"\n"
    else:
        serializer = detect(sample.data)
        assert isinstance(serializer, MsgPackSerializer)
        payload = msgspec.msgpack.encode(body)
        record = b"\0\0\0\0" + len(payload).to_bytes(4, "little") + bytes(8) + payload
        record = serializer.seed + record[4:] if rng.random() < 0.5 else record
    at = rng.randrange(1, len(sample.records) + 1)
    return b"".join(sample.records[:at]) + record + b"".join(sample.records[at:])


def _whole_record_in(region: bytes, sample: Sample) -> bool:
    """Whether any record of the sample stands whole in `region` (a cut must not hold one)."""
    return any(record.rstrip(b"\n") in region for record in sample.records[1:] if record)


class Outcome:
    """What opening one mutated file did, checked against the promises."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.failures: list[str] = []

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def fail(self, message: str) -> None:
        self.failures.append(message)


async def _open_one(
    path: Path,
    damaged: bytes,
    kind: str,
    sample: Sample,
    readonly: bool,
    serializer: Any,
    out: Outcome,
) -> None:
    path.write_bytes(damaged)
    for side in path.parent.glob("*.cut-*"):
        side.unlink()
    label = f"{sample.fmt} {kind} readonly={readonly} {type(serializer).__name__}"
    db = Kanta(path, Data(), serializer=serializer)
    try:
        await asyncio.wait_for(db.open(readonly=readonly), 10)
    except DatabaseError:
        out.count("refused")
        if path.read_bytes() != damaged or list(path.parent.glob("*.cut-*")):
            out.fail(f"{label}: a refusing open changed the file")
        if kind in TAIL_KINDS and not readonly and len(damaged) > len(sample.records[0]):
            out.fail(f"{label}: a torn tail was fatal")
        return
    except Exception as exc:  # anything untyped is a failure of the promise
        out.fail(f"{label}: {type(exc).__name__}: {exc}")
        return
    state = _builtin(msgspec.to_builtins(db.data, str_keys=True))
    await db.close()
    sides = list(path.parent.glob("*.cut-*"))
    if readonly:
        if path.read_bytes() != damaged:
            out.fail(f"{label}: a read-only open changed the file")
        out.count("opened read-only")
        return
    if sides:
        (side,) = sides
        cut = side.read_bytes()
        kept = len(damaged) - len(cut)
        if damaged[kept:] != cut or path.read_bytes()[:kept] != damaged[:kept]:
            out.fail(f"{label}: the cut bytes were not kept beside the file")
        if _whole_record_in(cut, sample):
            out.fail(f"{label}: a whole record was cut as a torn tail")
        out.count("cut")
    else:
        out.count("opened")
        verify(path)  # a report either way, never an exception
    if state not in sample.states:
        out.fail(f"{label}: opened to a state the history never had")


def _corpus(tmp: Path, long_run: bool) -> Iterator[tuple[Sample, str, bytes]]:
    for index, fmt in enumerate(FORMATS):
        sample = _sample(tmp, fmt)
        rng = random.Random(1000 + index)
        mutations = _mutations(sample, rng)
        for _ in range(FILES_PER_FORMAT * (10 if long_run else 1)):
            yield sample, *next(mutations)


def test_no_damaged_file_costs_data_on_open(tmp_path: Path, long_run: bool) -> None:
    out = Outcome()
    path = tmp_path / "db.kantadb"

    corpus = list(_corpus(tmp_path, long_run))

    async def run_all() -> None:
        files = 0
        for sample, kind, damaged in corpus:
            files += 1
            for readonly in (False, True):
                for serializer in (None, MsgPackSerializer()):
                    await _open_one(path, damaged, kind, sample, readonly, serializer, out)
        assert files >= 2000

    asyncio.run(run_all())
    assert out.failures[:20] == []
    # Every outcome occurred: the corpus exercises refusals, cuts and clean opens alike.
    assert {"refused", "cut", "opened", "opened read-only"} <= set(out.counts)
    assert sum(out.counts.values()) >= 8000


COMMANDS: list[list[str]] = [
    [],
    ["-q", "-o", "-"],
    ["verify"],
    ["show"],
    ["stats"],
    ["blame", "users.*.name"],
    ["diff", "r1", "r3"],
    ["recover"],
]
EXIT_CODES = {0, 1, 2, 10}


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a command ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_no_damaged_file_crashes_or_hangs_a_command(tmp_path: Path, long_run: bool) -> None:
    failures: list[str] = []
    codes: dict[int, int] = {}
    runs = 0
    for number, (sample, kind, damaged) in enumerate(_corpus(tmp_path, long_run)):
        copy = tmp_path / f"copy-{number % 8}.kantadb"
        for command in COMMANDS:
            copy.write_bytes(damaged)
            argv = (
                [str(copy), *command]
                if command[:1] in ([], ["-q"])
                else [
                    command[0],
                    str(copy),
                    *command[1:],
                ]
            )
            stdout, stderr = io.TextIOWrapper(io.BytesIO()), io.StringIO()
            try:
                with (
                    _deadline(10),
                    contextlib.redirect_stdout(stdout),
                    contextlib.redirect_stderr(stderr),
                ):
                    code = cli_main(argv)
            except BaseException as exc:  # a traceback, or a hang
                failures.append(f"{sample.fmt} {kind} {command}: {type(exc).__name__}: {exc}")
                continue
            runs += 1
            codes[code] = codes.get(code, 0) + 1
            if code not in EXIT_CODES:
                failures.append(f"{sample.fmt} {kind} {command}: exit {code}")
        for side in tmp_path.glob("copy-*.cut-*"):
            side.unlink()
    assert sorted(set(failures))[:20] == []
    assert runs >= 2000 * len(COMMANDS)
    assert {0, 10} <= set(codes)


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)
