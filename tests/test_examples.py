"""The examples run: the FastAPI app keeps its state across a restart, migrations evolve."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_fastapi_app_persists_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("httpx")
    client_class = pytest.importorskip("fastapi.testclient").TestClient
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module("examples.fastapi_app")
    module = importlib.reload(module)  # a fresh Kanta bound to this folder
    with client_class(module.app) as client:
        created = client.post("/todos", params={"title": "write tests", "user": "ann"}).json()
        assert client.post(f"/todos/{created['id']}/done", params={"user": "bob"}).json()
        assert client.post("/todos/99/done").status_code == 404
    module = importlib.reload(module)  # the app restarts
    with client_class(module.app) as client:
        assert client.get("/todos").json() == {
            created["id"]: {"title": "write tests", "done": True}
        }
    lines = (tmp_path / "todos.kantadb").read_text().splitlines()
    assert [line.count('"u":"ann"') for line in lines] == [0, 1, 0]


def test_the_migrations_example_runs_through_both_versions() -> None:
    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run(
        [sys.executable, "-m", "migrations_example"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "v2: Data(people=" in run.stdout and "email='ada@example.org'" in run.stdout
