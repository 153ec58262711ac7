"""Separate hosts on one machine: a Linux network namespace per node, joined by a bridge.

Layout for a run by harness process PID (names carry the PID so concurrent runs never touch
each other's namespaces, and a crashed run's leftovers are recognisable):

    pbtn-PID-br   a namespace holding bridge br0 and one veth end vN per node
    pbtn-PID-N    node N's namespace: lo, and eth0 = 10.77.0.(10+N)/24, the other veth end

Nothing is added to the root namespace: the subnet exists only inside our namespaces, so it
cannot collide with the host's networks. The harness reaches a node's HTTP API (listening on
127.0.0.1 inside the node's namespace) with a socket opened from inside that namespace
(setns(2) in a short-lived thread). Deleting the namespaces removes every interface with them.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import threading
import time
from typing import Callable, Iterable, TypeVar

from beacon.testnet.spec import Link

PREFIX = "pbtn"
SUBNET = "10.77.0"
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"
T = TypeVar("T")


class NetnsError(RuntimeError):
    """Setting up the namespaces failed; the message names the command and its error."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetnsError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.returncode}")
    return proc


def unavailable_reason() -> str | None:
    """Why --netns cannot work here, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, or drop --netns to use 127.0.0.1 ports)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found: install iproute2 (apt-get update && apt-get install -y iproute2)"
    return None


def list_namespaces() -> list[str]:
    proc = _ip("netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(ns: str) -> None:
    """SIGKILL whatever still runs in a namespace (only ever one of ours)."""
    proc = _ip("netns", "pids", ns, check=False)
    for word in proc.stdout.split():
        if word.isdigit():
            try:
                os.kill(int(word), 9)
            except ProcessLookupError:
                pass


def clean_stale() -> list[str]:
    """Delete namespaces left by harness runs whose process is gone; returns their names."""
    removed = []
    for ns in list_namespaces():
        parts = ns.split("-")
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
            continue
        if _owner_alive(int(parts[1])):
            continue  # a concurrent run's namespace
        _kill_inside(ns)
        _ip("netns", "del", ns, check=False)
        removed.append(ns)
    return removed


_libc = ctypes.CDLL(None, use_errno=True)


def connect_in_netns(ns: str, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection made from inside namespace `ns` (the socket stays bound to it)."""
    try:
        return in_netns(ns, lambda: socket.create_connection((host, port), timeout=timeout), timeout + 5)
    except OSError as e:
        if str(e) == f"{ns}: timed out":
            raise OSError(f"connect in {ns} timed out") from None
        raise


class NetnsLab:
    """The namespaces, bridge and links of one run; `teardown` is safe to call repeatedly."""

    def __init__(self, owner_pid: int | None = None) -> None:
        self.owner = owner_pid or os.getpid()
        self.bridge_ns = f"{PREFIX}-{self.owner}-br"
        self.node_ns: dict[str, str] = {}
        self.ips: dict[str, str] = {}
        self.created: list[str] = []

    def setup(self, node_ids: Iterable[str]) -> dict[str, str]:
        """Create everything; returns node id -> IP. Cleans up itself if a step fails."""
        try:
            self._add_ns(self.bridge_ns)
            _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
            for i, node_id in enumerate(node_ids):
                ns = f"{PREFIX}-{self.owner}-{i}"
                self._add_ns(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                # Both ends are created from the bridge namespace, so no interface ever
                # appears in the root namespace, even for a moment.
                _ip("-n", self.bridge_ns, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("-n", self.bridge_ns, "link", "set", f"v{i}", "master", "br0")
                _ip("-n", self.bridge_ns, "link", "set", f"v{i}", "up")
                ip = f"{SUBNET}.{10 + i}"
                _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                self.node_ns[node_id], self.ips[node_id] = ns, ip
        except BaseException:
            self.teardown()
            raise
        return dict(self.ips)

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.created.append(ns)

    def shape(self, node_id: str, link: Link) -> str:
        """tc netem on the node's eth0 (its egress); returns the qdisc line for the report."""
        args = ["netem"]
        if link.latency_ms:
            args += ["delay", f"{link.latency_ms:g}ms"]
            if link.jitter_ms:
                args += [f"{link.jitter_ms:g}ms"]
        if link.loss_pct:
            args += ["loss", f"{link.loss_pct:g}%"]
        ns = self.node_ns[node_id]
        cmd = ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            err = proc.stderr.strip()
            hint = (" (this kernel has no sch_netem: load the module or use a kernel with it)"
                    if "unknown" in err.lower() else "")
            raise NetnsError(f"`{' '.join(cmd)}` failed: {err}{hint}")
        shown = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "eth0"],
                               capture_output=True, text=True, timeout=30)
        return shown.stdout.strip()

    def exec_prefix(self, node_id: str) -> list[str]:
        # `ip netns exec` execs the command in place, so the PID we get is the node's.
        return ["ip", "netns", "exec", self.node_ns[node_id]]

    def connector(self, node_id: str):  # -> status.Connector
        ns = self.node_ns[node_id]
        return lambda host, port, timeout: connect_in_netns(ns, host, port, timeout)

    def teardown(self) -> None:
        for ns in reversed(self.created):
            _kill_inside(ns)
        if self.created:
            time.sleep(0.05)  # let the killed processes release the namespace
        for ns in reversed(self.created):
            _ip("netns", "del", ns, check=False)
        self.created = [ns for ns in self.created if ns in list_namespaces()]


def netem_unavailable_reason() -> str | None:
    """Probe the kernel for sch_netem in a throwaway namespace of our own."""
    if (reason := unavailable_reason()) is not None:
        return reason
    ns = f"{PREFIX}-{os.getpid()}-probe"
    try:
        _ip("netns", "add", ns)
        proc = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                               "delay", "1ms"], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            return f"tc netem is unavailable in this kernel: {proc.stderr.strip()}"
        return None
    except NetnsError as e:
        return str(e)
    finally:
        _ip("netns", "del", ns, check=False)


def in_netns(ns: str, make: Callable[[], T], timeout: float = 10.0) -> T:
    """Run `make` (which opens a socket) in a thread that entered namespace `ns`; the socket it
    returns stays in that namespace (the status reads connect in a node's, the link relays
    listen and connect there)."""
    result: dict[str, object] = {}

    def work() -> None:
        # setns changes only the calling thread, which ends right after: the harness's other
        # threads stay in the root namespace.
        try:
            fd = os.open(f"{NETNS_DIR}/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = make()
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=work, name=f"in-{ns}", daemon=True)
    t.start()
    t.join(timeout)
    if "value" in result:
        return result["value"]  # type: ignore[return-value]
    raise result.get("error") or OSError(f"{ns}: timed out")  # type: ignore[misc]
