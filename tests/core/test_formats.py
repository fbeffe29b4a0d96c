"""A file is read and extended in its own format; the serializer named chooses new files only."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from compat_models import Data

from kanta import JsonSerializer, Kanta, MsgPackSerializer, verify
from kanta.history import read_history

COMPAT = Path(__file__).parents[1] / "fixtures" / "compat"


@pytest.mark.parametrize(
    ("fixture", "named", "found"),
    [
        ("types.msgpack.kantadb", JsonSerializer, "msgpack"),
        ("types.json.kantadb", MsgPackSerializer, "json"),
    ],
)
async def test_an_existing_file_keeps_its_format_and_the_mismatch_is_logged_once(
    fixture: str, named: type, found: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "db.kantadb"
    shutil.copy(COMPAT / fixture, path)
    caplog.set_level(logging.INFO, logger="kanta")
    async with Kanta(path, Data(), serializer=named()) as db:
        assert db.serializer.name == found
        with db.transaction("more") as data:
            data.counter += 1
    mismatch = [r for r in caplog.records if f"is in the {found} format" in r.getMessage()]
    assert len(mismatch) == 1
    history = read_history(path)
    assert history.serializer.name == found
    assert history.scan.records[-1].position == len(history.scan.records)
    assert verify(path).ok


@pytest.mark.parametrize("serializer", [JsonSerializer, MsgPackSerializer])
async def test_the_named_serializer_chooses_the_format_of_a_new_file(
    serializer: type, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kanta")
    path = tmp_path / "db.kantadb"
    async with Kanta(path, Data(), serializer=serializer()):
        pass
    assert read_history(path).serializer.name == serializer.name
    assert not [r for r in caplog.records if "format; reading" in r.getMessage()]
