"""Replication: a database's log published to a NATS JetStream stream, and takeovers."""

from .options import Replication, replication_of

__all__ = ["Replication", "replication_of"]
