"""Property tests for state.normalise: the record opening writes makes the file match the code."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from kanta.core.jsonlines import JsonSerializer
from kanta.core.msgpackframes import MsgPackSerializer
from kanta.core.patch import patch
from kanta.state.normalise import normalisation


class Item(msgspec.Struct):
    """An entry with defaults, as a schema grows them."""

    name: str = ""
    count: int = 0
    tags: set[str] = set()
    price: float = 0.0


class Root(msgspec.Struct):
    """The root type."""

    items: dict[str, Item] = {}
    title: str = "untitled"


names = st.text(alphabet="abcxyz", min_size=1, max_size=3)
stored_items = st.fixed_dictionaries(
    {},
    optional={
        "name": names,
        "count": st.integers(-5, 5),
        "tags": st.lists(names, max_size=3, unique=True),
        "price": st.integers(0, 3) | st.floats(0, 3, allow_nan=False),
        "retired": st.booleans(),  # a field the code no longer has
    },
)
stored_roots = st.fixed_dictionaries(
    {}, optional={"items": st.dictionaries(names, stored_items, max_size=4), "title": names}
)
codecs = st.sampled_from([JsonSerializer(), MsgPackSerializer()])


@settings(max_examples=300, deadline=None)
@given(stored_roots, codecs)
def test_the_normalisation_brings_the_stored_state_to_the_typed_one(
    stored: dict[str, Any], codec: Any
) -> None:
    live = codec.from_state(stored, Root)
    change = normalisation(codec, stored, live)
    after = patch(stored, change) if change else stored
    # What the file then holds is what the code writes, but for a set's order.
    assert _tags_sorted(after) == _tags_sorted(codec.to_state(live))
    canonical = codec.to_state(live)
    assert normalisation(codec, canonical, codec.from_state(canonical, Root)) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(names, min_size=2, max_size=5, unique=True), codecs)
def test_the_same_set_members_in_another_order_are_no_change(tags: list[str], codec: Any) -> None:
    stored = {
        "items": {"a": {"name": "", "count": 0, "tags": tags[::-1], "price": 0.0}},
        "title": "untitled",
    }
    live = codec.from_state(stored, Root)
    assert normalisation(codec, stored, live) is None


def _tags_sorted(state: Any) -> Any:
    plain = msgspec.json.decode(msgspec.json.encode(state))
    for item in plain.get("items", {}).values():
        item["tags"] = sorted(item.get("tags", []))
    return plain
