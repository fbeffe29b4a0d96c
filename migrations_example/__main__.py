"""Open one database under three releases of its schema: v0, then v1, then v2."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import msgspec

from kanta import Kanta
from migrations_example import schema_v1, schema_v2


class UserV0(msgspec.Struct):
    name: str  # "First Last"


class Data(msgspec.Struct):
    users: dict[str, UserV0] = {}


async def release_0(path: Path) -> None:
    async with Kanta(path, Data()) as db:
        with db.transaction(action="add_users", user="example") as data:
            data.users["ada"] = UserV0(name="Ada Lovelace")
            data.users["alan"] = UserV0(name="Alan Turing")
        print(f"v{db.version}: {data}")


async def release_1(path: Path) -> None:
    # A module object works as the migrations source...
    async with Kanta(path, schema_v1.Data(), migrations=schema_v1) as db:
        with db.transaction(action="add_user", user="example") as data:
            data.users["grace"] = schema_v1.User(first="Grace", last="Hopper")
        print(f"v{db.version}: {data}")


async def release_2(path: Path) -> None:
    # ...and so does an import path, as an app's config file would name it.
    async with Kanta(path, schema_v2.Data(), migrations="migrations_example.schema_v2") as db:
        with db.transaction(action="set_email", user="example") as data:
            data.people["ada"].email = "ada@example.org"
        print(f"v{db.version}: {data}")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.kantadb"
        await release_0(path)
        await release_1(path)
        await release_2(path)


if __name__ == "__main__":
    asyncio.run(main())
