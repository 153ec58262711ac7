"""Blocks held for their parent: a forged-signature copy must not displace the real block."""
from __future__ import annotations

from pathlib import Path

import pytest

from beacon.chain import Chain, Status
from beacon.chain.testing import ChainBuilder


@pytest.mark.parametrize("forged_first", [False, True])
def test_forged_copy_of_a_held_block_does_not_displace_it(tmp_path: Path, genesis16, clock, forged_first: bool) -> None:
    builder = ChainBuilder(genesis16)
    roots = builder.extend(builder.genesis_root, 1, 4)
    parent, real = builder.blocks[roots[1]], builder.blocks[roots[2]]
    forged = real.copy()
    forged.signature = builder.blocks[roots[0]].signature  # a valid point, the wrong signer/message
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    try:
        assert chain.import_block(builder.blocks[roots[0]]).status is Status.IMPORTED
        for block in ([forged, real] if forged_first else [real, forged]):
            assert chain.import_block(block).status is Status.HELD
        assert chain.missing_parents() == [roots[1]]
        result = chain.import_block(parent)
        assert result.status is Status.IMPORTED
        assert roots[2] in result.imported and chain.head.root == roots[2]
        assert chain.get_block(roots[2]).signature == real.signature
        assert chain.missing_parents() == []
    finally:
        chain.close()
