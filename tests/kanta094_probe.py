"""Run under kanta 0.9.4 (a separate virtualenv): open or write a database, print what it sees.

`python kanta094_probe.py read PATH ROOT FORMAT [MIGRATIONS]` opens the file read-only;
`python kanta094_probe.py write PATH FORMAT` writes the scenario of `write_scenario`.
Both print one JSON object: the state (as JSON builtins), revision and version.
"""

import asyncio
import json
import sys
from datetime import UTC, datetime
from uuid import UUID

import compat_models
import msgspec

import kanta.serialization
from kanta import Kanta


def _serializer(fmt: str) -> object:
    return kanta.serialization.MsgPackSerializer() if fmt == "msgpack" else None


def _report(db: Kanta) -> None:
    state = msgspec.to_builtins(db.data, str_keys=True)
    print(json.dumps({"state": state, "rev": db.rev, "version": db.version}))


async def read(path: str, root: str, fmt: str, migrations: str | None) -> None:
    cls = getattr(compat_models, root)
    db = Kanta(path, cls(), serializer=_serializer(fmt), migrations=migrations)
    await db.open(readonly=True)
    _report(db)
    await db.close()


async def write(path: str, fmt: str) -> None:
    db = Kanta(path, compat_models.Data(), serializer=_serializer(fmt))
    await db.open()
    with db.transaction("users", user="admin") as d:
        d.users["a"] = compat_models.User(name="A", tags=["x", "y"])
        d.users["b"] = compat_models.User(name="B", email="b@example.com")
    with db.transaction("types", user="root") as d:
        d.by_int[7] = "seven"
        d.by_uuid[UUID("12345678-1234-5678-1234-567812345678")] = 1
        d.blob = b"\x00\xff"
        d.when = datetime(2027, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
        d.meta["$key"] = "$value"
        d.numbers = [3, 1, 2]
    with db.transaction("edit") as d:
        d.users["a"].tags.remove("x")
        d.users["b"].address = compat_models.Address(city="Oulu")
        del d.by_int[7]
        d.numbers.insert(0, 9)
    await db.close()
    db = Kanta(path, compat_models.Data(), serializer=_serializer(fmt))
    await db.open()
    _report(db)
    await db.close()


if __name__ == "__main__":
    command, path, *rest = sys.argv[1:]
    if command == "read":
        migrations = rest[2] if len(rest) > 2 else None
        asyncio.run(read(path, rest[0], rest[1], migrations))
    else:
        asyncio.run(write(path, rest[0]))
