"""The monitor's model on its own: lanes, missed slots, reorgs seen from head moves, disagreement
(forks, not propagation lag), the state-root check, participation from attestation bits."""
from __future__ import annotations

from beacon.api.metrics import root_gauge_value
from beacon.monitor.model import Model, bitlist_bits
from beacon.monitor.watcher import parse_gauges


def r(n: int) -> str:
    return "0x" + f"{n:064x}"


def chain(m: Model, parent: int, roots_slots: list[tuple[int, int]]) -> None:
    for root, slot in roots_slots:
        m.add_block(r(root), slot, r(parent), r(1000 + root))
        parent = root


def test_lanes_missed_slots_and_deltas():
    m = Model([("A", "http://a"), ("B", "http://b")])
    seen = []
    m.listeners.append(seen.append)
    m.add_block(r(0), 0, None, r(1000))
    chain(m, 0, [(1, 1), (2, 2), (4, 4)])
    chain(m, 1, [(13, 3)])  # a second child of block 1: a new lane
    assert [m.blocks[r(i)].lane for i in (0, 1, 2, 4)] == [0, 0, 0, 0] and m.blocks[r(13)].lane == 1
    assert (3, 0) in m.missed and (2, 1) in m.missed  # slot 3 on lane 0, slot 2 on lane 1
    assert [d["type"] for d in seen].count("block") == 5 and [d["seq"] for d in seen] == list(range(1, len(seen) + 1))
    snap = m.snapshot()
    assert [b["slot"] for b in snap["blocks"]] == [0, 1, 2, 3, 4] and snap["summary"]["lanes"] == 2


def test_reorg_marks_orphans_and_disagreement_is_about_branches():
    m = Model([("A", "http://a"), ("B", "http://b")])
    m.add_block(r(0), 0, None, r(1000))
    chain(m, 0, [(1, 1), (2, 2), (3, 3)])
    chain(m, 1, [(12, 2), (13, 3)])
    for n in ("A", "B"):
        m.set_node(n, online=True)
    m.set_head("A", r(3), 3, r(1003))
    m.set_head("B", r(2), 2, r(1002))
    assert m.disagreement is None  # B is only behind A on the same branch
    m.set_head("B", r(13), 3, r(1013))  # a reorg for B (block 2 stays: A's head builds on it)
    assert m.nodes["B"].reorgs == 1 and not m.blocks[r(2)].orphaned
    assert m.disagreement["since_slot"] == 2
    assert {tuple(g["nodes"]) for g in m.disagreement["groups"]} == {("A",), ("B",)}
    # B moves back to A's branch: a reorg of depth 2; the branch it left is orphaned.
    m.set_head("B", r(3), 3, r(1003))
    assert m.nodes["B"].reorgs == 2 and m.disagreement is None
    assert m.blocks[r(13)].orphaned and m.blocks[r(12)].orphaned and not m.blocks[r(3)].orphaned
    reorg = [a for a in m.alerts if a["kind"] == "reorg"]
    assert len(reorg) == 2 and reorg[1]["depth"] == 2 and "common ancestor at slot 1" in reorg[1]["message"]
    # A head back on the orphaned branch revives it.
    m.set_head("A", r(13), 3, r(1013))
    assert not m.blocks[r(13)].orphaned and not m.blocks[r(12)].orphaned and m.nodes["A"].reorgs == 1


def test_same_head_different_state_root_is_flagged_once():
    m = Model([("A", "http://a"), ("B", "http://b")])
    m.add_block(r(0), 0, None, r(1000))
    chain(m, 0, [(1, 1)])
    for n in ("A", "B"):
        m.set_node(n, online=True)
    m.set_head("A", r(1), 1, r(1001))
    m.set_head("B", r(1), 1, r(1001))
    assert not [a for a in m.alerts if a["kind"] == "state_root"]
    m.set_head("B", r(1), 1, r(666))
    m.check_state_roots()
    flagged = [a for a in m.alerts if a["kind"] == "state_root"]
    assert len(flagged) == 1 and flagged[0]["states"] == {"A": r(1001), "B": r(666)}


def test_participation_counts_each_validator_once():
    assert bitlist_bits("0x07") == [True, True] and bitlist_bits("0x01") == [] and bitlist_bits("0x0d") == [True, False, True]
    m = Model([("A", "http://a")])
    m.set_active_validators(16)
    att = lambda epoch, shard, bits: {"aggregation_bits": bits,  # noqa: E731
                                      "data": {"target": {"epoch": str(epoch)}, "crosslink": {"shard": str(shard)}}}
    m.add_attestations([att(1, 0, "0x07"), att(1, 0, "0x05"), att(1, 1, "0x0e")])
    p = {e["epoch"]: e for e in m.participation()}
    assert p[1]["attested"] == 4 and p[1]["rate"] == 4 / 16  # (0,0) (0,1) (1,1) (1,2)


def test_metrics_roots_find_their_blocks():
    """A root gauge (int64 of the last 8 bytes, printed as a float) finds the block it names."""
    m = Model([("A", "http://a")])
    root = "0x" + "11" * 24 + "f0debc9a78563412"  # last 8 bytes: a negative int64 beyond 2**53
    m.add_block(root, 0, None, r(1))
    gauge = root_gauge_value(bytes.fromhex(root[2:]))
    text = f"# TYPE beacon_head_root gauge\nbeacon_head_root {float(gauge)!r}\nbeacon_head_slot 7.0\nother 1\n"
    g = parse_gauges(text)
    assert g["beacon_head_slot"] == 7.0 and "other" not in g
    assert m.by_gauge[g["beacon_head_root"]] == root


def test_reorg_orphans_blocks_built_past_the_old_head():
    """Blocks on the abandoned branch beyond the head the monitor last saw go with the branch."""
    m = Model([("A", "http://a"), ("B", "http://b")])
    m.add_block(r(0), 0, None, r(1000))
    chain(m, 0, [(1, 1), (2, 2)])
    chain(m, 0, [(11, 1), (12, 2), (13, 3)])
    for n in ("A", "B"):
        m.set_node(n, online=True)
    m.set_head("A", r(2), 2, None)
    m.set_head("B", r(12), 2, None)
    m.set_head("B", r(2), 2, None)
    assert all(m.blocks[r(i)].orphaned for i in (11, 12, 13))
    assert not any(m.blocks[r(i)].orphaned for i in (0, 1, 2))
