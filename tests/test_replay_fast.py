"""The fast paths of opening give what the general ones give, errors and damage included.

Each fast path (a snapshot decoded straight into the root type, the one-pass check of a
JSON checksum chain, the one-loop walk of binary frames, the one-loop fold of change
records, the in-place patch of a dict) is compared here with the general code it stands
in for, on generated inputs.
"""

from __future__ import annotations

import copy
import enum
import gc
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kanta import Kanta
from kanta import opening as loading
from kanta.core import jsonlines as jsonlog_module
from kanta.core.chain import chain_tip, intact, seal, tip
from kanta.core.formats import Serializer
from kanta.core.jsonlines import JsonSerializer
from kanta.core.msgpackframes import MsgPackSerializer
from kanta.core.patch import PatchError, apply_in_place, patch
from kanta.core.records import Change, Snapshot
from kanta.core.replay import Fold, apply_record, replay
from kanta.core.scan import RawRecord
from kanta.errors import DatabaseError, ReplayError

NOW = datetime(2027, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# -- a snapshot decoded straight into the root type -----------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(msgspec.Struct, array_like=True):
    x: int
    y: float


class Cat(msgspec.Struct, tag=True):
    name: str


class Dog(msgspec.Struct, tag=True):
    name: str
    good: bool = True


class Inner(msgspec.Struct, rename="camel"):
    some_field: int = 0
    other: str | None = None


class Sparse(msgspec.Struct, omit_defaults=True):
    a: int = 0
    b: list[int] = []


class Model(msgspec.Struct):
    i: int = 0
    f: float = 0.0
    flag: bool = False
    s: str = ""
    raw: bytes = b""
    when: datetime | None = None
    day: date | None = None
    clock: time | None = None
    span: timedelta | None = None
    uid: UUID | None = None
    dec: Decimal | None = None
    color: Color = Color.RED
    level: Level = Level.LOW
    lit: Literal["x", "y"] = "x"
    ints: list[int] = []
    pair: tuple[int, str] | None = None
    tags: set[str] = set()
    frozen: frozenset[int] = frozenset()
    by_int: dict[int, str] = {}
    anything: dict[str, Any] = {}
    either: int | str = 0
    point: Point | None = None
    pet: Cat | Dog | None = None
    inner: Inner = msgspec.field(default_factory=Inner)
    sparse: Sparse = msgspec.field(default_factory=Sparse)
    nums: dict[str, float] = {}
    users: dict[str, Inner] = {}


zones = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
datetimes = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    zones,
)
plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=5),
)
nested = st.recursive(
    plain,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
models = st.builds(
    Model,
    i=st.integers(-(2**63), 2**64 - 1) | st.integers(-(2**65), 2**65),
    f=st.one_of(st.floats(allow_nan=True), st.integers(-5, 5).map(float)),
    flag=st.booleans(),
    s=st.text(max_size=8),
    raw=st.binary(max_size=8),
    when=st.none() | datetimes,
    day=st.none() | st.dates(),
    clock=st.none() | st.times(timezones=zones),
    span=st.none() | st.timedeltas(min_value=timedelta(days=-9), max_value=timedelta(days=9)),
    uid=st.none() | st.uuids(),
    dec=st.none() | st.decimals(allow_nan=False, places=3, max_value=10**6, min_value=-(10**6)),
    color=st.sampled_from(Color),
    level=st.sampled_from(Level),
    lit=st.sampled_from(["x", "y"]),
    ints=st.lists(st.integers(-3, 3), max_size=4),
    pair=st.none() | st.tuples(st.integers(0, 9), st.text(max_size=3)),
    tags=st.sets(st.text(max_size=3), max_size=4),
    frozen=st.frozensets(st.integers(0, 20), max_size=4),
    by_int=st.dictionaries(st.integers(-9, 9), st.text(max_size=3), max_size=3),
    anything=st.dictionaries(st.text(max_size=4), nested, max_size=4),
    either=st.integers(0, 9) | st.text(max_size=3),
    point=st.none() | st.builds(Point, st.integers(0, 9), st.floats(allow_nan=False)),
    pet=st.none() | st.builds(Cat, st.text(max_size=3)) | st.builds(Dog, st.text(max_size=3)),
    inner=st.builds(Inner, st.integers(0, 9), st.none() | st.text(max_size=3)),
    sparse=st.builds(Sparse, st.integers(0, 2), st.lists(st.integers(0, 2), max_size=2)),
    nums=st.dictionaries(st.text(max_size=3), st.floats(allow_nan=False), max_size=3),
    users=st.dictionaries(
        st.text(max_size=3), st.builds(Inner, st.integers(0, 9), st.none()), max_size=3
    ),
)

# The stored state as written (the fast path's case) or in some other form: from another
# writer, an older schema, or a hand-edited file.
PERTURBATIONS = [
    "none",
    "drop a field",
    "unknown field",
    "int for a float",
    "float for an int",
    "reordered keys",
    "string for an int",
    "null root",
    "list root",
]


def _stored(value: Model, serializer: Serializer, how: str) -> bytes:
    state = msgspec.json.decode(msgspec.json.encode(value))
    if serializer.name == "msgpack":
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(value))
    if how == "none":
        return serializer.encode_value(value)
    if how == "drop a field":
        state.pop("s", None)
    elif how == "unknown field":
        state["zzz"] = [1, {"a": None}]
    elif how == "int for a float":
        state["f"] = int(value.f) if value.f == value.f and abs(value.f) < 1e15 else 1
    elif how == "float for an int":
        state["i"] = float(value.i)
    elif how == "reordered keys":
        state = dict(reversed(state.items()))
    elif how == "string for an int":
        state["i"] = str(value.i)
    elif how == "null root":
        state = None
    elif how == "list root":
        state = [state]
    return serializer.encode_value(state)


def _file(serializer: Serializer, stored: bytes, before: int, legacy: bool) -> bytes:
    records: list[Change | Snapshot] = [
        Change(ts=NOW, a="x", diff={"old": index}) for index in range(before)
    ]
    k, r = (0, 0) if legacy else (1, 41)
    records.append(Snapshot(NOW, 0, msgspec.Raw(stored), m=NOW - timedelta(hours=1), r=r, k=k))
    data = b""
    for record in records:
        data += serializer.encode(record, len(data))
    return data


def _form(value: Any) -> Any:
    """Everything about a value that `==` overlooks: types, key order, time zones, 1 vs 1.0."""
    if isinstance(value, msgspec.Struct):
        fields = value.__struct_fields__
        return (type(value), [(name, _form(getattr(value, name))) for name in fields])
    if isinstance(value, dict):
        return (type(value), [(_form(k), _form(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value), [_form(item) for item in value])
    if isinstance(value, set | frozenset):
        return (type(value), sorted(repr(_form(item)) for item in value))
    if isinstance(value, datetime | time):
        return (type(value), repr(value), repr(value.tzinfo))
    return (type(value), repr(value))


def _general(db: Kanta[Any], serializer: Serializer, raws: list[RawRecord], path: Path) -> Any:
    try:
        return loading._replay_and_migrate(db._opening(), serializer, raws, path)
    except DatabaseError as exc:
        return exc


@SETTINGS
@given(
    value=models,
    binary=st.booleans(),
    how=st.sampled_from(PERTURBATIONS),
    before=st.integers(0, 2),
    legacy=st.booleans(),
)
def test_a_snapshot_decoded_straight_is_what_the_general_way_gives(
    tmp_path: Path, value: Model, binary: bool, how: str, before: int, legacy: bool
) -> None:
    serializer: Serializer = MsgPackSerializer(b"seed") if binary else JsonSerializer()
    try:
        stored = _stored(value, serializer, how)
    except (msgspec.EncodeError, OverflowError, ValueError):
        return  # not encodable in this format (a huge int in MessagePack, NaN keys)
    data = _file(serializer, stored, before, legacy)
    raws = serializer.scan(data).records
    db: Kanta[Any] = Kanta(tmp_path / "x.kantadb", Model(), serializer=serializer)
    fast = loading._at_snapshot(db._opening(), serializer, raws)
    general = _general(db, serializer, raws, tmp_path / "x.kantadb")
    # A set decoded anew may iterate in another order, so it may encode otherwise.
    reordered = len(value.tags) > 1 or len(value.frozen) > 1
    if how == "none" and not reordered and not isinstance(general, Exception):
        assert fast is not None, "a state in the form the code writes takes the fast path"
    if fast is None:
        return
    assert not isinstance(general, Exception)
    assert general.records == []  # nothing to normalise, nothing to migrate
    assert _form(fast.live) == _form(general.live)  # `==` too, but NaN is not equal to itself
    assert (fast.version, fast.report) == (general.version, general.report)
    for name in ("rev", "version", "mtime", "changes_seen"):
        assert getattr(fast.replayed.fold, name) == getattr(general.replayed.fold, name)
    for name in ("snapshot_index", "replayed_bytes", "base_bytes", "last_ts"):
        assert getattr(fast.replayed, name) == getattr(general.replayed, name)


async def test_fast_open_of_a_snapshot_reopens_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One tag: a set of several strings may come back in another order (string hashes
    # differ between processes), and then the general path is taken, rightly.
    value = Model(i=3, f=1.5, when=NOW, tags={"a"}, users={"u": Inner(1, "x")})
    async with Kanta(tmp_path / "x.kantadb", value) as db:
        db.request_snapshot()
    data = (tmp_path / "x.kantadb").read_bytes()
    monkeypatch.setattr(loading, "_replay_and_migrate", None)  # the fast path, or a TypeError
    async with Kanta(tmp_path / "x.kantadb", Model()) as db:
        assert _form(db.data) == _form(value)
        assert db.rev == 1
        with db.transaction("edit") as state:
            state.users["u"].some_field = 2
        assert db._session is not None
        assert db._session.tracker.shadow.users["u"].some_field == 2
    assert (tmp_path / "x.kantadb").read_bytes().startswith(data)


@pytest.mark.parametrize("enabled", [True, False])
async def test_opening_leaves_the_garbage_collector_as_it_was(
    tmp_path: Path, enabled: bool
) -> None:
    async with Kanta(tmp_path / "x.kantadb", Model(i=1)) as db:
        db.request_snapshot()
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        async with Kanta(tmp_path / "x.kantadb", Model()) as db:
            assert db.data.i == 1
        assert gc.isenabled() is enabled
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable() if was else gc.disable()


# -- the JSON checksum chain in one pass ----------------------------------------------------

bodies = st.builds(
    lambda n, text: msgspec.json.encode({"ts": "2027-01-01T00:00:00Z", "n": n, "t": text}),
    st.integers(0, 10**6),
    st.text(max_size=6),
)


@st.composite
def json_logs(draw: st.DrawFn) -> bytes:
    """Sealed lines, some snapshots, then maybe damage: a bad seal, a 0.9.x line, garbage."""
    lines: list[bytes] = []
    prev = b""
    for body in draw(st.lists(bodies, max_size=6)):
        line, prev = seal((b"SNAPSHOT " if draw(st.booleans()) else b"") + body, prev)
        lines.append(line)
    if lines and draw(st.booleans()):
        index = draw(st.integers(0, len(lines) - 1))
        damage = draw(
            st.sampled_from(["flip", "unsealed", "empty", "upper", "short", "drop seal byte"])
        )
        line = lines[index]
        if damage == "flip":
            at = draw(st.integers(0, len(line) - 1))
            line = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
        elif damage == "unsealed":
            line = draw(bodies)
        elif damage == "empty":
            line = b""
        elif damage == "upper":
            line = line[:-18] + line[-18:-2].upper() + line[-2:]
        elif damage == "short":
            line = line[-20:]
        else:
            line = line[:-5] + line[-4:]
        lines[index] = line
    data = b"\n".join(lines)
    ending = draw(st.sampled_from([b"\n", b"", b"\n\x00\x00", b"\ngarbage", b"\n\n"]))
    return data + ending if lines else ending


@SETTINGS
@given(data=json_logs(), start=st.sampled_from([0, 1, 7]))
def test_json_scan_in_one_pass_is_the_line_by_line_scan(
    data: bytes, start: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = min(start, len(data))
    serializer = JsonSerializer()
    fast = serializer.scan(data, start, first_position=3)
    with monkeypatch.context() as patched:
        patched.setattr(jsonlog_module, "chain_tip", lambda lines: None)
        general_serializer = JsonSerializer()
        general = general_serializer.scan(data, start, first_position=3)
    assert fast == general
    assert serializer._tip == general_serializer._tip


@SETTINGS
@given(data=json_logs())
def test_chain_tip_is_what_intact_and_tip_say_line_by_line(data: bytes) -> None:
    lines = data.split(b"\n")
    expected: bytes | None = b""
    prev = b""
    for line in lines:
        if intact(line, prev) is not True:
            expected = None
            break
        prev = expected = tip(line)
    assert chain_tip(lines) == expected


def test_chain_tip_of_a_long_line() -> None:
    line, check = seal(b'{"state":"' + b"x" * 200_000 + b'"}', b"")
    assert chain_tip([line]) == check
    assert chain_tip([line[:1000] + b"y" + line[1001:]]) is None


# -- binary frames in one loop --------------------------------------------------------------


@st.composite
def binary_logs(draw: st.DrawFn) -> bytes:
    serializer = MsgPackSerializer(b"\x01\x02\x03\x04")
    data = b""
    for n in draw(st.lists(st.integers(0, 10**6), max_size=6)):
        record: Change | Snapshot = Change(ts=NOW, diff={"n": n})
        if draw(st.booleans()):
            record = Snapshot(ts=NOW, v=0, state={"n": n}, r=n, k=1)
        data += serializer.encode(record, len(data))
    if len(data) > 4 and draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "cut", "zeros", "garbage"]))
        if how == "flip":
            data = data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]
        elif how == "cut":
            data = data[: max(at, 4)]
        elif how == "zeros":
            data += b"\x00" * draw(st.integers(1, 40))
        else:
            data += draw(st.binary(min_size=1, max_size=40))
    return data


@SETTINGS
@given(data=binary_logs(), start=st.sampled_from([0, 4, 9]))
def test_binary_scan_in_one_loop_is_the_frame_by_frame_scan(
    data: bytes, start: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    serializer = MsgPackSerializer().for_file(data)
    fast = serializer.scan(data, start, first_position=2)
    with monkeypatch.context() as patched:
        patched.setattr(MsgPackSerializer, "_whole_frames", lambda self, data, pos, at: [])
        general = serializer.scan(data, start, first_position=2)
    assert fast == general


# -- change records folded in one loop ------------------------------------------------------

keys = st.sampled_from(["a", "b", "$$c", "0", "1"])
diffs = st.recursive(
    st.one_of(st.integers(0, 3), st.none(), st.lists(st.integers(0, 3), max_size=2)),
    lambda inner: st.one_of(
        st.dictionaries(keys, inner, max_size=3),
        st.just({"$delete": ["a"]}),
        st.just({"$replace": {"a": 1}}),
        st.just({"$insert": [[0, 9]]}),
        st.just({"$bad": 1}),
    ),
    max_leaves=6,
)


def _general_replay(serializer: Serializer, raws: list[RawRecord]) -> Any:
    """Replay as it was done before the one-loop fold: one `apply_record` per record."""
    fold = Fold(state={})
    try:
        for raw in raws:
            apply_record(fold, serializer, raw, None)
    except ReplayError as exc:
        return _error(exc)
    return fold.state, fold.rev, fold.version, fold.mtime, fold.changes_seen


def _error(exc: ReplayError) -> tuple[Any, ...]:
    return (str(exc), exc.line_number, exc.position, exc.byte_pos, exc.action)


def _change_log(
    serializer: Serializer,
    changes: list[tuple[Any, int, datetime | None]],
    unreadable: int | None = None,
) -> bytes:
    data = b""
    for index, (diff, version, mtime) in enumerate(changes):
        record = Change(ts=NOW + timedelta(seconds=index), a=f"a{index}", v=version, m=mtime)
        record.diff = diff
        if index == unreadable:
            record.a = 5  # type: ignore[assignment]  # a record that does not decode
        data += serializer.encode(record, len(data))
    return data


@SETTINGS
@given(
    changes=st.lists(
        st.tuples(diffs, st.integers(0, 3), st.none() | st.just(NOW)), min_size=1, max_size=8
    ),
    binary=st.booleans(),
    unreadable=st.none() | st.integers(0, 7),
)
def test_folding_changes_in_one_loop_is_applying_them_one_by_one(
    changes: list[tuple[Any, int, datetime | None]], binary: bool, unreadable: int | None
) -> None:
    serializer: Serializer = MsgPackSerializer(b"seed") if binary else JsonSerializer()
    data = _change_log(serializer, changes, unreadable)
    raws = serializer.scan(data).records
    try:
        replayed = replay(serializer, raws)
    except ReplayError as exc:
        assert _general_replay(serializer, raws) == _error(exc)
        return
    fold = replayed.fold
    got = (fold.state, fold.rev, fold.version, fold.mtime, fold.changes_seen)
    assert _form(got) == _form(_general_replay(serializer, raws))
    assert replayed.last_ts == NOW + timedelta(seconds=len(changes) - 1)
    assert replayed.replayed_bytes == len(data) - (4 if binary else 0)


# -- a dict patched in place ----------------------------------------------------------------

states = st.recursive(
    st.one_of(st.integers(0, 3), st.none(), st.lists(st.integers(0, 3), max_size=3)),
    lambda inner: st.dictionaries(st.sampled_from(["a", "b", "$c", "0", "1"]), inner, max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(state=states, diff=diffs)
def test_patching_in_place_is_patching_a_copy(state: Any, diff: Any) -> None:
    try:
        expected: Any = patch(state, diff)
    except PatchError as exc:
        expected = ("error", str(exc), exc.path)
    try:
        got: Any = apply_in_place(copy.deepcopy(state), copy.deepcopy(diff))
    except PatchError as exc:
        got = ("error", str(exc), exc.path)
    assert _form(got) == _form(expected)


# -- records a checksum vouched for ---------------------------------------------------------


@SETTINGS
@given(
    changes=st.lists(
        st.tuples(diffs, st.integers(0, 3), st.none() | st.just(NOW)), min_size=1, max_size=8
    ),
    binary=st.booleans(),
)
def test_verified_records_fold_as_fully_decoded_ones(
    changes: list[tuple[Any, int, datetime | None]], binary: bool
) -> None:
    serializer: Serializer = MsgPackSerializer(b"seed") if binary else JsonSerializer()
    scan = serializer.scan(_change_log(serializer, changes))
    assert scan.verified

    def outcome(verified: bool) -> Any:
        try:
            replayed = replay(serializer, scan.records, verified=verified)
        except ReplayError as exc:
            return _error(exc)
        fold = replayed.fold
        got = (fold.state, fold.rev, fold.version, fold.mtime, fold.changes_seen)
        return _form((got, replayed.last_ts, replayed.replayed_bytes))

    assert outcome(True) == outcome(False)


def _json_lines(*lines: bytes) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def test_a_json_scan_is_verified_only_when_every_kept_line_is_sealed() -> None:
    first, tip1 = seal(b'{"ts":"2027-01-02T03:04:05Z","diff":{"a":1}}', b"")
    second, _ = seal(b'{"ts":"2027-01-02T03:04:06Z","diff":{"a":2}}', tip1)
    legacy = b'{"ts":"2027-01-02T03:04:07Z","diff":{"a":3}}'  # as kanta 0.9.x writes
    assert JsonSerializer().scan(_json_lines(first, second)).verified
    # A torn last line is cut: what is kept was all sealed.
    torn = JsonSerializer().scan(_json_lines(first, second) + second[:30])
    assert torn.damage is not None and torn.verified
    assert not JsonSerializer().scan(_json_lines(first, second, legacy)).verified
    assert not JsonSerializer().scan(_json_lines(legacy, first)).verified


def test_binary_scans_are_verified_frames_all() -> None:
    serializer = MsgPackSerializer(b"seed")
    data = serializer.encode(Change(ts=NOW, diff={"a": 1}), 0)
    assert serializer.scan(data).verified
    assert serializer.scan(data + b"\x00" * 9).verified


async def test_an_unsealed_line_is_still_validated_in_full(tmp_path: Path) -> None:
    # A line of kanta 0.9.x has no checksum: its fields are all decoded and checked.
    first, _ = seal(b'{"ts":"2027-01-02T03:04:05Z","diff":{"n":1}}', b"")
    bad_time = b'{"ts":"not a time","diff":{"n":2}}'
    path = tmp_path / "legacy.kantadb"
    path.write_bytes(_json_lines(first, bad_time, b'{"ts":"2027-01-02T03:04:06Z","diff":{}}'))

    class Root(msgspec.Struct):
        n: int = 0

    with pytest.raises(ReplayError, match="unreadable record") as caught:
        await Kanta(path, Root()).open()
    assert caught.value.line_number == 2


def test_a_diff_that_does_not_apply_names_its_action_when_verified() -> None:
    serializer = JsonSerializer()
    data = serializer.encode(Change(ts=NOW, a="make", diff={"a": 1}), 0)
    data += serializer.encode(Change(ts=NOW, a="break", diff={"$delete": ["gone"]}), 1)
    scan = serializer.scan(data)
    with pytest.raises(ReplayError) as caught:
        replay(serializer, scan.records, verified=True)
    assert caught.value.action == "break"
    assert caught.value.line_number == 2
