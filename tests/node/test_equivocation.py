"""Equivocation on order, and honest nodes that slash it (issue 13).

Two real node processes on 127.0.0.1: A runs validators 0..7 with --unsafe-allow-equivocation,
B runs 8..15 without it (and with --slasher-epochs 256) and dials A. Through A's chaos endpoint
three of A's validators sign a slashable pair each (two blocks in one slot; a double vote; a
surround vote). B sees them by gossip (and in blocks), must build the slashings itself, gossip and include them (or take A's inclusion),
and its head state must show the three validators slashed. B refuses the chaos order (403),
and no honest validator signs anything slashable."""
from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
import urllib.request

import pytest

from .helpers import make_genesis, node, slashable_pairs, write_config

KINDS = {1: "proposal", 2: "double_vote", 3: "surround_vote"}
OFFENCE = {"proposal": "two blocks in one epoch", "double_vote": "a double vote", "surround_vote": "a surround vote"}


def post(port: int, path: str, doc: object) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow
def test_equivocations_are_detected_by_gossip_and_slashed(tmp_path):
    cfg = write_config(tmp_path / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis_time = int(time.time()) + 8
    genesis = make_genesis(tmp_path / "genesis.ssz", 16, genesis_time, cfg)
    a = node(tmp_path, "a", "--genesis", str(genesis), "--config", str(cfg), "--validators", "0:8",
             "--unsafe-allow-equivocation").start()
    b = None
    try:
        a_addr = a.multiaddr()
        b = node(tmp_path, "b", "--genesis", str(genesis), "--config", str(cfg), "--validators", "8:8",
                 "--peer", a_addr, "--slasher-epochs", "256").start()
        b.multiaddr()
        a_id = a_addr.rsplit("/", 1)[-1]
        b.wait_for(lambda s: any(p["id"] == a_id for p in s["peers"]), 30, "A among B's peers")

        # Without the flag the order is refused, clearly, and nothing is armed.
        code, doc = post(b.http_port, "/pybeacon/v1/chaos/equivocate", {"validator": 9, "kind": "double_vote"})
        assert code == 403 and "--unsafe-allow-equivocation" in doc["message"], doc
        # Bad orders to A: a validator it does not run, an unknown kind, a malformed body.
        assert post(a.http_port, "/pybeacon/v1/chaos/equivocate", {"validator": 9, "kind": "proposal"})[0] == 400
        code, doc = post(a.http_port, "/pybeacon/v1/chaos/equivocate", {"validator": 1, "kind": "triple"})
        assert code == 400 and "surround_vote" in doc["message"]
        assert post(a.http_port, "/pybeacon/v1/chaos/equivocate", [1, 2])[0] == 400

        for v, kind in KINDS.items():
            code, doc = post(a.http_port, "/pybeacon/v1/chaos/equivocate", {"validator": v, "kind": kind})
            assert code == 200 and doc["data"]["kind"] == kind, doc

        def slashed(n, v) -> bool:
            try:
                return n.get(f"/eth/v1/beacon/states/head/validators/{v}")["data"]["validator"]["slashed"]
            except (OSError, ValueError, KeyError):
                return False

        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not all(slashed(b, v) for v in KINDS):
            assert a.proc.poll() is None and b.proc.poll() is None, (a.tail(), b.tail())
            time.sleep(1)
        done = a.get("/pybeacon/v1/chaos/equivocations")["data"]
        assert all(slashed(b, v) for v in KINDS), (done, b.tail(60))
        for v in KINDS:
            doc = b.get(f"/eth/v1/beacon/states/head/validators/{v}")["data"]
            assert doc["status"] in ("active_slashed", "exited_slashed"), doc
            assert int(doc["balance"]) < 32 * 10**9
            assert int(doc["validator"]["exit_epoch"]) < 2**64 - 1
        # B found each offence in what gossip brought it (the pair of blocks, the pairs of votes).
        for v, kind in KINDS.items():
            assert re.search(rf"slashable: validator [\d,]*\b{v}\b[\d,]* signed {OFFENCE[kind]}", b.log), b.log[-3000:]
        # A cannot see its own votes from outside, so B built and gossiped both attester slashings.
        # The double proposal A also finds (it imports both blocks): B builds its own unless A's copy
        # arrived first (then B logs the detection as already pooled).
        assert "gossiped a attester_slashing" in b.log
        mb = b.metrics()
        assert mb['pybeacon_slashings_found_total{kind="attester_slashing"}'] == 2
        assert mb['pybeacon_slashings_found_total{kind="proposer_slashing"}'] == b.log.count("gossiped a proposer_slashing")
        assert re.search(r"includes proposer slashings", a.log + b.log)
        # The chaos messages were not recorded in slashing protection: no later duty of A's was refused.
        assert "slashing protection:" not in a.log, [l for l in a.log.splitlines() if "slashing protection:" in l]
        # Honest validators: nothing slashable, and none slashed.
        for v in range(16):
            if v not in KINDS:
                assert not slashed(b, v), v
    finally:
        codes = []
        if b is not None:
            codes.append(b.stop(signal.SIGTERM))
        codes.append(a.stop(signal.SIGTERM))
    assert codes == [0, 0], (a.tail(), b.tail())
    assert slashable_pairs(a.log) == [] and slashable_pairs(b.log) == []
    for n in (a, b):
        assert "Traceback" not in n.log and " ERROR " not in n.log, n.tail(60)
