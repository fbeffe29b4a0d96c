"""A FastAPI app keeping its state in kanta: open in the lifespan, transact in handlers.

Run: `pip install fastapi uvicorn` then `uvicorn examples.fastapi_app:app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from fastapi import FastAPI, HTTPException

from kanta import Kanta


class Todo(msgspec.Struct):
    """One item of the list."""

    title: str
    done: bool = False


class State(msgspec.Struct):
    """The application's whole state."""

    todos: dict[str, Todo] = {}
    next_id: int = 1


db = Kanta("todos.kantadb", State())


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database for the app's lifetime; closing flushes everything."""
    async with db:
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/todos")
async def list_todos() -> dict[str, dict[str, object]]:
    """Every item (reads need no transaction)."""
    return {key: msgspec.to_builtins(todo) for key, todo in db.data.todos.items()}


@app.post("/todos")
async def add_todo(title: str, user: str = "anonymous") -> dict[str, str]:
    """Add an item; the response waits until it is durable."""
    with db.transaction(action="add_todo", user=user) as data:
        key = str(data.next_id)
        data.todos[key] = Todo(title=title)
        data.next_id += 1
    await db.flush()
    return {"id": key}


@app.post("/todos/{key}/done")
async def complete(key: str, user: str = "anonymous") -> dict[str, bool]:
    """Mark an item done; a missing one rolls the transaction back.

    A flat transaction: it declares the one item it changes, so it costs the same with
    ten items or a million (docs/transactions.md).
    """
    with db.transaction(action="complete", user=user, touches=[("todos", key)]) as data:
        if key not in data.todos:
            raise HTTPException(status_code=404, detail="no such item")
        data.todos[key].done = True
    await db.flush()
    return {"done": True}
