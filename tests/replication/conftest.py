"""Fixtures of the replication tests: real nats-server processes (see natsservers.py)."""

from natsservers import nats_binary, nats_cluster, nats_server

__all__ = ["nats_binary", "nats_cluster", "nats_server"]
