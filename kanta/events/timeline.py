"""The committed states a log event may still ask for, rebuilt from the newest only when asked."""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import Any

from msgspec.structs import force_setattr

from ..state.clone import DICT, clone, kind_of
from ..state.tracker import DELETE, MISSING, REORDER, Tracker, Tree, container_get, container_has

StateGetter = Callable[[], dict[Any, Any] | None]
_UNSET: Any = object()


class StateDicts:
    """The whole state before and after a change, as dicts, built only when first asked for.

    Building them costs what the database holds, so a transaction pays for it only when a
    callback or an event reader wants them; each is built once, and may be asked for at
    any time, also after later transactions (see `Timeline`).
    """

    def __init__(self, previous: StateGetter | None = None, current: StateGetter | None = None):
        self._getters = {"previous": previous, "current": current}
        self._values: dict[str, Any] = {}

    @property
    def previous(self) -> dict[Any, Any] | None:
        """The state before the change (None where there was none)."""
        return self._get("previous")

    @property
    def current(self) -> dict[Any, Any] | None:
        """The state after the change."""
        return self._get("current")

    def _get(self, name: str) -> dict[Any, Any] | None:
        value = self._values.get(name, _UNSET)
        if value is _UNSET:
            getter = self._getters[name]
            value = self._values[name] = getter() if getter is not None else None
            self._getters[name] = None  # what it held (moments of a timeline) can go
        return value  # type: ignore[no-any-return]


class Moment:
    """One committed state that an event may still ask for; links to the next one."""

    __slots__ = ("__weakref__", "next", "redo", "timeline", "undo")

    def __init__(self, timeline: Timeline, redo: Redo | None = None) -> None:
        self.timeline = timeline
        self.next: Moment | None = None
        self.undo: Tree = {}  # what the next transaction replaced: the way back to here
        self.redo = redo  # while its own transaction commits: the moment before, and how


Redo = tuple[Moment, Tree, Any]  # the moment before, the rendered change tree, the live root


class Timeline:
    """The committed states that log events may still ask for, rebuilt only when asked.

    The tracker's shadow is the newest state. While an event holds a moment, each later
    transaction keeps the values it replaced (references, along the changed paths only), so
    any held moment is the shadow with those put back, newest first. The timeline holds its
    newest moment weakly: once no event holds any, transactions keep nothing.
    """

    def __init__(self, tracker: Tracker, to_state: Callable[[Any], Any]) -> None:
        self.tracker = tracker
        self._to_state = to_state
        self._newest: weakref.ref[Moment] | None = None

    def now(self) -> Moment:
        """The moment of the state committed now (the shadow)."""
        moment = self._newest() if self._newest is not None else None
        if moment is None:
            moment = Moment(self)
            self._newest = weakref.ref(moment)
        return moment

    def change(self, tree: Tree, live: Any) -> tuple[Moment, Moment]:
        """The moments before and after the transaction of `tree`, before it is accepted."""
        before = self.now()
        return before, Moment(self, (before, tree, live))

    def advance(self, tree: Tree, after: weakref.ref[Moment] | None) -> None:
        """Before the tracker accepts `tree`: keep what it replaces, if anyone may ask.

        `after` is the moment `change` gave, if its event is still held.
        """
        newest = self._newest() if self._newest is not None else None
        if newest is None:
            return  # no event holds a moment: nobody can ask for the state it leaves
        newest.undo = _replaced(tree, self.tracker.shadow)
        following = after() if after is not None else None
        newest.next = following if following is not None else Moment(self)
        newest.next.redo = None
        self._newest = weakref.ref(newest.next)

    def state(self, moment: Moment) -> Any:
        """The state at `moment`, in the builtin form it has on disk."""
        return self._to_state(_Rebuild().typed(moment))


class _Below:
    """What a transaction replaced inside one container (as opposed to the container)."""

    __slots__ = ("undo",)

    def __init__(self, undo: Tree) -> None:
        self.undo = undo


def _replaced(tree: Tree, shadow: Any) -> Tree:
    """The values of the shadow a change tree replaces; MISSING where it adds a key."""
    undo: Tree = {}
    for key, op in tree.items():
        if key is REORDER:
            continue
        if type(op) is dict:
            undo[key] = _Below(_replaced(op, container_get(shadow, key)))
        else:
            # Accepting replaces these objects in the shadow (never changes them): kept here,
            # they stay as they were.
            undo[key] = container_get(shadow, key) if container_has(shadow, key) else MISSING
    return undo


class _Rebuild:
    """A typed state rebuilt from the shadow: its containers along changed paths are copies.

    Everything else is shared with the shadow and with kept values, and never changed.
    """

    def __init__(self) -> None:
        self._own: dict[int, Any] = {}  # the copies made here, by id (kept, so ids stay)

    def typed(self, moment: Moment) -> Any:
        """The state at `moment`."""
        if moment.redo is not None:
            before, tree, live = moment.redo
            return self._redo(tree, self.typed(before), live)
        undos = []
        while moment.next is not None:
            undos.append(moment.undo)
            moment = moment.next
        root = moment.timeline.tracker.shadow
        for undo in reversed(undos):
            root = self._undo(undo, root)
        return root

    def _owned(self, container: Any) -> Any:
        if id(container) in self._own:
            return container
        mine = copy.copy(container)
        self._own[id(mine)] = mine
        return mine

    def _undo(self, undo: Tree, node: Any) -> Any:
        node = self._owned(node)
        for key, old in undo.items():
            if type(old) is _Below:
                _put(node, key, self._undo(old.undo, container_get(node, key)))
            elif old is MISSING:
                del node[key]
            else:
                _put(node, key, old)
        return node

    def _redo(self, tree: Tree, node: Any, live: Any) -> Any:
        """`tree` applied as `accept` will: its read-back copies, else copies of `live`."""
        node = self._owned(node)
        for key, op in tree.items():
            if key is REORDER:
                continue
            if type(op) is dict:
                inner = self._redo(op, container_get(node, key), container_get(live, key))
                _put(node, key, inner)
            elif op == DELETE:
                del node[key]
            else:
                _put(node, key, op[1] if type(op) is tuple else clone(container_get(live, key)))
        return node


def _put(container: Any, key: Any, value: Any) -> None:
    if kind_of(container) == DICT:
        container[key] = value
    else:
        force_setattr(container, key, value)
