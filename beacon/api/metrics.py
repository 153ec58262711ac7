"""Prometheus metrics: the interop names the 2019 client teams agreed (eth2.0-metrics) and ours.

Interop gauges (same dashboards for every client): libp2p_peers, beacon_slot, beacon_head_slot,
beacon_head_root, beacon_finalized_epoch, beacon_finalized_root, beacon_current_justified_epoch,
beacon_current_justified_root, beacon_previous_justified_epoch, beacon_previous_justified_root.
A root as a gauge is the signed little-endian int64 of its last 8 bytes.

beacon_reorgs_total, beacon_reorg_depth (latest, slots), beacon_reorg_max_depth: the chain's reorgs.

pybeacon_* : imports (counted at the node's chain wrapper, so gossip, sync and our own blocks
all count), the block import time, duties by kind (all assigned / missed / declined by slashing
protection) and how far into its slot each duty was published.

Everything lives on a private registry (no process/platform collectors mixed in by accident).
"""
from __future__ import annotations

from typing import Any, Optional

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

prometheus_client.disable_created_metrics()  # *_created series only confuse interop dashboards

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


def root_gauge_value(root: bytes) -> int:
    """The interop convention for a root as a gauge: int64 (signed, LE) of its last 8 bytes."""
    return int.from_bytes(bytes(root)[-8:], "little", signed=True)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.libp2p_peers = Gauge("libp2p_peers", "Connected peers", registry=r)
        self.beacon_slot = Gauge("beacon_slot", "Current slot by the wall clock", registry=r)
        self.beacon_head_slot = Gauge("beacon_head_slot", "Slot of the head block", registry=r)
        self.beacon_head_root = Gauge("beacon_head_root", "Head block root (int64 of its last 8 bytes)", registry=r)
        self.beacon_finalized_epoch = Gauge("beacon_finalized_epoch", "Finalized epoch", registry=r)
        self.beacon_finalized_root = Gauge("beacon_finalized_root", "Finalized root (int64 of its last 8 bytes)",
                                           registry=r)
        self.beacon_current_justified_epoch = Gauge("beacon_current_justified_epoch", "Current justified epoch",
                                                    registry=r)
        self.beacon_current_justified_root = Gauge("beacon_current_justified_root",
                                                   "Current justified root (int64 of its last 8 bytes)", registry=r)
        self.beacon_previous_justified_epoch = Gauge("beacon_previous_justified_epoch",
                                                     "Previous justified epoch (head state)", registry=r)
        self.beacon_previous_justified_root = Gauge("beacon_previous_justified_root",
                                                    "Previous justified root (int64 of its last 8 bytes)", registry=r)

        self.blocks_imported = Counter("pybeacon_blocks_imported", "Blocks imported into the chain", registry=r)
        self.blocks_rejected = Counter("pybeacon_blocks_rejected", "Blocks refused as invalid", registry=r)
        self.attestations_imported = Counter("pybeacon_attestations_imported",
                                             "Attestations found valid (fork choice now, or held for their slot); own ones count as duties",
                                             registry=r)
        self.attestations_rejected = Counter("pybeacon_attestations_rejected", "Attestations refused as invalid",
                                             registry=r)
        self.block_import_seconds = Histogram(
            "pybeacon_block_import_seconds", "Time to validate and import one block (state transition, BLS, DB)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0), registry=r)
        self.duties = Counter("pybeacon_duties", "Validator duties assigned", ["kind"], registry=r)
        self.duties_missed = Counter("pybeacon_duties_missed", "Duties not done in time", ["kind"], registry=r)
        self.duties_declined = Counter("pybeacon_duties_declined", "Duties refused by slashing protection",
                                       ["kind"], registry=r)
        self.duty_delay = Histogram(
            "pybeacon_duty_delay_seconds", "Seconds after the slot start a duty was published", ["kind"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 12.0), registry=r)
        self.reorgs = Counter("beacon_reorgs", "Head moves to a block not descending from the old head",
                              registry=r)  # exposed as beacon_reorgs_total
        self._reorgs_counted = 0
        self.reorg_depth = Gauge("beacon_reorg_depth", "Depth in slots of the latest reorg "
                                 "(old head slot - common ancestor slot)", registry=r)
        self.reorg_max_depth = Gauge("beacon_reorg_max_depth", "Deepest reorg since start, in slots", registry=r)
        self.attestation_pool = Gauge("pybeacon_attestation_pool_size", "Aggregates in the attestation pool",
                                      registry=r)
        self.slashings_found = Counter("pybeacon_slashings_found", "Slashable pairs this node found and gossiped",
                                       ["kind"], registry=r)
        for kind in ("proposer_slashing", "attester_slashing"):
            self.slashings_found.labels(kind)
        for kind in ("proposal", "attestation"):  # so the series exist (at 0) from the start
            self.duties.labels(kind)
            self.duties_missed.labels(kind)
            self.duties_declined.labels(kind)

    def on_duty(self, kind: str, outcome: str, delay: Optional[float]) -> None:
        self.duties.labels(kind).inc()
        if outcome == "missed":
            self.duties_missed.labels(kind).inc()
        elif outcome == "declined":
            self.duties_declined.labels(kind).inc()
        elif delay is not None:
            self.duty_delay.labels(kind).observe(max(0.0, delay))

    def update_chain(self, chain: Any, wall_slot: Optional[int], peers: int, pool_size: int) -> None:
        head = chain.head
        state = chain.state_at_block(head.root)
        self.beacon_slot.set(wall_slot if wall_slot is not None else 0)
        self.beacon_head_slot.set(head.slot)
        self.beacon_head_root.set(root_gauge_value(head.root))
        fin = chain.finalized_checkpoint
        self.beacon_finalized_epoch.set(int(fin.epoch))
        self.beacon_finalized_root.set(root_gauge_value(bytes(fin.root)))
        just = chain.justified_checkpoint
        self.beacon_current_justified_epoch.set(int(just.epoch))
        self.beacon_current_justified_root.set(root_gauge_value(bytes(just.root)))
        prev = state.previous_justified_checkpoint
        self.beacon_previous_justified_epoch.set(int(prev.epoch))
        self.beacon_previous_justified_root.set(root_gauge_value(bytes(prev.root)))
        self.libp2p_peers.set(peers)
        self.attestation_pool.set(pool_size)
        reorgs = chain.reorgs
        # The chain keeps the count; the counter catches up to it (it only ever grows).
        if reorgs.count > self._reorgs_counted:
            self.reorgs.inc(reorgs.count - self._reorgs_counted)
            self._reorgs_counted = reorgs.count
        self.reorg_depth.set(reorgs.last_depth)
        self.reorg_max_depth.set(reorgs.max_depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
