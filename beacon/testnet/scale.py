"""Descriptions of N-node testnets on one machine (issue 13): N pybeacon nodes, K validators
each, static peering in shallow layers, so that N can grow without a long start-up.

    python -m beacon.testnet.scale --nodes 16 --per-node 4 > exercises/sixteen.yaml

Peering: N-00 is layer 0; layer d has three times as many nodes as layer d-1; each node dials
two nodes of the layer before (one where that layer has one). The harness starts a layer once
the one before has announced, so N nodes start in about log3(N) waves, and every node keeps
two to eight connections whatever N is (gossip fan-out stays small; a full mesh of 64 nodes
would be 2,016 connections).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml


def layers(count: int) -> list[list[int]]:
    """Node indices by layer: [0], [1..3], [4..12], [13..39], ..."""
    out: list[list[int]] = []
    start, size = 0, 1
    while start < count:
        out.append(list(range(start, min(count, start + size))))
        start += size
        size *= 3
    return out


def node_id(i: int, count: int) -> str:
    return f"N-{i:0{max(2, len(str(count - 1)))}d}"


def layered_peering(count: int) -> dict[str, list[str]]:
    """dialer -> the (one or two) nodes of the previous layer it dials."""
    peering: dict[str, list[str]] = {}
    ls = layers(count)
    for d in range(1, len(ls)):
        prev = ls[d - 1]
        for j, i in enumerate(ls[d]):
            targets = sorted({prev[j % len(prev)], prev[(j + 1) % len(prev)]})
            peering[node_id(i, count)] = [node_id(t, count) for t in targets]
    return peering


def scale_description(count: int, per_node: int, *, seconds_per_slot: int = 6, finalized_epoch: int = 4,
                      genesis_delay: float | None = None, time_limit: float | None = None,
                      name: str | None = None) -> dict[str, Any]:
    """A `pybeacon testnet` description: `count` nodes with `per_node` validators each."""
    if count < 1 or per_node < 1:
        raise ValueError("need at least one node and one validator per node")
    spe = 8  # minimal
    if genesis_delay is None:
        # Starting a node costs ~2 s of CPU (imports, genesis load, keys); on 2 cores the
        # slowest of N simultaneous starts needs about N s, plus one wave of announcements per layer.
        genesis_delay = 30 + 1.5 * count
    if time_limit is None:
        # Twice the ideal time to the goal, plus the genesis delay and a minute.
        time_limit = genesis_delay + 2 * (finalized_epoch + 2) * spe * seconds_per_slot + 60
    doc: dict[str, Any] = {
        "name": name or f"nodes{count}",
        "title": f"{count} pybeacon nodes with {per_node} validators each on one machine",
        "description": (f"{count} nodes run {per_node} validators each ({count * per_node} in genesis); static "
                        "peering in layers (each node dials two of the layer before; beacon/testnet/scale.py).\n"
                        f"Goal: all {count} nodes see epoch {finalized_epoch} as finalized.\n"),
        "preset": "minimal",
        "config": {"SECONDS_PER_SLOT": seconds_per_slot},
        "validators": count * per_node,
        "genesis_delay": genesis_delay,
        "nodes": [{"id": node_id(i, count), "role": "A", "validators": f"{i * per_node}:{per_node}"}
                  for i in range(count)],
        "peering": layered_peering(count),
        "goal": {"finalized_epoch": finalized_epoch},
        "time_limit": f"{int(time_limit)}s",
    }
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--per-node", type=int, default=4)
    p.add_argument("--slot-seconds", type=int, default=6)
    p.add_argument("--finalized-epoch", type=int, default=4)
    p.add_argument("--name")
    args = p.parse_args(argv)
    doc = scale_description(args.nodes, args.per_node, seconds_per_slot=args.slot_seconds,
                            finalized_epoch=args.finalized_epoch, name=args.name)
    yaml.safe_dump(doc, sys.stdout, sort_keys=False, default_flow_style=None, width=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
