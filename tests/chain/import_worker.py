"""Subprocess for the SIGKILL tests: open a datadir, import blocks from a file, report progress.

    python import_worker.py DATADIR GENESIS.ssz BLOCKS.bin CLOCK_TIME

BLOCKS.bin holds SSZ blocks, each prefixed with its length (uint32 LE). After each import
returns (its batch committed) one line is printed and flushed:
    IMPORTED <root hex> <status> <finalized epoch> <head root hex>
so the parent knows what must have survived a kill at any later moment.
"""
from __future__ import annotations

import sys


def main() -> int:
    datadir, genesis_path, blocks_path, now = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    from beacon.chain.service import Chain
    from beacon.config import load_config
    from genesis.load import load_genesis_state

    cfg = load_config("minimal")
    genesis = load_genesis_state(genesis_path, cfg)
    t = genesis.types
    raw = open(blocks_path, "rb").read()
    blocks = []
    pos = 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos:pos + 4], "little")
        blocks.append(t.BeaconBlock.deserialize(raw[pos + 4:pos + 4 + n]))
        pos += 4 + n
    chain = Chain.open(datadir, genesis, clock=lambda: now)
    print(f"OPENED {chain.head.root.hex()} {chain.finalized_checkpoint.epoch}", flush=True)
    for block in blocks:
        res = chain.import_block(block)
        print(f"IMPORTED {res.root.hex()} {res.status.value} {chain.finalized_checkpoint.epoch} {chain.head.root.hex()}",
              flush=True)
    print("DONE", flush=True)
    chain.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
