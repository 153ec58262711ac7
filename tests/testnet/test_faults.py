"""Network faults: the description keys, and nftables loss and partitions between real namespaces.

The namespace tests need root, iproute2 and nftables; without them they skip and say which.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from beacon.testnet import faults, netns
from beacon.testnet.spec import SpecError, parse_spec

REASON = netns.unavailable_reason() or faults.nft_unavailable_reason()
needs_nft = pytest.mark.skipif(REASON is not None, reason=f"nftables in namespaces not testable: {REASON}")


def doc(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "validators": 16,
        "nodes": [{"id": "A-0", "role": "A", "validators": "0:8"}, {"id": "A-1", "role": "A"},
                  {"id": "B-0", "role": "B", "validators": "8:8"}, {"id": "B-1", "role": "B"}],
        "peering": {"A-0": ["A-1", "B-1"], "B-0": ["A-1", "B-1"]},
        "events": [{"action": "partition", "groups": [["A-0", "A-1"], ["B-0", "B-1"]], "at_epoch": 2, "epochs": 2}],
        "goal": {"reorg": True, "finality_resumes": True},
    }
    d.update(over)
    return d


def test_partition_event_and_goal_keys_parse() -> None:
    spec = parse_spec(doc())
    (e,) = spec.events
    assert (e.action, e.at_slot, e.slots, e.groups) == ("partition", 16, 16, [["A-0", "A-1"], ["B-0", "B-1"]])
    assert spec.goal.reorg and spec.goal.finality_resumes and spec.goal.finalized_epoch is None
    assert "partition [A-0, A-1] | [B-0, B-1] at slot 16 (epoch 2) for 16 slots" in e.describe(8)
    # the default time limit leaves room for finality after the heal (epoch 4 + 6)
    assert spec.time_limit >= 10 * 8 * 6
    link = parse_spec(doc(nodes=[{"id": "A-0", "role": "A", "link": {"latency_ms": 20, "bandwidth_kbps": 500,
                                                                      "resets_per_min": 2}},
                                 {"id": "A-1", "role": "A"}, {"id": "B-0", "role": "B"},
                                 {"id": "B-1", "role": "B"}])).nodes[0].link
    assert (link.bandwidth_kbps, link.resets_per_min) == (500, 2) and link.active()


@pytest.mark.parametrize("events, goal, message", [
    ([{"action": "partition", "groups": [["A-0"], ["A-0", "B-0"]], "at_slot": 3, "slots": 2}], None,
     "events[0].groups[1]: A-0 is in two groups"),
    ([{"action": "partition", "groups": [["A-0", "X"], ["B-0"]], "at_slot": 3, "slots": 2}], None,
     "events[0].groups: unknown node 'X'"),
    ([{"action": "partition", "groups": [["A-0"]], "at_slot": 3, "slots": 2}], None,
     "events[0].groups: must be a list of at least two lists"),
    ([{"action": "partition", "groups": [["A-0"], ["B-0"]], "at_slot": 3}], None,
     "events[0]: a partition needs exactly one of slots, epochs"),
    ([{"action": "partition", "node": "A-0", "groups": [["A-0"], ["B-0"]], "at_slot": 3, "slots": 1}], None,
     "events[0].node: does not apply to a partition"),
    ([{"action": "pause", "node": "A-0", "at_slot": 3, "slots": 1, "epochs": 1}], None,
     "events[0]: epochs only apply to partition and offline"),
    ([{"action": "pause", "node": "A-0", "at_slot": 3, "slots": 1, "groups": [["A-0"], ["B-0"]]}], None,
     "events[0]: groups only apply to partition"),
    ([], {"reorg": True}, "goal.reorg: needs a partition event"),
    (None, {"finality_resumes": "yes"}, "goal.finality_resumes: must be true or false"),
])
def test_bad_partition_descriptions_name_their_key(events: Any, goal: Any, message: str) -> None:
    over: dict[str, Any] = {}
    if events is not None:
        over["events"] = events
    if goal is not None:
        over["goal"] = goal
    with pytest.raises(SpecError) as e:
        parse_spec(doc(**over))
    assert message in str(e.value)


def test_loss_without_namespaces_is_refused_but_delay_is_not() -> None:
    lossy = parse_spec(doc(nodes=[{"id": "A-0", "role": "A", "link": {"loss_pct": 3}}, {"id": "A-1", "role": "A"},
                                  {"id": "B-0", "role": "B"}, {"id": "B-1", "role": "B"}]))
    assert "link loss_pct for A-0 needs --netns" in (faults.unsupported_faults(lossy, False, False) or "")
    assert faults.unsupported_faults(lossy, False, True) is None  # --skip-link-shaping
    slow = parse_spec(doc(nodes=[{"id": "A-0", "role": "A", "link": {"latency_ms": 30}}, {"id": "A-1", "role": "A"},
                                 {"id": "B-0", "role": "B"}, {"id": "B-1", "role": "B"}]))
    assert faults.unsupported_faults(slow, False, False) is None
    discovery = dict(doc(), peering="discovery")
    discovery["goal"] = {"finalized_epoch": 3}
    assert "peering: discovery" in (faults.unsupported_faults(parse_spec(discovery), False, False) or "")


# ------------------------------------------------------------------ nftables in real namespaces
@pytest.fixture
def lab() -> Iterator[netns.NetnsLab]:
    lab = netns.NetnsLab()
    lab.setup(["n0", "n1", "n2"])
    try:
        yield lab
    finally:
        lab.teardown()


def udp_delivered(lab: netns.NetnsLab, count: int) -> int:
    """Send `count` datagrams n0 -> n1 over the bridge; how many arrived."""
    rx = netns.in_netns(lab.node_ns["n1"], lambda: _bound_udp(lab.ips["n1"]))
    tx = netns.in_netns(lab.node_ns["n0"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    try:
        for i in range(count):
            try:
                tx.sendto(i.to_bytes(4, "big"), (lab.ips["n1"], 7000))
            except PermissionError:
                pass  # dropped by the output hook: the kernel says EPERM to the sender (TCP retransmits)
        got = 0
        rx.settimeout(0.5)
        try:
            while True:
                rx.recv(16)
                got += 1
        except TimeoutError:
            return got
    finally:
        rx.close()
        tx.close()


def _bound_udp(ip: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((ip, 7000))
    return s


@needs_nft
def test_nft_loss_drops_about_that_share_of_packets(lab: netns.NetnsLab) -> None:
    assert udp_delivered(lab, 1000) == 1000  # baseline, same run: nothing lost on the bridge
    faults.nft(lab.node_ns["n0"], faults.loss_script(30))
    got = udp_delivered(lab, 1000)
    # 30 % of 1000: the binomial's standard deviation is ~15, so 600..800 is a wide margin
    assert 600 <= got <= 800, got


def tcp_reaches(lab: netns.NetnsLab, src: str, dst: str, port: int, timeout: float = 0.5) -> bool:
    try:
        ns = lab.node_ns[src]
        netns.in_netns(ns, lambda: socket.create_connection((lab.ips[dst], port), timeout=timeout)).close()
        return True
    except OSError:
        return False


@needs_nft
def test_nft_partition_cuts_between_groups_only_and_heals(lab: netns.NetnsLab) -> None:
    servers = {n: netns.in_netns(lab.node_ns[n], lambda n=n: socket.create_server((lab.ips[n], 7100)))
               for n in ("n0", "n1", "n2")}
    try:
        assert tcp_reaches(lab, "n0", "n2", 7100) and tcp_reaches(lab, "n2", "n1", 7100)
        groups = [["n0", "n1"], ["n2"]]
        for i, g in enumerate(groups):
            others = [lab.ips[m] for j, og in enumerate(groups) if j != i for m in og]
            for m in g:
                faults.nft(lab.node_ns[m], faults.partition_script(others))
        started = time.monotonic()
        assert not tcp_reaches(lab, "n0", "n2", 7100)  # silently dropped: the connect times out
        assert time.monotonic() - started >= 0.4
        assert not tcp_reaches(lab, "n2", "n1", 7100)
        assert tcp_reaches(lab, "n0", "n1", 7100)  # inside a group, traffic passes
        for m in ("n0", "n1", "n2"):
            faults.nft(lab.node_ns[m], faults.heal_script())
        assert tcp_reaches(lab, "n0", "n2", 7100) and tcp_reaches(lab, "n2", "n1", 7100)
    finally:
        for s in servers.values():
            s.close()


def test_the_shipped_exercise_parses() -> None:
    """exercises/partition.yaml as shipped parses, with the goal the harness checks."""
    path = Path(__file__).resolve().parents[2] / "exercises" / "partition.yaml"
    spec = parse_spec(yaml.safe_load(path.read_text()))
    assert spec.goal.reorg and spec.goal.finality_resumes and spec.seconds_per_slot == 6
    (e,) = spec.events
    assert (e.at_slot, e.slots) == (32, 16)
