"""Shared fixtures: the compat files written by kanta 0.9.4, copied into a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

COMPAT = Path(__file__).parent / "fixtures" / "compat"


@pytest.fixture
def compat_dir(tmp_path: Path) -> Path:
    """A writable copy of the compat fixtures."""
    target = tmp_path / "compat"
    shutil.copytree(COMPAT, target)
    return target


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--long`: the crash and fault tests run thousands of points instead of hundreds."""
    parser.addoption("--long", action="store_true", help="run the long crash/fault tests")


@pytest.fixture
def long_run(request: pytest.FixtureRequest) -> bool:
    """Whether `--long` was given."""
    return bool(request.config.getoption("--long"))


@pytest.fixture(scope="session")
def kanta094() -> str:
    """The interpreter of a virtualenv with kanta 0.9.4, or a skip saying why not."""
    import subprocess

    import kanta094 as black_box

    try:
        return black_box.interpreter()
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"cannot create a virtualenv with kanta 0.9.4: {exc} {detail[-300:]!r}")


@pytest.fixture(scope="session")
def ours() -> str:
    """The interpreter that runs our kanta (this one)."""
    import sys

    return sys.executable
