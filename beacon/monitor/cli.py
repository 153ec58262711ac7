"""`pybeacon monitor URL [URL...]`: the live block explorer and fork monitor.

    pybeacon monitor http://127.0.0.1:5052 B=http://127.0.0.1:5053 --port 8090

Each URL is a node's Beacon API (NAME=URL names it on the page; by default its host:port).
The page (http://127.0.0.1:8090/) draws the union block tree of every node's view, each
node's head and checkpoints, disagreements, participation per epoch and the peer graph, and
shows a clicked block's contents with its state root as each node reports it.
"""
from __future__ import annotations

import argparse
import logging
import sys
from urllib.parse import urlsplit

import httpx
import trio

from beacon.monitor.model import Model

log = logging.getLogger("beacon.monitor")


def parse_targets(values: list[str]) -> list[tuple[str, str]]:
    """[(name, url)]; a url "metrics:http://..." is a node read through its interop metrics."""
    out: list[tuple[str, str]] = []
    for v in values:
        name, sep, url = v.partition("=")
        if not sep:
            name, url = "", v
        parts = urlsplit(url.removeprefix("metrics:"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not a node API URL (like http://127.0.0.1:5052 or NAME=http://...)")
        name = name or parts.netloc + ("/metrics" if url.startswith("metrics:") else "")
        if any(n == name for n, _ in out):
            raise ValueError(f"two nodes are named {name!r}; give each a distinct NAME=URL")
        out.append((name, url.rstrip("/")))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("urls", nargs="+", metavar="URL",
                        help="a node's API, http://HOST:PORT (or NAME=URL); metrics:http://HOST:PORT/metrics reads "
                             "a node without the API (another client) through its interop metrics")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve the page on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port of the page (default 8090; 0: any free port)")
    parser.add_argument("--no-replay", action="store_true",
                        help="do not replay blocks through the monitor's own state transition")
    parser.add_argument("--slots-per-epoch", type=int, default=8, help="SLOTS_PER_EPOCH of the chain (minimal: 8)")


async def serve_monitor(targets: list[tuple[str, str]], host: str, port: int, replay: bool = True,
                        slots_per_epoch: int = 8,
                        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    from beacon.api.server import serve
    from beacon.monitor.replay import Replayer
    from beacon.monitor.server import MonitorServer
    from beacon.monitor.watcher import MetricsWatcher, NodeApi, Watcher

    model = Model(targets, slots_per_epoch)
    limits = httpx.Limits(max_connections=8 * len(targets) + 8, max_keepalive_connections=4 * len(targets))
    async with httpx.AsyncClient(limits=limits) as client:
        apis = {name: NodeApi(client, url) for name, url in targets if not url.startswith("metrics:")}
        replayer = Replayer(model, apis) if replay and apis else None
        server = MonitorServer(model, apis)
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(serve, server.app(), host, port, "monitor")
            for name, url in targets:
                if url.startswith("metrics:"):
                    nursery.start_soon(MetricsWatcher(model, name, client, url.removeprefix("metrics:")).run)
                    continue
                on_block = replayer.submit if replayer else None
                nursery.start_soon(Watcher(model, name, apis[name], on_block).run)
            if replayer:
                nursery.start_soon(replayer.run)
            task_status.started(bound)


def run(args: argparse.Namespace) -> int:
    from beacon.monitor.server import vendor_missing

    try:
        targets = parse_targets(args.urls)
    except ValueError as e:
        print(f"pybeacon monitor: {e}", file=sys.stderr)
        return 2
    if not 0 <= args.port < 65536:
        print(f"pybeacon monitor: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    if missing := vendor_missing():
        print(f"pybeacon monitor: {missing}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_monitor, targets, args.host, args.port, not args.no_replay,
                                       args.slots_per_epoch)
            print(f"monitor: http://{args.host}:{port}/ watching {len(targets)} node(s): "
                  + ", ".join(f"{n}={u}" for n, u in targets), flush=True)

    try:
        trio.run(main)
    except KeyboardInterrupt:
        return 130
    except BaseException as e:  # noqa: BLE001 - nursery errors arrive as exception groups
        leaf = e
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        if isinstance(leaf, KeyboardInterrupt):
            return 130
        if isinstance(leaf, OSError):
            print(f"pybeacon monitor: cannot serve on {args.host}:{args.port}: {leaf.strerror or leaf}", file=sys.stderr)
            return 2
        raise
    return 0
