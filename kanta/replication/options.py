"""Where a database replicates to: a JetStream stream, named by a URL or an options object."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

Ack = Literal["replicated", "local"]
ACKS: tuple[Ack, ...] = ("replicated", "local")
# Stream and object-store names share these characters (JetStream forbids `.`, `*`, `>`).
_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class Replication:
    """A database's stream: its servers, its name, and what a flush waits for.

    `ack="replicated"`: a flush returns once the local file is synced and the stream has
    acknowledged every record (with `replicas=3`, a quorum of servers holds them).
    `ack="local"`: a flush returns once the local file is synced; records are published
    in the background, and `db.replication_lag` counts those not yet acknowledged.
    """

    stream: str
    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    replicas: int = 1
    ack: Ack = "replicated"
    credentials: str | None = None  # a NATS .creds file
    timeout: float = 5.0  # seconds one publish waits for the stream's acknowledgement
    attempts: int = 3  # publishes of one batch before the writer stops with ReplicationError
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # unknown URL options

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.stream):
            raise ValueError(
                f"a stream name is 1 to 200 letters, digits, '-' or '_', not {self.stream!r}"
            )
        if self.ack not in ACKS:
            raise ValueError(f"ack must be one of {ACKS}, not {self.ack!r}")
        if self.replicas not in (1, 3, 5):
            raise ValueError(f"replicas must be 1, 3 or 5, not {self.replicas!r}")
        if not self.servers:
            raise ValueError("replication needs at least one server")
        if self.timeout <= 0 or self.attempts < 1:
            raise ValueError("timeout must be positive and attempts at least 1")
        if self.extra:
            raise ValueError(f"unknown replication options: {', '.join(sorted(self.extra))}")

    @property
    def subject(self) -> str:
        """The subject of the stream's change records."""
        return f"kanta.{self.stream}.rec"

    @property
    def snapshot_subject(self) -> str:
        """The subject of the stream's snapshot references (their bytes are in the bucket)."""
        return f"kanta.{self.stream}.snap"

    @property
    def subjects(self) -> list[str]:
        """Every subject the stream holds."""
        return [self.subject, self.snapshot_subject]

    @property
    def wildcard(self) -> str:
        """One subject matching all of the stream's subjects (what a follower tails)."""
        return f"kanta.{self.stream}.>"

    @property
    def bucket(self) -> str:
        """The object-store bucket holding the snapshots' bytes."""
        return f"kanta-{self.stream}"


def replication_of(source: str | Replication) -> Replication:
    """The options a `replicate=` or follower source names: a URL, or options as they are.

    A URL is `nats://host:port[,host:port...]/STREAM[?replicas=3&ack=local&timeout=5]`,
    with `user:password@` before the hosts where the servers want them.
    """
    if isinstance(source, Replication):
        return source
    if not isinstance(source, str):
        raise TypeError(f"replicate takes a nats:// URL or a Replication, not {source!r}")
    parts = urlsplit(source)
    if parts.scheme not in ("nats", "tls") or not parts.netloc:
        raise ValueError(f"a replication URL looks like nats://host:4222/STREAM, not {source!r}")
    login, _, hosts = parts.netloc.rpartition("@")
    prefix = f"{parts.scheme}://" + (f"{login}@" if login else "")
    servers = tuple(prefix + host for host in hosts.split(",") if host)
    options = dict(parse_qsl(parts.query))
    settings = Replication(stream=parts.path.strip("/") or "?", servers=servers, extra={})
    return replace(
        settings,
        replicas=int(options.pop("replicas", settings.replicas)),
        ack=options.pop("ack", settings.ack),  # type: ignore[arg-type]  # checked on creation
        timeout=float(options.pop("timeout", settings.timeout)),
        attempts=int(options.pop("attempts", settings.attempts)),
        credentials=options.pop("credentials", None),
        extra=options,
    )
