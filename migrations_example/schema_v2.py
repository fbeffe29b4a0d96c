"""Release 2 of the app's schema: users get an email, and `users` is renamed `people`.

This is schema_v1.py one release later: the migrations module keeps every old
`migrate_vN`, so a database still at version 0 can be brought straight to 2.
"""

from __future__ import annotations

from typing import Any

import msgspec


class User(msgspec.Struct):
    first: str
    last: str
    email: str | None = None


class Data(msgspec.Struct):
    people: dict[str, User] = {}


def migrate_v1(d: dict[str, Any]) -> None:
    """Split each user's `name` into `first` and `last`."""
    for user in d["users"].values():
        user["first"], _, user["last"] = user.pop("name").partition(" ")


def migrate_v2(d: dict[str, Any]) -> None:
    """Rename `users` to `people` and give everyone an `email` (None)."""
    d["people"] = d.pop("users")
    for user in d["people"].values():
        user.setdefault("email", None)
