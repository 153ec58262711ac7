"""Reading a node's view of the chain: pybeacon's status JSON, Prometheus metrics, or a log.

All knowledge of what a node serves lives here, so when the node's API moves only this file
changes. Every reader returns an Observation; a reader that cannot reach the node raises
ObserveError and the watcher records the failure as a sample.
"""
from __future__ import annotations

import dataclasses
import http.client
import json
import re
import socket
from pathlib import Path
from typing import Any, Callable

# Opens a TCP connection to (host, port); the netns lab passes one that connects from inside
# a node's network namespace, where the node's HTTP API listens on 127.0.0.1.
Connector = Callable[[str, int, float], socket.socket]


class ObserveError(Exception):
    """The node did not answer, or answered something unreadable."""


@dataclasses.dataclass
class Observation:
    head_slot: int | None = None
    head_root: str | None = None
    justified_epoch: int | None = None
    finalized_epoch: int | None = None
    finalized_root: str | None = None
    peers: int | None = None
    peer_ids: list[str] | None = None  # known only from the status JSON
    syncing: bool | None = None
    genesis_root: str | None = None  # from a log only: the genesis state root the client built
    reorgs: int | None = None  # reorgs since the node started, where it says
    reorg_depth: int | None = None  # its deepest reorg in slots


def default_connector(host: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


class _Connection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, timeout: float, connector: Connector) -> None:
        super().__init__(host, port, timeout=timeout)
        self._connector = connector

    def connect(self) -> None:
        self.sock = self._connector(self.host, self.port, self.timeout)


def _request(host: str, port: int, method: str, path: str, body: bytes | None, headers: dict[str, str],
             timeout: float, connector: Connector) -> tuple[int, bytes]:
    """One HTTP request through `connector` (inside a node's namespace with --netns)."""
    conn = _Connection(host, port, timeout, connector)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as e:
        raise ObserveError(f"{method} {path} on {host}:{port}: {e or type(e).__name__}") from None
    finally:
        conn.close()


def http_get(host: str, port: int, path: str, timeout: float = 2.0,
             connector: Connector = default_connector) -> bytes:
    status, body = _request(host, port, "GET", path, None, {"Accept": "application/json, text/plain"},
                            timeout, connector)
    if status != 200:
        raise ObserveError(f"GET {path} on {host}:{port}: HTTP {status}")
    return body


def http_json(host: str, port: int, method: str, path: str, body: Any = None, timeout: float = 5.0,
              connector: Connector = default_connector) -> tuple[int, Any]:
    """One JSON request: (status, decoded body). The harness's POSTs to a node (offline, exit,
    equivocate orders) use it."""
    headers = {"Accept": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    status, raw = _request(host, port, method, path, data, headers, timeout, connector)
    try:
        return status, json.loads(raw) if raw.strip() else None
    except ValueError:
        raise ObserveError(f"{method} {path} on {host}:{port}: HTTP {status}, not JSON") from None


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    return int(value)  # slots may come as "12" (eth2 APIs quote uint64)


def parse_status(body: bytes) -> Observation:
    """The `GET /node/status` document (contract in docs/testnet.md)."""
    try:
        doc = json.loads(body)
        head, just, fin = doc.get("head") or {}, doc.get("justified") or {}, doc.get("finalized") or {}
        peers = doc.get("peers")
        reorgs = doc.get("reorgs") or {}
        return Observation(
            reorgs=_as_int(reorgs.get("count")), reorg_depth=_as_int(reorgs.get("max_depth")),
            head_slot=_as_int(head.get("slot")), head_root=head.get("root"),
            justified_epoch=_as_int(just.get("epoch")),
            finalized_epoch=_as_int(fin.get("epoch")), finalized_root=fin.get("root"),
            peers=len(peers) if isinstance(peers, list) else None,
            peer_ids=[str(p.get("id")) for p in peers] if isinstance(peers, list) else None,
            syncing=bool(doc["syncing"]) if "syncing" in doc else None,
        )
    except (ValueError, TypeError, AttributeError) as e:
        raise ObserveError(f"status document is not as agreed: {e}") from None


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
# The interop metric names (eth2.0-metrics, 2019); roots are int64 gauges of the root's last
# 8 bytes, compared only for equality between nodes.
METRIC_FIELDS = {
    "beacon_head_slot": "head_slot",
    "beacon_head_root": "head_root",
    "beacon_current_justified_epoch": "justified_epoch",
    "beacon_finalized_epoch": "finalized_epoch",
    "beacon_finalized_root": "finalized_root",
    "libp2p_peers": "peers",
    "beacon_reorgs_total": "reorgs",  # pybeacon's; not an interop name
    "beacon_reorg_max_depth": "reorg_depth",
}


_ABBREVIATED = re.compile(r"^(?:0x)?([0-9a-f]{4})\.\.([0-9a-f]{4})$")


def is_abbreviated(root: str) -> bool:
    """A root as some clients log it: first and last 2 bytes in hex (`a8dd..5d98`)."""
    return _ABBREVIATED.match(root.strip().lower()) is not None


def root_key(root: str, abbreviated: bool = False) -> str:
    """A key under which equal roots compare equal whether read from JSON, metrics or a log.

    Metrics carry only the signed little-endian int64 of a root's last 8 bytes, and a
    Prometheus gauge is a float64, so clients print it rounded to 53 bits. Both spellings are
    reduced to that float; 53 bits are plenty to tell forks apart. With `abbreviated` (some
    node of the run logs roots as `a8dd..5d98`) full hex roots are cut to that form instead:
    4 bytes still tell the forks of a two-node run apart.
    """
    text = root.strip().lower()
    if abbreviated:
        if m := _ABBREVIATED.match(text):
            return f"{m.group(1)}..{m.group(2)}"
        if text.startswith("0x") and len(text) == 66:
            return f"{text[2:6]}..{text[-4:]}"
    try:
        if text.startswith("0x") and len(text) == 66:
            return repr(float(int.from_bytes(bytes.fromhex(text[2:])[-8:], "little", signed=True)))
        return repr(float(text))
    except ValueError:
        return text


def parse_metrics(text: str) -> Observation:
    """Prometheus text exposition; only the interop beacon metrics are read."""
    obs = Observation()
    found = False
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m or m.group(1) not in METRIC_FIELDS:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        field = METRIC_FIELDS[m.group(1)]
        setattr(obs, field, m.group(3) if field.endswith("_root") else int(value))
        found = True
    if not found or obs.head_slot is None:
        raise ObserveError("metrics have no beacon_head_slot")
    return obs


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (some clients colour their log lines)."""
    return _ANSI.sub("", text)


class LogReader:
    """Follows a node's log and keeps the last value each pattern captured (numbers; roots as text)."""

    def __init__(self, path: Path, patterns: dict[str, str]) -> None:
        self.path = path
        self.patterns = {k: re.compile(v) for k, v in patterns.items()}
        self.offset = 0
        self.latest: dict[str, int | str] = {}

    def observe(self) -> Observation:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError as e:
            raise ObserveError(f"cannot read {self.path}: {e.strerror}") from None
        # Only whole lines: a line being written is read on the next poll.
        cut = chunk.rfind(b"\n") + 1
        self.offset += cut
        for line in strip_ansi(chunk[:cut].decode(errors="replace")).splitlines():
            for field, rx in self.patterns.items():
                if m := rx.search(line):
                    if field.endswith("_root"):
                        self.latest[field] = m.group(1)
                        continue
                    try:
                        self.latest[field] = int(m.group(1))
                    except ValueError:
                        pass
        # Any line matched means the node runs and logs as described; a node without validators
        # may import no block for a long time (exercise 1: never), and its head is then unknown.
        if not self.latest:
            raise ObserveError("nothing in the log matched its patterns yet")
        return Observation(**{k: v for k, v in self.latest.items()})


def observe(watch: str, host: str, http_port: int, metrics_port: int, *, status_path: str = "/node/status",
            metrics_path: str = "/metrics", log: LogReader | None = None, timeout: float = 2.0,
            connector: Connector = default_connector) -> Observation:
    if watch == "status":
        return parse_status(http_get(host, http_port, status_path, timeout, connector))
    if watch == "metrics":
        return parse_metrics(http_get(host, metrics_port, metrics_path, timeout, connector).decode(errors="replace"))
    if watch == "log" and log is not None:
        return log.observe()
    raise ValueError(f"unknown watch mode {watch!r}")
