"""When to write a snapshot: after the log has grown by about the size of the state."""

from __future__ import annotations

from typing import NamedTuple


class SnapshotPolicy(NamedTuple):
    """Snapshot once the change records since the last snapshot outweigh the state itself.

    Opening replays from the last snapshot, so the bytes replayed at open stay below
    `ratio` times the state's size (or `min_bytes` for a small state), whatever the
    rate of changes: time does not enter into it.
    """

    ratio: float = 1.0
    min_bytes: int = 256 * 1024

    def due(self, replay_bytes: int, state_bytes: int) -> bool:
        """Whether a snapshot should be written now."""
        return replay_bytes > max(self.min_bytes, self.ratio * state_bytes)
