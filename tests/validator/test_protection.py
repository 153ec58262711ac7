"""Slashing protection on a real LevelDB datadir: the v0.8.2 slashing conditions, persistence
across close/reopen, durability when the process is killed right after permission, and refusal
of a foreign or busy database."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from beacon.validator.protection import AttestationRequest, ProtectionError, SlashingProtection

GENESIS = b"\x11" * 32
R1, R2, R3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sp(tmp_path):
    p = SlashingProtection(tmp_path, GENESIS)
    yield p
    p.close()


def test_one_block_per_epoch(sp, tmp_path):
    assert sp.record_proposal(3, epoch=2, slot=17, root=R1) is None
    # v0.8.2 process_proposer_slashing: two different headers in one epoch are slashable,
    # so another slot of the same epoch is refused, as is the same slot.
    assert "epoch 2" in sp.record_proposal(3, epoch=2, slot=20, root=R2)
    assert sp.record_proposal(3, epoch=2, slot=17, root=R2) is not None
    assert sp.record_proposal(3, epoch=2, slot=17, root=R1) is None  # the same block again is harmless
    assert sp.record_proposal(3, epoch=3, slot=24, root=R2) is None
    assert "later epoch" in sp.record_proposal(3, epoch=2, slot=23, root=R3)
    assert sp.record_proposal(4, epoch=2, slot=21, root=R3) is None  # other validators are independent
    sp.close()
    again = SlashingProtection(tmp_path, GENESIS)
    try:
        assert again.last_proposal(3).epoch == 3
        assert again.record_proposal(3, epoch=3, slot=25, root=R1) is not None
        assert again.record_proposal(4, epoch=2, slot=22, root=R1) is not None
        assert again.record_proposal(3, epoch=4, slot=32, root=R1) is None
    finally:
        again.close()


def req(v: int, s: int, t: int, root: bytes) -> AttestationRequest:
    return AttestationRequest(v, s, t, root)


def test_double_vote(sp):
    assert sp.record_attestations([req(1, 0, 1, R1)]) == {}
    refused = sp.record_attestations([req(1, 0, 1, R2)])
    assert "double vote" in refused[1]
    assert sp.record_attestations([req(1, 0, 1, R1)]) == {}  # identical data: not slashable


def test_surround_votes_both_ways(sp):
    assert sp.record_attestations([req(1, 2, 3, R1)]) == {}
    assert "would surround" in sp.record_attestations([req(1, 1, 4, R2)])[1]  # 1->4 surrounds 2->3
    assert sp.record_attestations([req(2, 1, 5, R1)]) == {}
    assert "surrounded" in sp.record_attestations([req(2, 2, 4, R2)])[2]  # 2->4 inside 1->5
    # Neither surrounding nor double: allowed.
    assert sp.record_attestations([req(1, 3, 4, R2), req(2, 5, 6, R2)]) == {}
    assert sp.record_attestations([req(1, 3, 5, R3)]) == {}  # same source as 3->4: not a surround


def test_batch_checks_requests_against_each_other(sp):
    refused = sp.record_attestations([req(7, 0, 2, R1), req(7, 0, 2, R2), req(8, 1, 2, R1), req(8, 0, 3, R2)])
    assert set(refused) == {7, 8}
    assert [r.target for r in sp.attestations_of(7)] == [2]
    assert [(r.source, r.target) for r in sp.attestations_of(8)] == [(1, 2)]


def test_history_survives_reopen(tmp_path):
    sp = SlashingProtection(tmp_path, GENESIS)
    assert sp.record_attestations([req(5, 3, 4, R1), req(6, 0, 9, R1)]) == {}
    sp.close()
    sp = SlashingProtection(tmp_path, GENESIS)
    try:
        assert sp.record_attestations([req(5, 3, 4, R2)])  # double vote, remembered
        assert sp.record_attestations([req(5, 2, 5, R2)])  # surround, remembered
        assert sp.record_attestations([req(6, 1, 8, R2)])  # surrounded by 0->9
        assert sp.record_attestations([req(5, 4, 5, R2)]) == {}
    finally:
        sp.close()


def test_record_is_durable_when_killed_right_after(tmp_path):
    """Permission is granted only after the record is on disk: a process killed (SIGKILL) the
    moment it gets permission has still left the record behind."""
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from beacon.validator.protection import AttestationRequest, SlashingProtection
        sp = SlashingProtection({str(tmp_path)!r}, {GENESIS!r})
        assert sp.record_proposal(9, 4, 33, {R1!r}) is None
        assert sp.record_attestations([AttestationRequest(9, 3, 4, {R1!r})]) == {{}}
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    sp = SlashingProtection(tmp_path, GENESIS)
    try:
        assert sp.last_proposal(9).root == R1
        assert sp.record_proposal(9, 4, 34, R2) is not None
        assert "double vote" in sp.record_attestations([req(9, 3, 4, R2)])[9]
    finally:
        sp.close()


def test_foreign_chain_refused(tmp_path):
    sp = SlashingProtection(tmp_path, GENESIS)
    sp.record_proposal(1, 1, 8, R1)
    sp.close()
    with pytest.raises(ProtectionError, match="another chain"):
        SlashingProtection(tmp_path, b"\x22" * 32)
    sp = SlashingProtection(tmp_path, GENESIS)  # the records are still there
    try:
        assert sp.last_proposal(1).root == R1
    finally:
        sp.close()


def test_busy_database_refused(sp, tmp_path):
    with pytest.raises(ProtectionError, match="in use"):
        SlashingProtection(tmp_path, GENESIS)


def test_database_is_owner_only(tmp_path):
    """A new DB folder is 0700 whatever the umask; an old, world-readable one is taken back."""
    import os
    import stat

    old_umask = os.umask(0o022)
    try:
        sp = SlashingProtection(tmp_path / "new", GENESIS)
        sp.record_proposal(1, 0, 1, b"\x01" * 32)
        sp.close()
        loose = tmp_path / "old" / "slashing_protection.ldb"
        loose.mkdir(parents=True, mode=0o755)
        (loose / "LOG.old").write_text("x")
        os.chmod(loose / "LOG.old", 0o644)
        SlashingProtection(tmp_path / "old", GENESIS).close()
    finally:
        os.umask(old_umask)
    for d in (tmp_path / "new" / "slashing_protection.ldb", loose):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, oct(d.stat().st_mode)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in loose.iterdir() if f.is_file()}
    assert "LOG.old" in modes and all(m == 0o600 for m in modes.values()), modes
