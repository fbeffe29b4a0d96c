"""The released kanta 0.9.4 as a black box: its own virtualenv, and programs run in it.

The virtualenv is made once per machine (pip must reach PyPI); `KANTA094_PYTHON` may name
an existing interpreter that has kanta 0.9.4. A program runs in a folder of its own, so
that neither interpreter imports a `kanta` from the working directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

TESTS = Path(__file__).parent
VENV = Path(tempfile.gettempdir()) / "kanta-test-venv-094"


def interpreter() -> str:
    """The interpreter of a virtualenv with kanta 0.9.4 (made on first use)."""
    python = os.environ.get("KANTA094_PYTHON")
    if python:
        return python
    made = VENV / "bin" / "python"
    if made.exists():
        return str(made)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
    subprocess.run(
        [str(made), "-m", "pip", "install", "--quiet", "kanta==0.9.4"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return str(made)


def run_program(
    python: str,
    source: str,
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `source` (dedented) as a script under `python` in `cwd`; tests/ is importable."""
    script = cwd / "program.py"
    script.write_text(textwrap.dedent(source))
    colourless = ("FORCE_COLOR", "NO_COLOR", "JOURNAL_STREAM")
    environment = {k: v for k, v in os.environ.items() if k not in colourless}
    # Ours is this checkout's kanta (whichever one an editable install points at); 0.9.4's
    # is the one in its virtualenv, so this checkout must not be on its path.
    paths = [str(TESTS.parent), str(TESTS)] if python == sys.executable else [str(TESTS)]
    environment.update({"PYTHONPATH": os.pathsep.join(paths), "PYTHONIOENCODING": "utf-8"})
    environment.update(env or {})
    return subprocess.run(
        [python, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )
