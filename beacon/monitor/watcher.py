"""One watcher per node: reads the node's Beacon API and feeds the Model.

On (re)connect: identity and version, every fork tip (debug/beacon/heads) with the blocks
under it back to a known block (at most MAX_BACKFILL), the head and its state root. Then
the event stream (head, block, chain_reorg, finalized_checkpoint) drives updates, and a poll
every POLL seconds refreshes checkpoints and peers (and catches anything the stream missed).
A node that goes away is marked offline and retried every RETRY seconds; nothing the
monitor has already drawn is lost.
"""
from __future__ import annotations

import json
import logging
from typing import Any, AsyncIterator, Callable, Optional

import httpx
import trio

from beacon.monitor.model import Model

log = logging.getLogger("beacon.monitor")

MAX_BACKFILL = 20000
POLL = 2.0
RETRY = 1.0
TIMEOUT = httpx.Timeout(10.0, read=30.0)  # reads: the node sends a keepalive every 10 s
ZERO_ROOT = "0x" + "00" * 32


class NodeApi:
    """The few Beacon API calls the monitor makes, on one shared httpx client."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url.rstrip("/")

    async def data(self, path: str) -> Any:
        r = await self.client.get(self.url + path, timeout=TIMEOUT)
        if r.status_code != 200:
            raise ApiFailure(r.status_code, _message(r))
        return r.json()["data"]

    async def ssz(self, path: str) -> bytes:
        r = await self.client.get(self.url + path, headers={"Accept": "application/octet-stream"}, timeout=TIMEOUT)
        if r.status_code != 200:
            raise ApiFailure(r.status_code, _message(r))
        return r.content

    async def events(self, topics: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async with self.client.stream("GET", f"{self.url}/eth/v1/events?topics={topics}", timeout=TIMEOUT,
                                      headers={"Accept": "text/event-stream"}) as r:
            if r.status_code != 200:
                raise ApiFailure(r.status_code, "event stream refused")
            event, data = "", []
            async for line in r.aiter_lines():
                if line == "":
                    if event and data:
                        yield event, json.loads("\n".join(data))
                    event, data = "", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())


class ApiFailure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _leaf(e: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups from trio nurseries."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def _message(r: httpx.Response) -> str:
    try:
        return str(r.json().get("message", ""))[:200]
    except ValueError:
        return r.text[:200]


class Watcher:
    def __init__(self, model: Model, name: str, api: NodeApi,
                 on_block: Optional[Callable[[str, str], None]] = None) -> None:
        self.model = model
        self.name = name
        self.api = api
        self.on_block = on_block  # (root, node name): a new block for the replay
        self.genesis_root: Optional[str] = None
        self._reorg_depth: Optional[int] = None
        self._last_epoch_counted = -1

    async def run(self) -> None:
        while True:
            try:
                await self._connect()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._poll_loop)
                    await self._events()
                    nursery.cancel_scope.cancel()
                raise ApiFailure(0, "event stream ended")
            except Exception as group:  # noqa: BLE001 - a watcher never dies; the node is marked offline
                e = _leaf(group)
                text = str(e) or type(e).__name__
                if not isinstance(e, (httpx.HTTPError, OSError, ApiFailure, ValueError, KeyError)):
                    log.warning("%s: unexpected %s while watching", self.name, type(e).__name__, exc_info=e)
                elif self.model.nodes[self.name].online:
                    log.info("%s (%s): %s", self.name, self.api.url, text)
                self.model.set_node(self.name, online=False, error=text[:200])
            await trio.sleep(RETRY)

    # --- blocks -------------------------------------------------------------------------------
    async def ensure_block(self, root: str) -> bool:
        """Put `root` and its unknown ancestors in the tree (oldest first)."""
        if self.model.has(root):
            self.model.seen(root, self.name)
            return True
        chain: list[tuple[str, dict[str, Any]]] = []
        r: Optional[str] = root
        while r is not None and not self.model.has(r) and len(chain) < MAX_BACKFILL:
            try:
                block = await self.api.data(f"/eth/v1/beacon/blocks/{r}")
            except ApiFailure as e:
                if e.status == 404 and chain:
                    break  # below what the node keeps: start the tree here
                raise
            chain.append((r, block))
            msg = block["message"]
            r = None if int(msg["slot"]) == 0 else msg["parent_root"]
        for r, block in reversed(chain):
            msg = block["message"]
            self.model.add_block(r, int(msg["slot"]), msg["parent_root"] if int(msg["slot"]) else None,
                                 msg["state_root"], seen_by=self.name)
            self.model.add_attestations(msg["body"]["attestations"])
            if self.on_block is not None:
                self.on_block(r, self.name)
        return True

    # --- connect, events, poll --------------------------------------------------------------
    async def _connect(self) -> None:
        ident = await self.api.data("/eth/v1/node/identity")
        version = (await self.api.data("/eth/v1/node/version"))["version"]
        self.genesis_root = (await self.api.data("/eth/v1/beacon/blocks/genesis/root"))["root"]
        await self.ensure_block(self.genesis_root)
        for h in await self.api.data("/eth/v1/debug/beacon/heads"):
            await self.ensure_block(h["root"])
        self.model.set_node(self.name, online=True, error="", peer_id=ident["peer_id"], version=version)
        await self._refresh_head()
        await self._refresh_checkpoints()
        log.info("%s: watching %s (%s)", self.name, self.api.url, version)

    async def _refresh_head(self) -> None:
        head = await self.api.data("/eth/v1/beacon/headers/head")
        state = (await self.api.data("/eth/v1/beacon/states/head/root"))["root"]
        await self.ensure_block(head["root"])
        self.model.set_head(self.name, head["root"], int(head["header"]["message"]["slot"]), state)

    async def _refresh_checkpoints(self) -> None:
        fc = await self.api.data("/eth/v1/beacon/states/head/finality_checkpoints")

        def cp(c: dict[str, str]) -> tuple[int, str]:
            root = c["root"] if c["root"] != ZERO_ROOT else (self.genesis_root or ZERO_ROOT)
            return int(c["epoch"]), root

        self.model.set_node(self.name, justified=cp(fc["current_justified"]), finalized=cp(fc["finalized"]))

    async def _events(self) -> None:
        async for event, doc in self.api.events("head,block,chain_reorg,finalized_checkpoint"):
            if event == "block":
                await self.ensure_block(doc["block"])
            elif event == "chain_reorg":
                self._reorg_depth = int(doc["depth"])
            elif event == "head":
                await self.ensure_block(doc["block"])
                self.model.set_head(self.name, doc["block"], int(doc["slot"]), doc["state"], self._reorg_depth)
                self._reorg_depth = None
                if doc.get("epoch_transition"):
                    await self._refresh_checkpoints()
            elif event == "finalized_checkpoint":
                await self._refresh_checkpoints()

    async def _poll_loop(self) -> None:
        while True:
            await trio.sleep(POLL)
            await self._refresh_checkpoints()
            peers = await self.api.data("/eth/v1/node/peers")
            self.model.set_node(self.name, peers=sorted(p["peer_id"] for p in peers if p["state"] == "connected"))
            node = self.model.nodes[self.name]
            epoch = (node.head_slot or 0) // self.model.spe
            if epoch != self._last_epoch_counted:
                active = await self.api.data("/eth/v1/beacon/states/head/validators?status=active")
                self.model.set_active_validators(len(active))
                self._last_epoch_counted = epoch


# The interop gauges (eth2.0-metrics, 2019) every client of the time served.
_GAUGES = ("beacon_head_slot", "beacon_head_root", "beacon_current_justified_epoch",
           "beacon_current_justified_root", "beacon_finalized_epoch", "beacon_finalized_root", "libp2p_peers")


def parse_gauges(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        if name in _GAUGES:
            try:
                out[name] = float(rest.split()[0])
            except (ValueError, IndexError):
                continue
    return out


class MetricsWatcher:
    """A node without the Beacon API (another 2019 client), read through its interop metrics:
    head slot, and head/justified/finalized roots, which are only the int64 of a root's last
    8 bytes (as a float): they are placed on the tree when a watched node has that block."""

    def __init__(self, model: Model, name: str, client: httpx.AsyncClient, url: str) -> None:
        self.model = model
        self.name = name
        self.client = client
        self.url = url
        model.nodes[name].source = "metrics"

    async def run(self) -> None:
        while True:
            try:
                r = await self.client.get(self.url, timeout=TIMEOUT)
                if r.status_code != 200:
                    raise ApiFailure(r.status_code, "metrics refused")
                g = parse_gauges(r.text)
                if "beacon_head_slot" not in g:
                    raise ApiFailure(200, "no beacon_head_slot in the metrics")
                self._apply(g)
            except Exception as group:  # noqa: BLE001 - the watcher never dies
                e = _leaf(group)
                self.model.set_node(self.name, online=False, error=(str(e) or type(e).__name__)[:200])
            await trio.sleep(POLL / 2)

    def _root(self, g: dict[str, float], name: str) -> Optional[str]:
        return self.model.by_gauge.get(g[name]) if name in g else None

    def _apply(self, g: dict[str, float]) -> None:
        m = self.model
        m.set_node(self.name, online=True, error="", peer_count=int(g.get("libp2p_peers", 0)))
        head = self._root(g, "beacon_head_root")
        slot = int(g["beacon_head_slot"])
        if head is not None:
            m.set_head(self.name, head, slot, None)
        else:
            m.set_node(self.name, head_slot=slot, head_root=None)
        just, fin = self._root(g, "beacon_current_justified_root"), self._root(g, "beacon_finalized_root")
        m.set_node(self.name,
                   justified=(int(g.get("beacon_current_justified_epoch", 0)), just) if just else None,
                   finalized=(int(g.get("beacon_finalized_epoch", 0)), fin) if fin else None)
