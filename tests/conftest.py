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
