"""A Sanic app keeping its state in kanta: open before serving, close after.

Run: `pip install sanic` then `sanic examples.sanic_app:app`.
"""

from __future__ import annotations

import msgspec
from sanic import Request, Sanic, json
from sanic.response import HTTPResponse

from kanta import Kanta


class State(msgspec.Struct):
    """The application's whole state: page hits by path."""

    hits: dict[str, int] = {}


app = Sanic("kanta_example")
db = Kanta("hits.kantadb", State())


@app.before_server_start
async def open_db(app: Sanic) -> None:
    """Open (or create) the database once per worker process."""
    await db.open()


@app.after_server_stop
async def close_db(app: Sanic) -> None:
    """Flush and release the file."""
    await db.close()


@app.get("/<path:path>")
async def hit(request: Request, path: str) -> HTTPResponse:
    """Count a hit; the background writer persists it within `flush_interval`."""
    with db.transaction(action="hit", user=request.ip) as data:
        data.hits[path] = data.hits.get(path, 0) + 1
    return json({"path": path, "hits": db.data.hits[path]})
