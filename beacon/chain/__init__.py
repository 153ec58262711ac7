"""The chain layer: import pipeline, fork choice (0_fork-choice.md v0.8.2), events.

What the node, p2p and validator call (see beacon/chain/service.py for details):

    chain = Chain.open(datadir, genesis_state, clock=time.time)   # StoreError if unusable
    chain.import_block(block) -> ImportResult(status, root, reason, imported)
    chain.import_attestation(attestation) -> ImportResult
    chain.on_tick(unix_time)            # each slot: retries held blocks/attestations
    chain.head -> HeadInfo(root, slot, state_root); chain.head_state()
    chain.justified_checkpoint, chain.finalized_checkpoint, chain.current_slot()
    chain.get_block(root), chain.has_block(root)
    chain.get_blocks_by_range(start_slot, count, step=1), chain.get_blocks_by_root(roots)
    chain.missing_parents()             # roots to request from peers
    chain.events.subscribe("head" | "justified" | "finalized" | "block", callback)
    chain.close()
"""
from beacon.chain.errors import ChainError, ForkChoiceError
from beacon.chain.service import Chain, ChainEvents, HeadEvent, HeadInfo, ImportResult, Status

__all__ = ["Chain", "ChainError", "ChainEvents", "ForkChoiceError", "HeadEvent", "HeadInfo", "ImportResult", "Status"]
