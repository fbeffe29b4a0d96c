"""The structural `--grep` of `kanta log`: patterns over a record's action, user, paths and values.

Patterns never see rendered text. A change record is seen as its action, its user and
the leaves of its diff (a dotted path and the value assigned there, or a deletion); a
snapshot as the leaves of its state. Matching ignores case.

- `word` (bare) matches the action or user by substring, a path by element, or a value.
- `path=value` needs one leaf whose path and value both match; `=value` matches values
  only, `path=` paths only (deletions included).
- A path pattern is dotted elements, each matching one whole path element, with shell
  wildcards (`users.*.email`, `us*`); its elements match a contiguous run of the leaf's
  path anywhere (`email` matches `users.alice.email`).
- A value matches a string value by substring, any other value in full (`true` matches
  the boolean, `tru` does not), a list if one of its items matches; a value pattern with
  wildcards must match the whole text.

This module is pure: it reads no files.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import msgspec

__all__ = [
    "DELETED",
    "GrepError",
    "Hits",
    "Leaf",
    "PathPattern",
    "Pattern",
    "key_text",
    "leaves",
    "match",
    "parse_pattern",
]

_GLOB_CHARS: Final = frozenset("*?[")

Path = tuple[str, ...]


class _Deleted:
    """The value of a leaf whose key a record removed."""

    def __repr__(self) -> str:
        return "DELETED"


DELETED: Final = _Deleted()


class GrepError(ValueError):
    """A grep pattern that cannot be parsed; `pattern` is the offending text."""

    def __init__(self, pattern: str, message: str) -> None:
        super().__init__(f"invalid grep pattern {pattern!r}: {message}")
        self.pattern = pattern


class Leaf(NamedTuple):
    """One path of a tree and the value there (DELETED for a removed key)."""

    path: Path
    value: Any


def key_text(key: Any) -> str:
    """A dict key or list index as a path element (7 and "7" read the same)."""
    return key if isinstance(key, str) else _text(key)[0]


def leaves(value: Any, prefix: Path = ()) -> Iterator[Leaf]:
    """The leaves of a tree: each non-dict value (or empty dict) under nested dicts."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*prefix, key_text(key)))
    else:
        yield Leaf(prefix, value)


@dataclass(frozen=True)
class PathPattern:
    """A dotted path pattern: one case-insensitive shell wildcard per element."""

    text: str
    elements: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> PathPattern:
        """Split a dotted pattern; raises GrepError for an empty element."""
        elements = tuple(element.casefold() for element in text.split("."))
        if not all(elements):
            raise GrepError(text, "empty path element")
        return cls(text, elements)

    def spans(self, path: Path) -> set[int]:
        """Indexes of the path's elements matched by the pattern anywhere along it."""
        found: set[int] = set()
        width = len(self.elements)
        for start in range(len(path) - width + 1):
            if self._fits(path[start : start + width]):
                found.update(range(start, start + width))
        return found

    def matches(self, path: Path) -> bool:
        """Whether the pattern matches the whole path, from the root."""
        return len(path) == len(self.elements) and self._fits(path)

    def touches(self, path: Path) -> bool:
        """Whether a change at `path` can change a value the pattern names (from the root)."""
        common = min(len(path), len(self.elements))
        return _fits(path[:common], self.elements[:common])

    def resolve(self, tree: Any) -> dict[Path, Any]:
        """The concrete paths of `tree` the pattern names from the root, with their values."""
        found: dict[Path, Any] = {}
        self._walk(tree, (), found)
        return found

    def _walk(self, node: Any, path: Path, found: dict[Path, Any]) -> None:
        depth = len(path)
        if depth == len(self.elements):
            found[path] = node
            return
        items: Iterable[tuple[Any, Any]]
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            return
        for key, child in items:
            element = key_text(key)
            if _fit(element, self.elements[depth]):
                self._walk(child, (*path, element), found)

    def _fits(self, path: Path) -> bool:
        return _fits(path, self.elements)


def _fits(path: Sequence[str], elements: Sequence[str]) -> bool:
    return all(_fit(text, element) for text, element in zip(path, elements, strict=True))


def _fit(text: str, element: str) -> bool:
    folded = text.casefold()
    if _GLOB_CHARS.isdisjoint(element):
        return folded == element
    return fnmatch.fnmatchcase(folded, element)


@dataclass(frozen=True)
class Pattern:
    """One `--grep` pattern: a path part, a value part, or a bare word that may be either."""

    text: str
    path: PathPattern | None
    value: str | None  # casefolded
    bare: bool


def parse_pattern(text: str) -> Pattern:
    """Parse `word`, `path=value`, `=value` or `path=`; raises GrepError."""
    if "=" not in text:
        if not text:
            raise GrepError(text, "empty")
        path = PathPattern.parse(text) if all(text.split(".")) else None
        return Pattern(text, path, text.casefold(), bare=True)
    left, right = text.split("=", 1)
    if not left and not right:
        raise GrepError(text, "give a path, a value, or both around '='")
    path = PathPattern.parse(left) if left else None
    return Pattern(text, path, right.casefold() if right else None, bare=False)


@dataclass
class Hits:
    """What the patterns matched in one record: for highlighting and snapshot lines."""

    action: bool = False
    user: bool = False
    paths: dict[Path, set[int]] = field(default_factory=dict)  # leaf path -> matched elements
    values: set[Path] = field(default_factory=set)  # leaf paths whose value matched

    def at(self, path: Path) -> tuple[set[int], bool]:
        """Matched elements of `path`, and whether a value at or under it matched."""
        width = len(path)
        elements = {
            index
            for leaf, matched in self.paths.items()
            if leaf[:width] == path
            for index in matched
            if index < width
        }
        value = any(leaf[:width] == path for leaf in self.values)
        return elements, value

    def leaf_paths(self) -> list[Path]:
        """Every leaf path that matched, path or value, in the order they were found."""
        return list(dict.fromkeys([*self.paths, *self.values]))


Views = Callable[[Leaf], Iterable[Leaf]]
"""Other ways a leaf is shown (its path and value as formatted): they match for the leaf."""


def match(
    patterns: Sequence[Pattern],
    found: Sequence[Leaf],
    action: str | None = None,
    user: str | None = None,
    *,
    views: Views | None = None,
    users: Sequence[str] = (),
) -> Hits | None:
    """The hits of all patterns in one record, or None unless every pattern matched.

    `views` and `users` are other texts of the leaves and the user (a `-k` object's
    logfmt): a pattern matching one of them matches the leaf or user itself.
    """
    hits = Hits()
    names = [name for name in (user, *users) if name is not None]
    for pattern in patterns:
        if not _match_one(pattern, found, action, names, hits, views):
            return None
    return hits


def _match_one(
    pattern: Pattern,
    found: Sequence[Leaf],
    action: str | None,
    users: Sequence[str],
    hits: Hits,
    views: Views | None,
) -> bool:
    matched = False
    if pattern.bare:
        assert pattern.value is not None
        if action is not None and _contains(action, pattern.value):
            hits.action = matched = True
        if any(_contains(user, pattern.value) for user in users):
            hits.user = matched = True
    for leaf in found:
        seen = [leaf, *views(leaf)] if views is not None else [leaf]
        elements = set()
        if pattern.path is not None:
            for view in seen:
                elements.update(pattern.path.spans(view.path))
        value = pattern.value is not None and any(
            _value_matches(pattern.value, view.value) for view in seen
        )
        if pattern.bare:
            hit_path, hit_value = bool(elements), value
        else:
            both = (pattern.path is None or bool(elements)) and (pattern.value is None or value)
            hit_path, hit_value = both and bool(elements), both and value
        if hit_path:
            hits.paths.setdefault(leaf.path, set()).update(elements)
        if hit_value:
            hits.values.add(leaf.path)
        matched = matched or hit_path or hit_value
    return matched


def _contains(text: str, needle: str) -> bool:
    folded = text.casefold()
    if _GLOB_CHARS.isdisjoint(needle):
        return needle in folded
    return fnmatch.fnmatchcase(folded, needle)


def _value_matches(needle: str, value: Any) -> bool:
    if value is DELETED:
        return False
    if isinstance(value, list | tuple):
        return any(_value_matches(needle, item) for item in value)
    if isinstance(value, dict):
        return any(_value_matches(needle, item) for item in value.values())
    text, is_string = _text(value)
    if is_string:
        return _contains(text, needle)
    return fnmatch.fnmatchcase(text.casefold(), needle)


def _text(value: Any) -> tuple[str, bool]:
    """A leaf value as the text patterns see, and whether it matches by substring."""
    if isinstance(value, str):
        return value, True
    # Values read from binary files (bytes, datetimes, UUIDs) match as their JSON text.
    encoded = msgspec.json.encode(value, enc_hook=str).decode()
    if encoded.startswith('"'):
        return msgspec.json.decode(encoded), True
    return encoded, False
