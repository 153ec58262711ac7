"""Was anything slashable ever signed? Audited from two independent sources:

- the node's debug log, one `validator signed ...` line per signed message (what it sent);
- the slashing-protection LevelDB in the datadir (what it promised itself before signing).

Every signed message must also have its record in the DB (record first, then sign).
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import plyvel

from beacon.validator.protection import DB_DIRNAME

_ATT = re.compile(r"signed attestation slot (\d+) validators ([\d,]+) source (\d+) target (\d+) data 0x([0-9a-f]{64})")
_BLOCK = re.compile(r"signed block slot (\d+) proposer (\d+) epoch (\d+) root 0x([0-9a-f]{64})")


@dataclass
class Audit:
    attestations: int = 0  # signed (validator, attestation) pairs seen in the logs
    blocks: int = 0
    db_attestations: int = 0
    db_proposals: int = 0
    problems: list[str] = field(default_factory=list)


def _slashable_votes(votes: dict[int, set[tuple[int, int, str]]], where: str) -> list[str]:
    out = []
    for v, vs in votes.items():
        by_target: dict[int, set[str]] = {}
        for s, t, r in vs:
            by_target.setdefault(t, set()).add(r)
        out += [f"{where}: validator {v} double vote for target {t}" for t, rs in by_target.items() if len(rs) > 1]
        pairs = sorted({(s, t) for s, t, _ in vs})
        for i, (s1, t1) in enumerate(pairs):
            for s2, t2 in pairs[i + 1:]:
                if (s1 < s2 and t2 < t1) or (s2 < s1 and t1 < t2):
                    out.append(f"{where}: validator {v} surround vote {s1}->{t1} / {s2}->{t2}")
    return out


def audit(log_text: str, datadir: Path) -> Audit:
    """Audit a stopped node's logs (all runs concatenated) and its protection DB."""
    a = Audit()
    votes: dict[int, set[tuple[int, int, str]]] = {}
    for m in _ATT.finditer(log_text):
        for v in m.group(2).split(","):
            votes.setdefault(int(v), set()).add((int(m.group(3)), int(m.group(4)), m.group(5)))
            a.attestations += 1
    a.problems += _slashable_votes(votes, "log")
    proposals: dict[tuple[int, int], set[str]] = {}
    for m in _BLOCK.finditer(log_text):
        proposals.setdefault((int(m.group(2)), int(m.group(3))), set()).add(m.group(4))
        a.blocks += 1
    a.problems += [f"log: proposer {p} signed {len(r)} blocks in epoch {e}" for (p, e), r in proposals.items() if len(r) > 1]

    db = plyvel.DB(str(datadir / DB_DIRNAME), create_if_missing=False)
    try:
        db_votes: dict[int, set[tuple[int, int, str]]] = {}
        db_att: dict[tuple[int, int], str] = {}
        for key, value in db.iterator(prefix=b"a:"):
            v, t = int.from_bytes(key[2:10], "big"), int.from_bytes(key[10:18], "big")
            source, root = struct.unpack("<Q32s", value)
            db_votes.setdefault(v, set()).add((source, t, root.hex()))
            db_att[(v, t)] = root.hex()
            a.db_attestations += 1
        db_prop: dict[int, int] = {}
        for key, value in db.iterator(prefix=b"p:"):
            epoch, _slot, _root = struct.unpack("<QQ32s", value)
            db_prop[int.from_bytes(key[2:10], "big")] = epoch
            a.db_proposals += 1
    finally:
        db.close()
    a.problems += _slashable_votes(db_votes, "db")
    # Record before sign: every logged vote is in the DB with the same data root.
    for v, vs in votes.items():
        for _s, t, r in vs:
            if db_att.get((v, t)) != r:
                a.problems.append(f"validator {v} signed target {t} (0x{r[:12]}) without that DB record")
    # Only the latest proposal per validator is kept: no logged block may be in a later epoch.
    for (p, e) in proposals:
        if db_prop.get(p, -1) < e:
            a.problems.append(f"proposer {p} signed a block in epoch {e} beyond its DB record")
    return a
