"""Persistence: clean restarts, refusal of foreign datadirs, and SIGKILL at random moments
during import (real OS processes on a real LevelDB datadir)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beacon.chain import fork_choice as fc
from beacon.chain.service import Chain, Status
from beacon.chain.testing import ChainBuilder, make_epoch_attestations
from beacon.db import WrongGenesis
from genesis.load import write_state

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("import_worker.py")


@pytest.fixture(scope="module")
def built(genesis16, cfg):
    """A finalizing main chain (6 epochs, full participation) with a side fork early on."""
    b = ChainBuilder(genesis16)
    main = b.extend(b.genesis_root, 1, 6 * cfg.SLOTS_PER_EPOCH)
    side = b.extend(main[2], 5, 9, attest=False)  # forks off slot 3, cut off by finality later
    order = main[:6] + side + main[6:]
    return b, order, main, side


def check_consistent(datadir, genesis, cfg, clock) -> Chain:
    """Reopen and check every invariant a crash must not break; returns the open chain."""
    chain = Chain.open(datadir, genesis, clock=clock)
    db = chain.db
    head = chain.head
    head_block = db.get_block(head.root)
    assert head_block is not None and head_block.slot == head.slot
    # The head state rebuilds (stored anchor + replay) to exactly the block's state root.
    assert chain.state_at_block(head.root).hash_tree_root() == bytes(head_block.state_root)
    # Canonical index = the head's ancestry, nothing above the head.
    r = head.root
    while True:
        info = db.get_block_info(r)
        assert info is not None
        assert db.get_canonical_root(info.slot) == r
        if info.slot == 0:
            break
        r = info.parent_root
    assert list(db.canonical_roots(head.slot + 1, 2**63)) == []
    # Finalized data: the block and its state are on disk.
    fin = chain.finalized_checkpoint
    assert db.get_block(bytes(fin.root)) is not None and db.has_state(bytes(fin.root))
    # The restored fork choice picks the same head as the spec's rule.
    assert fc.get_head(chain.store) == fc.get_head_naive(chain.store) == head.root
    return chain


def test_clean_restart_keeps_head_votes_and_finality(tmp_path, genesis16, cfg, clock, built):
    b, order, main, side = built
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    for r in order[:10]:
        assert chain.import_block(b.blocks[r]).status is Status.IMPORTED
    # Votes (gossip) for the side fork tip make it the head; they must survive the restart.
    for att in make_epoch_attestations(b.states[side[-1]], side[-1], 1):
        chain.import_attestation(att)
    assert chain.head.root == side[-1]
    votes = dict(chain.store.latest_messages)
    chain.close()
    chain = check_consistent(tmp_path, genesis16, cfg, clock)
    assert chain.head.root == side[-1]
    assert dict(chain.store.latest_messages) == votes
    for r in order[10:]:
        assert chain.import_block(b.blocks[r]).status is Status.IMPORTED
    fin = chain.finalized_checkpoint.copy()
    head = chain.head
    assert fin.epoch >= 3 and head.root == main[-1]
    chain.close()
    chain = check_consistent(tmp_path, genesis16, cfg, clock)
    assert chain.finalized_checkpoint == fin and chain.head == head
    # The side fork was cut off by finality: gone from disk, not served by range.
    assert all(chain.db.get_block(r) is None for r in side)
    got = chain.get_blocks_by_range(0, 6 * cfg.SLOTS_PER_EPOCH)
    assert [x.signing_root() for x in got[1:]] == main
    assert [x.signing_root() for x in chain.get_blocks_by_range(2, 4, step=2)] == [main[1], main[3], main[5], main[7]]
    assert [x.signing_root() for x in chain.get_blocks_by_root([main[5], b"\x00" * 32, main[0]])] == [main[5], main[0]]
    chain.close()


def test_datadir_of_another_genesis_is_refused(tmp_path, genesis16, cfg, clock):
    Chain.open(tmp_path, genesis16, clock=clock).close()
    other = genesis16.copy()
    other.genesis_time = genesis16.genesis_time + 1
    with pytest.raises(WrongGenesis):
        Chain.open(tmp_path, other, clock=clock)
    check_consistent(tmp_path, genesis16, cfg, clock).close()  # untouched


@pytest.mark.slow
def test_sigkill_during_import_then_restart(tmp_path, genesis16, cfg, clock, built):
    """Kill the importing process at random moments, restart, check, repeat until done."""
    b, order, main, side = built
    genesis_file = tmp_path / "genesis.ssz"
    write_state(genesis16, genesis_file)
    blocks_file = tmp_path / "blocks.bin"
    with open(blocks_file, "wb") as f:
        for r in order:
            data = b.blocks[r].serialize()
            f.write(len(data).to_bytes(4, "little") + data)
    datadir = tmp_path / "node"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rng = random.Random(int(os.environ.get("PYBEACON_KILL_SEED", "2019")))
    kills = 0
    finished = False
    runs = 8
    for run in range(runs + 1):  # `runs` killed at random moments, then one left to finish
        proc = subprocess.Popen([sys.executable, str(WORKER), str(datadir), str(genesis_file), str(blocks_file),
                                 str(clock())], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        # Wait until the worker has opened the store, then kill it at a random moment of the
        # import: after a random number of further blocks, plus a random slice of the next
        # one. Counting reported imports (not wall time) keeps every run a mid-import kill
        # however fast or loaded the machine is.
        first = proc.stdout.readline()
        assert first.startswith("OPENED "), first + proc.stderr.read()
        early: list[str] = []
        if run < runs:
            target = rng.randrange(1, 8)
            # Count new imports only: a restarted worker first re-reports known blocks.
            while sum(1 for ln in early if ln.startswith("IMPORTED ") and ln.split()[2] == "imported") < target:
                line = proc.stdout.readline()
                if not line:
                    break
                early.append(line.rstrip("\n"))
            time.sleep(rng.uniform(0.0, 0.015))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        out, err = proc.communicate(timeout=300)
        lines = early + out.splitlines()
        assert not err.strip() or proc.returncode == -signal.SIGKILL, err
        imported = [ln.split() for ln in lines if ln.startswith("IMPORTED ")]
        finished = "DONE" in lines
        chain = check_consistent(datadir, genesis16, cfg, clock)
        try:
            # Whatever the worker reported as imported was committed: it must all be there
            # (blocks pruned by finality excepted), and reported finality is never lost.
            for _, root_hex, status, fin_epoch, _head in imported:
                root = bytes.fromhex(root_hex)
                assert chain.has_block(root) or root in side, (run, root_hex)
                assert chain.finalized_checkpoint.epoch >= int(fin_epoch)
        finally:
            chain.close()
        new = sum(1 for x in imported if x[2] == "imported")
        print(f"run {run}: {new} new imports reported, killed={proc.returncode == -signal.SIGKILL}")
        if finished:
            break
    assert finished, "the import never completed"
    assert kills >= runs // 2, f"only {kills} of {runs} runs were killed mid-import"
    chain = check_consistent(datadir, genesis16, cfg, clock)
    assert chain.head.root == main[-1] and chain.finalized_checkpoint.epoch >= 3
    chain.close()
