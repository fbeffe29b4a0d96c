"""Bad input never costs data: damage in the first bytes, shifted records, odd paths."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import msgspec
import pytest
from compat_models import Data, User

from kanta import DatabaseError, Kanta, MsgPackSerializer, verify
from kanta.core.formats import detect

FORMATS = ["json", "msgpack"]


def _serializer(fmt: str) -> MsgPackSerializer | None:
    return MsgPackSerializer() if fmt == "msgpack" else None


async def _sample(path: Path, fmt: str, count: int = 4) -> bytes:
    """A database of `count` records (a bootstrap, then one user per transaction)."""
    async with Kanta(path, Data(), serializer=_serializer(fmt)) as db:
        for i in range(count - 1):
            with db.transaction("add", user="admin") as d:
                d.users[f"u{i}"] = User(name=f"U{i}", tags=["x"] * i)
    return path.read_bytes()


def _bounds(data: bytes) -> list[tuple[int, int]]:
    return [(raw.byte_pos, raw.end) for raw in detect(data).scan(data).records]


async def _refused_by_every_open(path: Path, fmt: str) -> DatabaseError:
    """Both a writable and a read-only open refuse, with both serializers; nothing changes."""
    before = path.read_bytes()
    caught: list[DatabaseError] = []
    for readonly in (False, True):
        for serializer in (None, MsgPackSerializer()):
            db = Kanta(path, Data(), serializer=serializer)
            with pytest.raises(DatabaseError) as error:
                await db.open(readonly=readonly)
            assert error.value.db_path == path
            assert error.value.byte_pos is not None
            caught.append(error.value)
    assert path.read_bytes() == before
    assert list(path.parent.glob("*.cut-*")) == []
    return caught[0]


@pytest.mark.parametrize("offset", range(8))
async def test_a_flipped_bit_in_the_first_bytes_of_a_binary_file_is_refused(
    offset: int, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    damaged = bytearray(await _sample(path, "msgpack"))
    damaged[offset] ^= 0x10
    path.write_bytes(bytes(damaged))
    error = await _refused_by_every_open(path, "msgpack")
    assert error.byte_pos == 0
    assert not verify(path).ok


async def test_a_zeroed_first_block_of_a_json_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, "json")
    path.write_bytes(bytes(8) + data[8:])
    error = await _refused_by_every_open(path, "json")
    assert error.byte_pos == 0
    assert not verify(path).ok


@pytest.mark.parametrize(
    "content",
    [b"hello, this is my shopping list\nmilk\n", bytes(range(256)) * 4, b"{not json at all\n"],
)
async def test_a_file_of_another_kind_is_never_replaced(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    error = await _refused_by_every_open(path, "json")
    assert error.byte_pos == 0


@pytest.mark.parametrize(
    ("fmt", "torn"),
    [
        ("json", b'{"ts":"2026-12-0'),
        ("json", b'{"ts":"2026-12-01T10:00:00Z","a":"boo' + bytes(300)),
        ("json", bytes(4096)),
        ("msgpack", b"\x01\x02\x03"),
    ],
)
async def test_a_first_record_cut_short_starts_a_new_database_and_keeps_the_bytes(
    fmt: str, torn: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    path.write_bytes(torn)
    db = Kanta(path, Data(), serializer=_serializer(fmt))
    with pytest.raises(DatabaseError, match="no whole record"):
        await db.open(readonly=True)
    async with Kanta(path, Data(), serializer=_serializer(fmt)) as db:
        assert db.rev == 1
    (side,) = tmp_path.glob("*.cut-*")
    assert torn.endswith(side.read_bytes())
    wanted = "msgpack" if fmt == "msgpack" else "json"
    assert detect(path.read_bytes()).name == wanted


async def test_a_binary_torn_first_write_keeps_the_format_it_was_created_in(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, "msgpack")
    path.write_bytes(data[: _bounds(data)[0][1] - 3])  # the first frame, cut short
    async with Kanta(path, Data()) as db:  # the default serializer is JSON
        assert db.rev == 1
    assert detect(path.read_bytes()).name == "msgpack"


async def test_a_deleted_byte_in_a_middle_frame_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, "msgpack")
    start, _ = _bounds(data)[1]
    path.write_bytes(data[: start + 20] + data[start + 21 :])
    error = await _refused_by_every_open(path, "msgpack")
    assert error.byte_pos == start
    assert not verify(path).ok


async def test_an_inserted_byte_before_a_frame_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, "msgpack")
    start, _ = _bounds(data)[3]
    path.write_bytes(data[:start] + b"\x00" + data[start:])
    error = await _refused_by_every_open(path, "msgpack")
    assert error.byte_pos == start


def _json_variants(data: bytes) -> dict[str, bytes]:
    lines = data.splitlines(keepends=True)
    last_two = lines[-2].rstrip(b"\n") + b"X" + lines[-1]
    return {
        "second-to-last line deleted": b"".join(lines[:-2] + lines[-1:]),
        "newline between the last two lines changed": b"".join(lines[:-2]) + last_two,
        "bytes inserted before the last line": b"".join(lines[:-1]) + b"#!garbage" + lines[-1],
        "a whole last line with a changed byte": data[:-40] + bytes([data[-40] ^ 1]) + data[-39:],
    }


_JSON_VARIANTS = [
    "second-to-last line deleted",
    "newline between the last two lines changed",
    "bytes inserted before the last line",
    "a whole last line with a changed byte",
]


@pytest.mark.parametrize("variant", _JSON_VARIANTS)
async def test_whole_json_lines_after_damage_are_corruption(variant: str, tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, "json")
    path.write_bytes(_json_variants(data)[variant])
    await _refused_by_every_open(path, "json")
    assert not verify(path).ok


async def test_a_whole_last_frame_with_a_changed_byte_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = bytearray(await _sample(path, "msgpack"))
    data[-3] ^= 0x01  # inside the last payload: still a whole frame, not a torn write
    path.write_bytes(bytes(data))
    await _refused_by_every_open(path, "msgpack")


@pytest.mark.parametrize("extra", [b" ", b"  ", b"\t", b" \r"])
async def test_an_edited_last_line_with_its_seal_moved_is_detected(
    extra: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, "json")
    edited = data.replace(b'"name":"U2"', b'"name":"U9"').rstrip(b"\n") + extra + b"\n"
    assert edited != data
    path.write_bytes(edited)
    await _refused_by_every_open(path, "json")
    assert not verify(path).ok


async def test_a_spaced_out_seal_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    data = await _sample(path, "json")
    lines = data.splitlines(keepends=True)
    spaced = lines[-1].replace(b',"c":"', b', "c" : "')
    path.write_bytes(b"".join(lines[:-1]) + spaced)
    await _refused_by_every_open(path, "json")


def _special(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:  # character devices like /dev/null (1, 3) and /dev/zero (1, 5)
        minor = 3 if kind == "null device" else 5
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, minor))


@pytest.mark.parametrize("kind", ["fifo", "null device", "zero device", "directory"])
@pytest.mark.parametrize("readonly", [False, True])
async def test_a_path_that_is_not_a_regular_file_is_refused_and_kept(
    kind: str, readonly: bool, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    try:
        _special(kind, path)
    except PermissionError:
        pytest.fail("making device nodes needs root, which CI and this machine have")
    before = path.lstat()
    db = Kanta(path, Data())
    with pytest.raises(DatabaseError) as error:
        # Bounded: a FIFO once blocked the open forever, /dev/zero read without end.
        await asyncio.wait_for(db.open(readonly=readonly), 10)
    assert error.value.db_path == path
    after = path.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


async def test_an_empty_file_the_user_made_survives_a_failed_open(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    path.write_bytes(b"")
    db = Kanta(path, Data())

    @db.validate
    def refuse(data: Data) -> None:
        raise ValueError("not today")

    with pytest.raises(ValueError, match="not today"):
        await db.open()
    assert path.exists()


async def test_a_file_this_open_created_goes_again_when_the_open_fails(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    db = Kanta(path, Data())

    @db.validate
    def refuse(data: Data) -> None:
        raise ValueError("not today")

    with pytest.raises(ValueError, match="not today"):
        await db.open()
    assert not path.exists()


async def test_an_empty_root_writes_no_diff_field(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, {}, type=dict):
        pass
    (line,) = path.read_bytes().splitlines()
    record = msgspec.json.decode(line)
    assert "diff" not in record
    async with Kanta(path, {}, type=dict) as db:
        assert db.data == {} and db.rev == 1


class Loose(msgspec.Struct):
    """A state with an untyped field, where any nesting can be assigned."""

    x: Any = None
    n: int = 0


def _nested(depth: int, as_dict: bool) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value} if as_dict else [value]
    return value


@pytest.mark.parametrize("as_dict", [False, True])
@pytest.mark.parametrize("depth", [150, 300, 1200, 5000])
async def test_a_value_too_deep_to_store_is_refused_at_its_transaction(
    as_dict: bool, depth: int, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Loose()) as db:
        with db.transaction("shallow") as d:
            d.x = {"k": 1}
        with (
            pytest.raises(DatabaseError, match="nested more than") as caught,
            db.transaction("deep") as d,
        ):
            d.x = _nested(depth, as_dict)
        assert "x" in str(caught.value)
        assert db.data.x == {"k": 1}  # rolled back
        with db.transaction("after") as d:
            d.n = 1
        await db.flush()
    async with Kanta(path, Loose()) as db:  # closed cleanly, the lock released, reopens
        assert (db.data.x, db.data.n, db.rev) == ({"k": 1}, 1, 3)


async def test_a_value_just_within_the_limit_is_stored_and_read_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "db.kantadb"
    deep = _nested(95, as_dict=True)
    async with Kanta(path, Loose()) as db:
        with db.transaction("deep") as d:
            d.x = deep
        db.request_snapshot()
        await db.flush()
        with db.transaction("deeper") as d:
            d.x["k"]["k"] = _nested(90, as_dict=False)
    async with Kanta(path, Loose()) as db:
        assert db.data.x["k"]["k"] == _nested(90, as_dict=False)
    assert verify(path).ok
    from kanta.cli.commands import main

    for argv in ([str(path)], ["show", str(path)], ["blame", str(path), "x.*"]):
        assert main(argv) == 0


def _legacy_file_with_a_deep_record(path: Path, last: bool) -> int:
    """Unsealed (0.9.x) lines with one nested 1,200 deep; the byte offset of that one."""
    head = b'{"ts":"2027-01-01T00:00:00Z","a":"bootstrap","diff":{"x":null,"n":0}}\n'
    deep = b'{"ts":"2027-01-01T00:01:00Z","a":"deep","diff":{"x":'
    deep += b"[" * 1200 + b"1" + b"]" * 1200 + b"}}\n"
    tail = b'{"ts":"2027-01-01T00:02:00Z","a":"n","diff":{"n":1}}\n'
    path.write_bytes(head + deep + (b"" if last else tail))
    return len(head)


@pytest.mark.parametrize("last", [False, True])
async def test_a_record_nested_too_deep_to_read_is_a_typed_error(
    last: bool, tmp_path: Path
) -> None:
    path = tmp_path / "db.kantadb"
    offset = _legacy_file_with_a_deep_record(path, last)
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(DatabaseError) as caught:
            await Kanta(path, Loose()).open(readonly=readonly)
        assert caught.value.byte_pos == offset
        assert caught.value.db_path == path
    assert path.read_bytes() == before
    report = verify(path)
    assert [problem.byte_pos for problem in report.problems] == [offset]
    from kanta.cli.commands import main

    assert main([str(path), "-q"]) == 10
    assert main(["recover", str(path)]) in (0, 10)


@pytest.mark.parametrize("kind", ["fifo", "null device", "directory"])
@pytest.mark.parametrize("command", [[], ["verify"], ["show"], ["stats"]])
def test_the_cli_names_what_a_path_that_is_not_a_file_is(
    kind: str, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kanta.cli.commands import main

    path = tmp_path / "db.kantadb"
    _special(kind, path)
    argv = [*command, str(path)]
    assert main(argv) == 1
    message = capsys.readouterr().err
    assert "not a regular file" in message and "no such file" not in message
    assert path.exists()


@pytest.mark.parametrize(
    "command",
    [["show"], ["diff", "r1", "r2"], ["-g", "x=1"], ["blame", "x"], ["stats"], ["verify"]],
)
def test_a_value_too_deep_to_show_is_an_error_not_a_traceback(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kanta.cli.commands import main

    path = tmp_path / "db.kantadb"
    head = b'{"ts":"2027-01-01T00:00:00Z","a":"bootstrap","diff":{"x":null,"n":0}}\n'
    deep = b'{"ts":"2027-01-01T00:01:00Z","a":"deep","diff":{"x":'
    path.write_bytes(head + deep + b"[" * 800 + b"1" + b"]" * 800 + b"}}\n")  # 0.9.x lines
    argv = [str(path), *command] if command[0].startswith("-") else [command[0], str(path)]
    argv += command[1:] if not command[0].startswith("-") else []
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 10)
    if code == 10:
        assert f"{path}: a value is nested too deeply" in err


@pytest.mark.parametrize("first", [b"S", b"{", b"\x00"])
async def test_a_binary_file_cut_short_whatever_its_seed_starts_with(
    first: bytes, tmp_path: Path
) -> None:
    # A seed is random: it may start like JSON (`{`, `S`). A crash can leave any prefix.
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data(), serializer=MsgPackSerializer(first + b"\x01\x02\x03")) as db:
        with db.transaction("add") as d:
            d.users["a"] = User(name="A")
    data = path.read_bytes()
    for size in range(1, 24):
        path.write_bytes(data[:size])
        for side in tmp_path.glob("*.cut-*"):
            side.unlink()
        async with Kanta(path, Data()) as db:
            assert db.rev == 1
        if size >= 4:  # the seed survived: the file goes on in its own format
            assert path.read_bytes()[:4] == data[:4]
            assert detect(path.read_bytes()).name == "msgpack"


async def test_a_bulk_insert_with_one_value_too_deep_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Loose()) as db:
        with db.transaction("empty") as d:
            d.x = {}
        entries: dict[str, Any] = {f"k{i}": {"v": i} for i in range(40)}  # a bulk insert
        with db.transaction("shallow bulk") as d:
            d.x.update(entries)
        with (
            pytest.raises(DatabaseError, match="nested more than") as caught,
            db.transaction("deep bulk") as d,
        ):
            d.x.update({f"j{i}": i for i in range(40)} | {"deep": _nested(200, as_dict=True)})
        assert "x.deep" in str(caught.value)
        assert db.data.x == entries
    async with Kanta(path, Loose()) as db:
        assert db.data.x == entries
