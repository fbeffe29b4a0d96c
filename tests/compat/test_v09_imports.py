"""Point 1 of issue 12: every module path a 0.9.x program imports from works.

The names a 0.9.x program imports (from its README and docs/) resolve in both packages;
What `kanta.tty` and `kanta.logging` do is in test_v09_tty.py, test_v09_logging.py and
test_v09_callbacks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kanta094 import run_program

import kanta
from kanta.core.jsonlines import JsonSerializer
from kanta.core.records import Change, Snapshot

IMPORTS = {
    "kanta": ["Kanta", "DatabaseError", "configure_logging", "diff", "patch", "LogEvent"],
    "kanta.serialization": ["JsonSerializer", "MsgPackSerializer"],
    "kanta.exceptions": ["DatabaseError", "DataIntegrityError", "FileLockError", "ReplayError"],
    "kanta.kanta": ["Kanta"],
    "kanta.logging": ["LogEvent", "emit_event", "default_emit", "configure_logging"],
    "kanta.tty": ["colors", "Line", "strip_ansi", "displaywidth", "pad", "use_color"],
    "kanta.structs": ["META_FORMAT", "ChangeRecord", "Snapshot"],
    "kanta.__main__": ["main"],
}

PROGRAM = """
import importlib, json, sys
imports = json.loads(sys.argv[1])
found = {}
for module, names in imports.items():
    loaded = importlib.import_module(module)
    found[module] = [name for name in names if hasattr(loaded, name)]
print(json.dumps(found))
"""


def _found(python: str, cwd: Path) -> dict[str, list[str]]:
    done = run_program(python, PROGRAM, json.dumps(IMPORTS), cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # importing kanta.__main__ ran no command line
    found: dict[str, list[str]] = json.loads(done.stdout)
    return found


def test_every_0_9_module_path_imports_in_both(tmp_path: Path, ours: str, kanta094: str) -> None:
    assert _found(kanta094, tmp_path) == IMPORTS  # what a 0.9.4 program has
    assert _found(ours, tmp_path) == IMPORTS


def test_the_old_paths_are_ours_not_copies() -> None:
    import kanta.exceptions
    import kanta.kanta
    import kanta.logging
    import kanta.serialization
    import kanta.structs

    assert kanta.kanta.Kanta is kanta.Kanta
    assert kanta.serialization.JsonSerializer is JsonSerializer is kanta.JsonSerializer
    assert kanta.exceptions.FileLockError is kanta.FileLockError
    assert kanta.structs.ChangeRecord is Change and kanta.structs.Snapshot is Snapshot
    assert kanta.structs.META_FORMAT == 1
    assert kanta.logging.LogEvent is kanta.LogEvent
    assert kanta.logging.configure_logging is kanta.configure_logging


def test_record_types_decode_a_0_9_file_line_by_line(compat_dir: Path) -> None:
    # A 0.9.x reporting script reads its file with msgspec and the record types.
    import msgspec

    from kanta.structs import ChangeRecord
    from kanta.structs import Snapshot as SnapshotRecord

    seen = []
    for line in (compat_dir / "legacy.json.kantadb").read_bytes().splitlines():
        if line.startswith(b"SNAPSHOT "):
            seen.append(msgspec.json.decode(line[9:], type=SnapshotRecord).r)
        else:
            seen.append(msgspec.json.decode(line, type=ChangeRecord).a)
    assert seen == ["bootstrap", "inc", "inc", 0, "add"]


MAIN_PROGRAM = """
from kanta.__main__ import main
print("imported", callable(main))
"""


def test_importing_the_console_script_target_does_not_run_it(tmp_path: Path, ours: str) -> None:
    done = run_program(ours, MAIN_PROGRAM, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "imported True\n", "")


class LegacySerializer:
    """A custom serializer written to 0.9.x's interface (its docs: "bring your own")."""

    framer_cls = object

    def encode(self, obj: object) -> bytes:
        return b""

    def decode(self, payload: bytes, *, type: type) -> object:
        return None


def test_a_0_9_custom_serializer_is_refused_saying_what_we_expect(tmp_path: Path) -> None:
    with pytest.raises(TypeError) as caught:
        kanta.Kanta(tmp_path / "db.kantadb", {}, type=dict, serializer=LegacySerializer())
    message = str(caught.value)
    assert "LegacySerializer" in message and "0.9.x's serializer interface" in message
    assert "JsonSerializer() or MsgPackSerializer()" in message and "docs/format.md" in message
    assert not (tmp_path / "db.kantadb").exists()


def test_a_subclass_of_ours_is_refused_too(tmp_path: Path) -> None:
    # Its overrides would never run: a file is written in one of the two formats.
    class Tweaked(JsonSerializer):
        pass

    with pytest.raises(TypeError, match=r"not .*Tweaked"):
        kanta.Kanta(tmp_path / "db.kantadb", {}, type=dict, serializer=Tweaked())


def test_docs_format_documents_the_serializer_interface() -> None:
    text = (Path(__file__).parents[2] / "docs" / "format.md").read_text()
    assert "## Choosing the format" in text and "framer_cls" in text
