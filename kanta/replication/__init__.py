"""Replication: a database's log published to a NATS JetStream stream, followers, restore."""

from .follower import Follower
from .options import Replication, replication_of
from .restore import restore

__all__ = ["Follower", "Replication", "replication_of", "restore"]
