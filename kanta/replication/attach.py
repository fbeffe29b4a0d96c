"""How an opening database takes its stream over and hands its writer a publisher."""

from __future__ import annotations

from datetime import datetime

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


def attach(writer: Writer, stream: Stream, last_seq: int) -> Publisher:
    """Publish every batch `writer` appends from now on, after `last_seq`."""
    publisher = Publisher(stream, last_seq, writer.fail)
    writer.replica = publisher
    return publisher
