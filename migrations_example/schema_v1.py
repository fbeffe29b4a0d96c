"""Release 1 of the app's schema: a user's name is split into first and last."""

from __future__ import annotations

from typing import Any

import msgspec


class User(msgspec.Struct):
    first: str
    last: str


class Data(msgspec.Struct):
    users: dict[str, User] = {}


def migrate_v1(d: dict[str, Any]) -> None:
    """Split each user's `name` into `first` and `last`."""
    for user in d["users"].values():
        user["first"], _, user["last"] = user.pop("name").partition(" ")
