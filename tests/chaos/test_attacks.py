"""Short forms of every `pybeacon chaos peer` attack against a real 2-node testnet (2 s
slots; A runs the validators and is attacked, B follows A). Each attack is its own attacker
process over real TCP. Checked per attack: the node survives with its head on time, offences
end in Goodbye(3) and a ban (every reconnect closed at once), and what is merely useless or
expensive (not an offence) is not punished. The full rate search is beacon/chaos/attacks.py
(docs/reliability-attacks.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

from beacon.chaos.attacks import Bench
from beacon.chaos.peer import ATTACKS

# attack -> (rate per second, seconds). Slow-loris and idle streams are judged when the
# request deadline (RESP_TIMEOUT, 10 s) passes, so they need a little longer.
SHORT = {
    "bad-signature-block": (8, 3),
    "bad-state-root-block": (8, 3),
    "invalid-attestation": (16, 3),
    "unknown-root-attestation": (32, 3),
    "useless-gossip": (32, 3),
    "oversized-frame": (8, 3),
    "garbage-stream": (8, 3),
    "garbage-mplex": (8, 3),
    "slow-loris": (2, 15),
    "many-streams": (40, 12),
    "million-blocks": (4, 3),
}


@pytest.mark.slow
def test_every_attack_short(tmp_path: Path) -> None:
    assert set(SHORT) == set(ATTACKS)
    bench = Bench(tmp_path, slot_seconds=2.0)
    failures: list[str] = []
    try:
        bench.warm_up(2)
        for name, (rate, seconds) in SHORT.items():
            bench.recover(30)
            head_before = (bench.a.status() or {"head": {"slot": 0}})["head"]["slot"]
            t = bench.attack(name, rate, seconds)
            a = t.attacker
            head_after = (bench.a.status() or {"head": {"slot": 0}})["head"]["slot"]
            what = f"{name} at {rate}/s for {seconds} s: {t.__dict__}"
            if not t.node_alive:
                failures.append(f"node died: {what}")
                break
            if "error" in a:
                failures.append(f"attacker could not run: {what}")
                continue
            if head_after <= head_before or t.max_lag > 2:
                failures.append(f"head did not keep moving (before {head_before}, after {head_after}): {what}")
            if ATTACKS[name][1]:
                if 3 not in a["goodbyes"] or not a["banned"]:
                    failures.append(f"offence not punished (Goodbye(3) and ban): {what}")
            elif 3 in a["goodbyes"] or a["disconnected_after"] is not None:
                failures.append(f"punished for something that is no offence: {what}")
    finally:
        bench.close()
    text = bench.a.all_logs()
    assert "Traceback" not in text, text[text.index("Traceback") - 500:][:3000]
    assert not failures, "\n".join(failures)


def test_chaos_peer_refuses_a_target_off_loopback(tmp_path: Path) -> None:
    from tests.node.helpers import assert_one_line_error, pybeacon

    r = pybeacon("chaos", "peer", "/ip4/10.1.2.3/tcp/9000/p2p/16Uiu2HAmGk1CBj3B3QckNrDGDmnjfs4Y3GKmWq4eBsFvS4pKQbZy",
                 "--attack", "garbage-stream", "--genesis", str(tmp_path / "unused.ssz"))
    assert_one_line_error(r, "loopback", "10.1.2.3")
