"""Write hooks on the user's own Struct classes: `__setattr__`/`__delattr__` that report.

msgspec lets a Struct class take a new `__setattr__` after it was defined; instances,
encoding, decoding, copies and pickles are unaffected. The hook looks the instance up in
the barrier's registry (one dict lookup), tells its barrier, then runs the class's own
method. Instances outside any state are left alone, so hooks are process-wide and
counted: a class stays hooked while an open database's state holds one of its instances.

Frozen classes are never hooked: a hook is a plain function, which would make them
mutable. A subclass inherits its base's hook, so it is not hooked again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .tracked import MISSING, registry

_HOOKED = "__kanta_hook__"
# class -> (how many barriers rely on its hook, its own __setattr__/__delattr__ or MISSING)
_hooked: dict[type, tuple[int, Any, Any]] = {}


def _hooks(original_set: Callable[..., None], original_del: Callable[..., None]) -> Any:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        entry = registry.get(id(self))
        if entry is not None:
            entry[1].write_field(self, name)
        original_set(self, name, value)

    def __delattr__(self: Any, name: str) -> None:
        entry = registry.get(id(self))
        if entry is not None:
            entry[1].write_field(self, name)
        original_del(self, name)

    setattr(__setattr__, _HOOKED, True)
    setattr(__delattr__, _HOOKED, True)
    return __setattr__, __delattr__


def hook(cls: type) -> type | None:
    """Hook `cls` (or count once more on the base whose hook it inherits).

    Returns the class whose hook covers `cls`, to give to `unhook` later; None for a frozen
    class, which is never hooked.
    """
    if cls.__struct_config__.frozen:  # type: ignore[attr-defined]
        return None
    owner = next((base for base in cls.__mro__ if base in _hooked), None)
    if owner is None:
        owner = cls
        original_set, original_del = cls.__setattr__, cls.__delattr__
        hooks = _hooks(original_set, original_del)
        own = (cls.__dict__.get("__setattr__", MISSING), cls.__dict__.get("__delattr__", MISSING))
        cls.__setattr__, cls.__delattr__ = hooks  # type: ignore[method-assign]
        _hooked[cls] = (0, *own)
    count, own_set, own_del = _hooked[owner]
    _hooked[owner] = (count + 1, own_set, own_del)
    return owner


def unhook(owner: type) -> None:
    """One barrier less relies on `owner`'s hook; at none, its own methods are back."""
    count, own_set, own_del = _hooked[owner]
    if count > 1:
        _hooked[owner] = (count - 1, own_set, own_del)
        return
    del _hooked[owner]
    for name, own in (("__setattr__", own_set), ("__delattr__", own_del)):
        if own is MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, own)


def is_hooked(cls: type) -> bool:
    """Whether writes to instances of `cls` reach the barrier."""
    return getattr(cls.__setattr__, _HOOKED, False) is True
