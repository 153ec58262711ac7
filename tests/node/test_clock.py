"""The slot clock on an injected time source (trio's MockClock), and a whole node driven by it:
six-second slots run as fast as the CPU allows, with the real chain, validator and datadir."""
from __future__ import annotations

import trio
import trio.testing

from beacon.clock import SlotClock
from beacon.config import load_config
from beacon.node import Node, NodeOptions
from beacon.validator.keys import load_interop_keys
from genesis.state import create_interop_genesis_state

BASE = 1_600_000_000.0


def mock_time() -> float:
    try:
        return BASE + trio.current_time()  # MockClock starts at 0
    except RuntimeError:
        return BASE  # outside trio.run (opening the chain): the moment the run starts


def test_slot_arithmetic():
    clock = SlotClock(1000, 6, 8, time_fn=lambda: 999.0)
    assert clock.current_slot() is None  # before genesis
    assert clock.slot_at(1000) == 0 and clock.slot_at(1005.99) == 0 and clock.slot_at(1006) == 1
    assert clock.slot_start(3) == 1018 and clock.slot_fraction(3, 1 / 3) == 1020
    assert clock.epoch_of(7) == 0 and clock.epoch_of(8) == 1


def test_slots_wait_for_genesis_then_tick_on_time():
    seen: list[tuple[int, float]] = []

    async def main() -> None:
        clock = SlotClock(int(BASE) + 100, 6, 8, time_fn=mock_time)
        waits: list[float] = []
        await clock.wait_for_genesis(on_wait=waits.append, report_every=30)
        assert mock_time() == clock.genesis_time
        assert waits == [100.0, 70.0, 40.0, 10.0]  # the operator hears why we wait
        async for slot in clock.slots():
            seen.append((slot, mock_time() - clock.slot_start(slot)))
            if slot == 3:
                return

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen == [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0)]


def test_a_late_loop_skips_slots_instead_of_replaying_them():
    seen: list[int] = []

    async def main() -> None:
        clock = SlotClock(int(BASE), 6, 8, time_fn=mock_time)
        async for slot in clock.slots():
            seen.append(slot)
            if slot == 1:
                await trio.sleep(13)  # the loop body overran two slot starts
            if len(seen) == 4:
                return

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen == [0, 1, 3, 4]


def test_node_on_a_mock_clock_finalizes(tmp_path):
    cfg = load_config("minimal")  # 6-second slots: 5 epochs are 240 s of mock time
    genesis = create_interop_genesis_state(cfg, 16, int(BASE) + 20)
    keys = load_interop_keys(range(16), genesis)
    options = NodeOptions(datadir=tmp_path / "dd", http_port=None, metrics_port=None, p2p=False)
    node = Node.open(cfg, genesis, options, keys, time_fn=mock_time)
    stop_slot = 5 * cfg.SLOTS_PER_EPOCH

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            await node.clock.sleep_until(node.clock.slot_start(stop_slot))
            node.stop("test over")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # node.run closed the databases on its way out; reopen to read what it left behind.
    from beacon.chain import Chain

    chain = Chain.open(tmp_path / "dd", genesis, clock=lambda: BASE + 10_000)
    try:
        assert int(chain.finalized_checkpoint.epoch) >= 3
        assert chain.head.slot == stop_slot
    finally:
        chain.close()
    totals = node.validator.totals
    assert totals.get("attestation", "missed") == 0 and totals.get("proposal", "missed") == 0
    assert totals.get("attestation", "done") == 16 * 5  # once per validator and epoch (stopped before slot 40 attests)
    assert totals.get("proposal", "done") + totals.get("proposal", "declined") == stop_slot  # slots 1..40


def test_a_stalled_node_counts_the_duties_it_slept_through(tmp_path):
    """A node that is frozen for three slot lengths (SIGSTOP, a stalled machine) skips those slots and
    counts their duties as missed, instead of doing them late or forgetting them."""
    cfg = load_config("minimal")
    genesis = create_interop_genesis_state(cfg, 16, int(BASE) + 6)
    keys = load_interop_keys(range(16), genesis)
    options = NodeOptions(datadir=tmp_path / "dd", http_port=None, metrics_port=None, p2p=False)
    node = Node.open(cfg, genesis, options, keys, time_fn=mock_time)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            clock = node.clock
            await clock.sleep_until(clock.slot_fraction(4, 0.9))
            # Freeze the whole event loop for three slots (mock time moves, nothing else runs).
            trio.testing.MockClock.jump(trio.lowlevel.current_clock(), 3 * cfg.SECONDS_PER_SLOT)
            await clock.sleep_until(clock.slot_start(12))
            node.stop("test over")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    totals = node.validator.totals
    # Frozen from 0.9 into slot 4 until 0.9 into slot 7: slots 5 and 6 are gone (2 attesters and
    # one proposer each, all validators being ours); slot 7 is still running, so it is done late.
    assert totals.get("attestation", "missed") == 4
    assert totals.get("proposal", "missed") == 2
    assert totals.get("attestation", "done") == 2 * 10  # slots 0..4 and 7..11
