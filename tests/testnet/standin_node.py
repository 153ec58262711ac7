#!/usr/bin/env python3
"""A stand-in beacon node for testing the testnet harness until the real node runs.

It takes the node's command line, announces a multiaddr, really listens and dials over TCP
(a one-line hello exchange, so the peer lists are real), and serves the status JSON and the
interop metrics. Its chain is the wall clock: the head follows the current slot (a node that
starts late "syncs" at 2 slots a second), justified is the previous epoch and finalized the
one before. Flags for tests: --fork-from-slot/--fork-salt give it different head roots
(a fork), --exit-at-slot makes it die.

    standin_node.py genesis --validators N --genesis-time T --out FILE   (8-byte genesis time + padding)
    standin_node.py node --genesis FILE --datadir DIR --port P ...
"""
from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import yaml

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
PRESETS = {"minimal": (6, 8), "mainnet": (6, 64)}  # SECONDS_PER_SLOT, SLOTS_PER_EPOCH


class Node:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        with open(args.genesis, "rb") as f:
            # An SSZ BeaconState starts with genesis_time (uint64, little-endian).
            self.genesis_time = int.from_bytes(f.read(8), "little")
        sps, spe = PRESETS[args.preset]
        if args.config:
            overrides = yaml.safe_load(Path(args.config).read_text()) or {}
            sps = int(overrides.get("SECONDS_PER_SLOT", sps))
            spe = int(overrides.get("SLOTS_PER_EPOCH", spe))
        self.sps, self.spe = sps, spe
        datadir = Path(args.datadir)
        datadir.mkdir(parents=True, exist_ok=True)
        key = datadir / "peer_id"
        if not key.exists():  # persistent identity, like a node key in the datadir
            key.write_text("16Uiu2" + "".join(random.choice(ALPHABET) for _ in range(44)))
        self.peer_id = key.read_text().strip()
        self.lock = threading.Lock()
        self.peers: dict[str, dict] = {}
        self.started = time.time()
        self.start_slot = self.wall_slot()

    def wall_slot(self) -> int:
        return max(0, int((time.time() - self.genesis_time) // self.sps))

    def head_slot(self) -> int:
        # A node that starts after genesis "syncs" from slot 0 at 2 slots per second.
        synced = int((time.time() - self.started) * 2)
        return min(self.wall_slot(), synced if self.start_slot > 0 else self.wall_slot())

    def root(self, slot: int) -> str:
        salt = self.args.fork_salt if self.args.fork_from_slot is not None and slot >= self.args.fork_from_slot else ""
        return "0x" + hashlib.sha256(f"standin-block-{slot}{salt}".encode()).hexdigest()

    def status(self) -> dict:
        head = self.head_slot()
        epoch = head // self.spe
        just, fin = max(0, epoch - 1), max(0, epoch - 2)
        with self.lock:
            peers = [dict(p) for p in self.peers.values()]
        return {
            "version": "standin/0.1", "genesis_time": self.genesis_time, "syncing": head < self.wall_slot(),
            "head": {"slot": head, "root": self.root(head), "state_root": self.root(head + 10**9)},
            "justified": {"epoch": just, "root": self.root(just * self.spe)},
            "finalized": {"epoch": fin, "root": self.root(fin * self.spe)},
            "peers": [{"id": p["id"], "address": p["address"], "direction": p["direction"],
                       "head_slot": head} for p in peers],
        }

    def metrics(self) -> str:
        s = self.status()
        def tail(root: str) -> int:  # interop convention: int64 of the root's last 8 bytes
            return int.from_bytes(bytes.fromhex(root[2:])[-8:], "little", signed=True)
        rows = [("beacon_head_slot", s["head"]["slot"]), ("beacon_head_root", tail(s["head"]["root"])),
                ("beacon_current_justified_epoch", s["justified"]["epoch"]),
                ("beacon_finalized_epoch", s["finalized"]["epoch"]),
                ("beacon_finalized_root", tail(s["finalized"]["root"])), ("libp2p_peers", len(s["peers"]))]
        return "".join(f"# TYPE {n} gauge\n{n} {v}\n" for n, v in rows)

    # -- p2p: a line-based hello over real TCP
    def serve_p2p(self, sock: socket.socket) -> None:
        while True:
            conn, addr = sock.accept()
            threading.Thread(target=self.session, args=(conn, f"/ip4/{addr[0]}/tcp/{addr[1]}", "inbound"),
                             daemon=True).start()

    def session(self, conn: socket.socket, address: str, direction: str) -> None:
        try:
            conn.sendall(f"HELLO {self.peer_id}\n".encode())
            f = conn.makefile("r")
            line = f.readline().split()
            if len(line) != 2 or line[0] != "HELLO":
                return
            peer = line[1]
            with self.lock:
                self.peers[peer] = {"id": peer, "address": address, "direction": direction}
            print(f"INFO peer connected {peer} {direction}", flush=True)
            while f.readline():  # until the peer goes away
                pass
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                for k in [k for k, v in self.peers.items() if v["address"] == address]:
                    del self.peers[k]

    def dial_forever(self, multiaddr: str) -> None:
        parts = multiaddr.split("/")  # /ip4/IP/tcp/PORT/p2p/ID
        host, port = parts[2], int(parts[4])
        while True:
            try:
                conn = socket.create_connection((host, port), timeout=2)
                conn.settimeout(None)
                self.session(conn, multiaddr, "outbound")
            except OSError:
                pass
            time.sleep(0.5)  # static peers are redialled


def serve_http(host: str, port: int, handler) -> None:
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            result = handler(self.path)
            if result is None:
                self.send_response(404)
                self.end_headers()
                return
            body, ctype = result
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:
            pass

    srv = http.server.ThreadingHTTPServer((host, port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main_node(args: argparse.Namespace) -> int:
    node = Node(args)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.listen_address, args.port))
    sock.listen(16)
    threading.Thread(target=node.serve_p2p, args=(sock,), daemon=True).start()
    serve_http(args.http_address, args.http_port,
               lambda p: (json.dumps(node.status()).encode(), "application/json") if p == "/node/status" else None)
    serve_http(args.http_address, args.metrics_port,
               lambda p: (node.metrics().encode(), "text/plain; version=0.0.4") if p == "/metrics" else None)
    shown = "0.0.0.0" if args.listen_address == "0.0.0.0" else args.listen_address
    print(f"INFO standin node validators={args.validators or 'none'} genesis_time={node.genesis_time}", flush=True)
    print(f"INFO listening on /ip4/{shown}/tcp/{args.port}/p2p/{node.peer_id}", flush=True)
    for peer in args.peer:
        threading.Thread(target=node.dial_forever, args=(peer,), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    last = -1
    while not stop.wait(0.2):
        slot = node.head_slot()
        if slot != last:
            st = node.status()
            print(f"INFO slot={slot} head={node.root(slot)[:10]} justified_epoch={st['justified']['epoch']} "
                  f"finalized_epoch={st['finalized']['epoch']} peers={len(st['peers'])}", flush=True)
            last = slot
        if args.exit_at_slot is not None and node.wall_slot() >= args.exit_at_slot:
            print("ERROR exiting as asked (--exit-at-slot)", flush=True)
            return 3
    print("INFO shutting down", flush=True)
    return 0


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "genesis":
        p = argparse.ArgumentParser(prog="standin genesis")
        p.add_argument("--validators", type=int, required=True)
        p.add_argument("--genesis-time", type=int, required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--preset", default="minimal")
        p.add_argument("--config")
        a = p.parse_args(argv[1:])
        Path(a.out).write_bytes(a.genesis_time.to_bytes(8, "little") + bytes(64 * a.validators))
        print(f"wrote {a.out}", flush=True)
        return 0
    if argv and argv[0] == "node":
        argv = argv[1:]
    p = argparse.ArgumentParser(prog="standin node")
    p.add_argument("--genesis", required=True)
    p.add_argument("--datadir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--listen-address", default="127.0.0.1")
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--validators")
    p.add_argument("--preset", default="minimal", choices=sorted(PRESETS))
    p.add_argument("--config")
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--http-address", default="127.0.0.1")
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--log-level", default="info")
    p.add_argument("--log-format", default="text")
    p.add_argument("--fork-from-slot", type=int)
    p.add_argument("--fork-salt", default="")
    p.add_argument("--exit-at-slot", type=int)
    return main_node(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
