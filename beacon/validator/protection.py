"""Slashing protection (0_beacon-chain-validator.md v0.8.2, "How to avoid slashing").

The spec's order is: save a record to disk, then sign and broadcast. Every record here is
written to its own LevelDB (`<datadir>/slashing_protection.ldb`) with sync=True before the
caller gets permission to sign, so a crash at any later moment leaves a record of the
*potentially* signed message, and the restarted node refuses anything that would conflict.

The rules are the v0.8.2 slashing conditions themselves:
- proposals: `process_proposer_slashing` slashes two different headers whose slots are in the
  same epoch. So one block per validator per epoch (which also means never two blocks for one
  slot). A later epoch is always fine; an earlier epoch is refused, because we only keep the
  latest record and cannot prove nothing was signed there.
- attestations: `is_slashable_attestation_data` - a double vote (different data, same target
  epoch) or a surround vote (in either direction) against any attestation signed before.
  Signing the very same data again is not slashable and is allowed.

Keys (one byte kind + ':' so dumps stay readable):
    m:genesis                          -> genesis block root the records belong to
    p:<validator u64 BE>               -> epoch u64 LE | slot u64 LE | block signing root
    a:<validator u64 BE><target u64 BE> -> source epoch u64 LE | AttestationData hash_tree_root
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import plyvel

DB_DIRNAME = "slashing_protection.ldb"
_GENESIS = b"m:genesis"
_PROPOSAL = b"p:"
_ATTESTATION = b"a:"
_PROP = struct.Struct("<QQ32s")
_ATT = struct.Struct("<Q32s")


class ProtectionError(Exception):
    """The protection database cannot be used (locked, corrupt, belongs to another chain)."""


class ProtectionWriteError(ProtectionError):
    """A record could not be written (disk full, read-only): nothing may be signed, and the
    node must stop."""


def _write_failed(path: Path, e: BaseException) -> ProtectionWriteError:
    text = e.args[0] if e.args else str(e)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return ProtectionWriteError(f"cannot write to slashing protection database {path}: {text}")


@dataclass(frozen=True)
class AttestationRecord:
    source: int
    target: int
    root: bytes  # hash_tree_root(AttestationData)


@dataclass(frozen=True)
class ProposalRecord:
    epoch: int
    slot: int
    root: bytes  # signing_root(BeaconBlock)


@dataclass(frozen=True)
class AttestationRequest:
    validator: int
    source: int
    target: int
    root: bytes


class SlashingProtection:
    """Permission to sign, granted only after the record is durably on disk."""

    def __init__(self, datadir: str | os.PathLike[str], genesis_root: bytes) -> None:
        path = Path(datadir) / DB_DIRNAME
        try:
            _owner_only(path)
            self._db: Optional[plyvel.DB] = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.IOError as e:
            if "lock" in str(e).lower():
                raise ProtectionError(f"slashing protection database {path} is in use by another process") from None
            raise ProtectionError(f"cannot open slashing protection database {path}: {e}") from None
        except plyvel.CorruptionError as e:
            raise ProtectionError(f"slashing protection database {path} is corrupt: {e}") from None
        except OSError as e:  # creating the folder or taking its permissions back
            raise ProtectionError(f"cannot prepare slashing protection database {path}: {e.strerror}") from None
        self.path = path
        try:
            try:
                _owner_only_files(path)  # the files LevelDB just created, with the umask's mode
            except OSError as e:
                raise ProtectionError(f"cannot restrict slashing protection database {path}: {e.strerror}") from None
            stored = self._db.get(_GENESIS)
            if stored is None:
                self._db.put(_GENESIS, genesis_root, sync=True)
            elif stored != genesis_root:
                raise ProtectionError(f"slashing protection database {path} belongs to another chain "
                                      f"(genesis 0x{stored.hex()[:12]}, this node 0x{genesis_root.hex()[:12]})")
            self._proposals: dict[int, ProposalRecord] = {}
            # validator -> target epoch -> record; the full history, since a surround vote
            # can be against any earlier attestation.
            self._attestations: dict[int, dict[int, AttestationRecord]] = {}
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        assert self._db is not None
        try:
            for key, value in self._db.iterator(prefix=_PROPOSAL):
                index = int.from_bytes(key[2:10], "big")
                epoch, slot, root = _PROP.unpack(value)
                self._proposals[index] = ProposalRecord(epoch, slot, root)
            for key, value in self._db.iterator(prefix=_ATTESTATION):
                index = int.from_bytes(key[2:10], "big")
                target = int.from_bytes(key[10:18], "big")
                source, root = _ATT.unpack(value)
                self._attestations.setdefault(index, {})[target] = AttestationRecord(source, target, root)
        except struct.error as e:
            raise ProtectionError(f"slashing protection database {self.path} has a damaged record: {e}") from None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- proposals -------------------------------------------------------------------------
    def check_proposal(self, validator: int, epoch: int, slot: int, root: bytes) -> Optional[str]:
        """None if signing is safe, else the reason it is not."""
        last = self._proposals.get(validator)
        if last is None:
            return None
        if epoch > last.epoch:
            return None
        if epoch == last.epoch and root == last.root:
            return None  # the same block again: identical headers are not slashable
        if epoch == last.epoch:
            return (f"validator {validator} already signed block 0x{last.root.hex()[:12]} at slot {last.slot} "
                    f"in epoch {epoch} (v0.8.2: two blocks in one epoch are slashable)")
        return f"validator {validator} already signed a block in the later epoch {last.epoch}"

    def record_proposal(self, validator: int, epoch: int, slot: int, root: bytes) -> Optional[str]:
        """Check, then persist (fsync'd) the proposal; None means: now you may sign."""
        reason = self.check_proposal(validator, epoch, slot, root)
        if reason is not None:
            return reason
        assert self._db is not None
        try:
            self._db.put(_PROPOSAL + validator.to_bytes(8, "big"), _PROP.pack(epoch, slot, root), sync=True)
        except plyvel.IOError as e:
            raise _write_failed(self.path, e) from None
        self._proposals[validator] = ProposalRecord(epoch, slot, root)
        return None

    # --- attestations ------------------------------------------------------------------------
    def check_attestation(self, validator: int, source: int, target: int, root: bytes) -> Optional[str]:
        history = self._attestations.get(validator)
        if not history:
            return None
        same = history.get(target)
        if same is not None:
            if same.root == root:
                return None
            return (f"validator {validator} already attested to target epoch {target} with other data "
                    f"(double vote)")
        for rec in history.values():
            if rec.source < source and target < rec.target:
                return (f"validator {validator}: vote {source}->{target} would be surrounded by its vote "
                        f"{rec.source}->{rec.target}")
            if source < rec.source and rec.target < target:
                return (f"validator {validator}: vote {source}->{target} would surround its vote "
                        f"{rec.source}->{rec.target}")
        return None

    def record_attestations(self, requests: Sequence[AttestationRequest]) -> dict[int, str]:
        """Check each request, persist the safe ones in ONE synced batch, return the refused
        ones as validator -> reason. Requests for the same validator are judged in order,
        each against the ones granted before it."""
        assert self._db is not None
        refused: dict[int, str] = {}
        granted: list[AttestationRequest] = []
        staged: dict[int, dict[int, AttestationRecord]] = {}
        for r in requests:
            reason = self.check_attestation(r.validator, r.source, r.target, r.root)
            if reason is None:
                reason = _check_against(staged.get(r.validator, {}), r)
            if reason is not None:
                refused[r.validator] = reason
                continue
            granted.append(r)
            staged.setdefault(r.validator, {})[r.target] = AttestationRecord(r.source, r.target, r.root)
        if granted:
            try:
                with self._db.write_batch(sync=True) as wb:
                    for r in granted:
                        wb.put(_ATTESTATION + r.validator.to_bytes(8, "big") + r.target.to_bytes(8, "big"),
                               _ATT.pack(r.source, r.root))
            except plyvel.IOError as e:
                raise _write_failed(self.path, e) from None
            for r in granted:
                self._attestations.setdefault(r.validator, {})[r.target] = AttestationRecord(r.source, r.target, r.root)
        return refused

    # --- views (API, tests) -----------------------------------------------------------------
    def last_proposal(self, validator: int) -> Optional[ProposalRecord]:
        return self._proposals.get(validator)

    def attestations_of(self, validator: int) -> list[AttestationRecord]:
        return sorted(self._attestations.get(validator, {}).values(), key=lambda r: r.target)

    def validators(self) -> Iterable[int]:
        return sorted(set(self._proposals) | set(self._attestations))


def _owner_only(path: Path) -> None:
    """Create the DB folder as 0700, or take an existing one back to 0700 (files 0600).

    What a validator signed is private to its operator, and a stranger who could write here
    could make it refuse (or, by deleting records, allow) a signature. LevelDB creates its files
    with the process umask; they sit inside the 0700 folder, so no one else reaches them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is cut by the umask and ignored for an existing folder
    _owner_only_files(path)


def _owner_only_files(path: Path) -> None:
    for f in path.iterdir():
        try:
            if f.is_file():
                os.chmod(f, 0o600)
        except FileNotFoundError:
            pass  # LevelDB's background compaction removed it meanwhile (found by fuzzing)


def _check_against(history: dict[int, AttestationRecord], r: AttestationRequest) -> Optional[str]:
    same = history.get(r.target)
    if same is not None:
        return None if same.root == r.root else f"validator {r.validator}: two different votes for target {r.target} in one batch"
    for rec in history.values():
        if (rec.source < r.source and r.target < rec.target) or (r.source < rec.source and rec.target < r.target):
            return f"validator {r.validator}: surround vote within one batch"
    return None
