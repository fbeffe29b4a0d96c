"""The barrier's change along written paths equals the full comparison, on large dicts too.

The stateful test drives small dicts; here a dict of some 60 to 130 Structs crosses the
size where the full comparison pairs entries by position (`SMALL_DICT`), with inserts,
deletions, pop-and-re-add, aliases and rollbacks, commit after commit, without files.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.state.barrier import Barrier
from kanta.state.clone import clone
from kanta.state.tracker import REORDER, Tracker


class Item(msgspec.Struct):
    name: str = ""
    qty: int = 0
    tags: list[str] = []


class Root(msgspec.Struct):
    items: dict[str, Item] = {}
    best: Item | None = None
    total: int = 0


KEYS = st.integers(0, 140).map(lambda n: f"k{n}")
OPS = st.one_of(
    st.tuples(st.just("put"), KEYS, st.text(max_size=2)),
    st.tuples(st.just("qty"), KEYS, st.integers(0, 3)),
    st.tuples(st.just("tag"), KEYS, st.text(max_size=1)),
    st.tuples(st.just("del"), KEYS),
    st.tuples(st.just("readd"), KEYS),
    st.tuples(st.just("alias"), KEYS),
    st.tuples(st.just("unalias"), st.just("")),
    st.tuples(st.just("total"), st.integers(0, 3)),
    st.tuples(st.just("bulk"), st.lists(KEYS, max_size=8)),
)
ROUNDS = st.lists(st.tuples(st.lists(OPS, max_size=6), st.booleans()), min_size=1, max_size=6)


def apply(root: Root, op: tuple[Any, ...]) -> None:
    kind, arg, *rest = op
    items = root.items
    item = items.get(arg) if isinstance(arg, str) else None
    if kind == "put":
        items[arg] = Item(rest[0])
    elif kind == "qty" and item is not None:
        item.qty = rest[0]
    elif kind == "tag" and item is not None:
        item.tags.append(rest[0])
    elif kind == "del":
        items.pop(arg, None)
    elif kind == "readd" and item is not None:
        items[arg] = items.pop(arg)
    elif kind == "alias" and item is not None:
        root.best = item
    elif kind == "unalias":
        root.best = None
    elif kind == "total":
        root.total = arg
    elif kind == "bulk":
        items.update({key: Item(key) for key in arg})


def in_order(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return tree
    return [(key, in_order(op)) for key, op in tree.items() if key is not REORDER]


@settings(max_examples=150, deadline=None)
@given(size=st.integers(60, 130), rounds=ROUNDS)
def test_the_change_along_written_paths_is_the_full_comparison(
    size: int, rounds: list[tuple[list[tuple[Any, ...]], bool]]
) -> None:
    decoded = msgspec.json.decode(
        msgspec.json.encode(Root(items={f"k{n}": Item(f"n{n}") for n in range(size)})), type=Root
    )
    barrier = Barrier("/nowhere")  # type: ignore[arg-type]
    tracker = Tracker(barrier.adopt_decoded(decoded))
    live = decoded
    try:
        for ops, commit in rounds:
            order = list(live.items)
            barrier.accepting = True
            for op in ops:
                apply(live, op)
            barrier.accepting = False
            tree = barrier.changes(tracker, live, None)
            full = tracker.changes(live)
            assert in_order(tree) == in_order(full), (ops, tree, full)
            if not commit:
                # The full comparison's rollback, on a plain copy: where it realigns the
                # dict's keys with the shadow, so does the barrier's.
                twin = msgspec.convert(msgspec.to_builtins(live), Root)
                if full is not None:
                    Tracker(clone(tracker.shadow)).revert(full, twin)
                barrier.undo(tracker)
                assert tracker.changes(live) is None
                realigned = full is not None and REORDER in full.get("items", {})
                if realigned:
                    assert list(live.items) == list(twin.items)
                if order == list(tracker.shadow.items):
                    assert list(live.items) == order  # (a no-op re-add leaves them apart)
                continue
            if tree is not None:
                # The shadow's key order follows what the full comparison's commit gives it.
                twin = Tracker(clone(tracker.shadow))
                assert full is not None
                twin.accept(full, live)
                tracker.accept(tree, live)
                assert list(tracker.shadow.items) == list(twin.shadow.items)
            barrier.settle()
            assert tracker.changes(live) is None
    finally:
        barrier.release()
