"""How an opening database takes its stream over and hands its writer a publisher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from ..errors import DatabaseError
from ..storage.logfile import LogFile
from ..storage.writer import Writer
from .options import Replication
from .publisher import Publisher
from .stream import Stream
from .takeover import reconcile


async def take_over(options: Replication, file: LogFile, now: datetime) -> tuple[Stream, int]:
    """Connect, bring the locked file into agreement with the stream; its last sequence."""
    stream = await Stream.connect(options)
    try:
        reconciled = await reconcile(stream, file, now)
    except BaseException:
        await stream.close()
        raise
    return stream, reconciled.last_seq


def attach(
    writer: Writer, stream: Stream, last_seq: int, report: Callable[[], Awaitable[None]]
) -> Publisher:
    """Publish every batch `writer` appends from now on, after `last_seq`.

    A background publish that fails stops the writer and is reported (`report`: the
    database's fatal_error handlers) at once, not only when a later call trips over it.
    """

    async def failed(error: DatabaseError) -> None:
        writer.fail(error)
        await report()

    publisher = Publisher(stream, last_seq, failed)
    writer.replica = publisher
    return publisher
