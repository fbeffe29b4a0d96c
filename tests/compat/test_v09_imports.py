"""Point 1 of issue 12: every module path a 0.9.x program imports from works."""

from __future__ import annotations

from pathlib import Path

from kanta094 import run_program

PROGRAM = """
import kanta
print(kanta.__file__)
"""


def test_both_interpreters_run_their_own_kanta(tmp_path: Path, ours: str, kanta094: str) -> None:
    mine = run_program(ours, PROGRAM, cwd=tmp_path)
    theirs = run_program(kanta094, PROGRAM, cwd=tmp_path)
    assert mine.returncode == 0 and theirs.returncode == 0, mine.stderr + theirs.stderr
    assert str(Path(__file__).parents[2]) in mine.stdout
    assert "kanta-test-venv-094" in theirs.stdout or "site-packages" in theirs.stdout
