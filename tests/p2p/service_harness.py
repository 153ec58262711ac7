"""Real P2PService instances over real Chains (LevelDB datadirs) on 127.0.0.1, in the
caller's trio run; plus the pre-built chains they share. Nothing here is mocked."""
from __future__ import annotations

from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import trio

from beacon.chain import Chain, Status
from beacon.p2p.service import P2PConfig, P2PService
from beacon.p2p.testing import PrebuiltChain, prebuilt_chain

VALIDATORS = 16  # small committees keep building and importing quick


@lru_cache(maxsize=4)
def chain_of(blocks: int) -> PrebuiltChain:
    """A pre-built real chain (cached on disk across runs, in memory within one)."""
    return prebuilt_chain(blocks, validators=VALIDATORS)


def open_chain(datadir: Path, pre: PrebuiltChain, import_first: int = 0) -> Chain:
    chain = Chain.open(datadir, pre.genesis)
    for block in pre.decoded()[:import_first]:
        res = chain.import_block(block)
        assert res.status is Status.IMPORTED, res
    return chain


@asynccontextmanager
async def running_service(
    workdir: Path,
    chain: Chain,
    static_peers: Sequence[str] = (),
    config: P2PConfig | None = None,
) -> AsyncIterator[P2PService]:
    workdir.mkdir(parents=True, exist_ok=True)
    service = P2PService(chain, datadir=workdir, listen_address="127.0.0.1", port=0,
                         static_peers=static_peers, config=config)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        try:
            yield service
        finally:
            with trio.move_on_after(5) as cs:
                cs.shield = True
                await service.shutdown()
            nursery.cancel_scope.cancel()


async def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(interval)
    return bool(predicate())


async def propose_every_slot(service: Any, chain: Chain, genesis: Any, *, slots: int = 10**9) -> None:
    """A stand-in block proposer: at each slot start, a real signed block on our head
    (interop keys), imported and gossiped through the service."""
    from beacon.chain.testing import make_block

    cfg = genesis.config
    for _ in range(slots):
        now = trio.current_time()
        unix = _unix()
        slot = int((unix - genesis.genesis_time) // cfg.SECONDS_PER_SLOT) + 1
        await trio.sleep_until(now + genesis.genesis_time + slot * cfg.SECONDS_PER_SLOT - unix)
        head = chain.head
        if slot <= head.slot:
            continue
        block, _post = make_block(chain.state_at_block(head.root), head.root, slot)
        await service.publish_block(block)


def _unix() -> float:
    import time

    return time.time()
