"""The node's one slot clock: genesis_time + slot * SECONDS_PER_SLOT (0_beacon-chain.md v0.8.2).

Everything time-driven in the node (fork-choice on_tick, duties, the per-slot log) asks this
object, so tests can drive a whole node on a fake time source. Time comes from `time_fn`
(wall clock by default) and waiting uses trio.sleep on the difference: a test passes a
`time_fn` tied to trio's MockClock and the node runs at autojump speed.
"""
from __future__ import annotations

import time
from typing import AsyncIterator, Callable, Optional

import trio


class SlotClock:
    def __init__(self, genesis_time: int, seconds_per_slot: int, slots_per_epoch: int, *,
                 time_fn: Callable[[], float] = time.time) -> None:
        if seconds_per_slot < 1:
            raise ValueError("SECONDS_PER_SLOT must be at least 1")
        self.genesis_time = int(genesis_time)
        self.seconds_per_slot = int(seconds_per_slot)
        self.slots_per_epoch = int(slots_per_epoch)
        self.time_fn = time_fn

    def now(self) -> float:
        return self.time_fn()

    def slot_at(self, t: float) -> Optional[int]:
        """The slot running at unix time t, or None before genesis."""
        if t < self.genesis_time:
            return None
        return int((t - self.genesis_time) // self.seconds_per_slot)

    def current_slot(self) -> Optional[int]:
        return self.slot_at(self.now())

    def epoch_of(self, slot: int) -> int:
        return slot // self.slots_per_epoch

    def slot_start(self, slot: int) -> float:
        return self.genesis_time + slot * self.seconds_per_slot

    def slot_fraction(self, slot: int, fraction: float) -> float:
        """Unix time `fraction` of the way through `slot` (1/3: attestations, 2/3: the slot log)."""
        return self.slot_start(slot) + fraction * self.seconds_per_slot

    def seconds_into_slot(self, slot: int) -> float:
        return self.now() - self.slot_start(slot)

    async def sleep_until(self, t: float) -> None:
        # Re-check after waking: trio.sleep may return a little early relative to a
        # time_fn that is not trio's own clock, and we must never act before `t`.
        while True:
            delta = t - self.now()
            if delta <= 0:
                return
            await trio.sleep(delta)

    async def wait_for_genesis(self, on_wait: Optional[Callable[[float], None]] = None,
                               report_every: float = 10.0) -> None:
        """Return at genesis; call on_wait(seconds_left) now and then so the operator sees why we wait."""
        while (left := self.genesis_time - self.now()) > 0:
            if on_wait is not None:
                on_wait(left)
            await self.sleep_until(self.now() + min(left, report_every))

    async def slots(self, start: Optional[int] = None) -> AsyncIterator[int]:
        """Yield each slot at its start, from `start` (default: the current one).

        A slot that is already over when we get to it (the loop body ran long, the machine
        stalled) is skipped, not replayed late: duties for it would be useless or harmful.
        """
        await self.wait_for_genesis()
        slot = self.current_slot() if start is None else start
        assert slot is not None
        while True:
            await self.sleep_until(self.slot_start(slot))
            now_slot = self.current_slot()
            assert now_slot is not None
            if now_slot > slot:
                slot = now_slot  # we fell behind: jump to the slot that is running
            yield slot
            slot += 1
