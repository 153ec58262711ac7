"""The `equivocate` event and the `slashed` goal of a testnet run (issue 13).

`equivocate` POSTs `{validator, kind}` to the node's `/pybeacon/v1/chaos/equivocate` (the
node was started with --unsafe-allow-equivocation because the description asks for this
event); the validator then signs a slashable pair at its next duty. The goal `slashed: [V]`
holds on a node once its head state (`/eth/v1/beacon/states/head/validators/V`) shows every V
slashed. Per node and validator the watch keeps when that was first seen, the balance before
and after, and the exit epoch; the equivocating node tells when the pair was signed
(`GET /pybeacon/v1/chaos/equivocations`). Both go to result.json and report.md.
"""
from __future__ import annotations

from typing import Any

from beacon.testnet import status as st

EQUIVOCATE_PATH = "/pybeacon/v1/chaos/equivocate"
EQUIVOCATIONS_PATH = "/pybeacon/v1/chaos/equivocations"
VALIDATOR_PATH = "/eth/v1/beacon/states/head/validators/{}"


class ChaosError(RuntimeError):
    """An order the node refused or did not answer."""


def http_json(method: str, port: int, path: str, doc: Any = None, *, connector: st.Connector = st.default_connector,
              timeout: float = 3.0) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body) of one request to the node's API on 127.0.0.1."""
    try:
        return st.http_json("127.0.0.1", port, method, path, doc, timeout, connector)
    except st.ObserveError as e:
        raise ChaosError(str(e)) from None


class SlashingWatch:
    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.orders = [e for e in spec.events if e.action == "equivocate"]
        self.equivocators = {e.node for e in self.orders}
        self.armed: dict[int, dict[str, Any]] = {}  # validator -> {node, kind, t, balance}
        self.signed: dict[int, dict[str, Any]] = {}  # validator -> the node's record (slot, time, signed roots)
        self.seen: dict[str, dict[int, dict[str, Any]]] = {}  # node -> validator -> first slashed sighting
        self._last_balance: dict[str, dict[int, int]] = {}  # node -> validator -> latest unslashed balance
        self.notes: list[str] = []  # for the run's timeline; the runner takes them

    def command_extra(self, node_id: str) -> list[str]:
        from beacon.testnet.spec import EQUIVOCATION_FLAG

        return [EQUIVOCATION_FLAG] if node_id in self.equivocators else []

    def arm(self, node_id: str, port: int, connector: st.Connector, validator: int, kind: str, t: float) -> str:
        """The order; the line for the timeline. ChaosError if the node refused it."""
        code, doc = http_json("POST", port, EQUIVOCATE_PATH, {"validator": validator, "kind": kind},
                              connector=connector)
        if code != 200:
            message = doc.get("message") if isinstance(doc, dict) else doc
            raise ChaosError(f"{node_id} refused the equivocation of validator {validator} ({kind}): "
                             f"HTTP {code}: {message}")
        balance = None
        try:
            balance = self._validator(port, connector, validator)["balance"]
        except (ChaosError, KeyError, TypeError, ValueError):
            pass
        self.armed[validator] = {"node": node_id, "kind": kind, "t": t, "balance": balance}
        return f"{node_id}: validator {validator} ordered to equivocate ({kind}) at its next duty"

    def _validator(self, port: int, connector: st.Connector, validator: int) -> dict[str, Any]:
        code, doc = http_json("GET", port, VALIDATOR_PATH.format(validator), connector=connector, timeout=2.0)
        if code != 200:
            raise ChaosError(f"validator {validator}: HTTP {code}")
        d = doc["data"]
        return {"slashed": bool(d["validator"]["slashed"]), "balance": int(d["balance"]),
                "exit_epoch": int(d["validator"]["exit_epoch"]), "status": d["status"]}

    def refresh_signed(self, nodes: dict[str, Any]) -> None:
        """When the equivocating nodes signed their pairs (asked until all are known)."""
        for node_id in self.equivocators:
            if all(v in self.signed for v, a in self.armed.items() if a["node"] == node_id):
                continue
            rt = nodes[node_id]
            try:
                code, doc = http_json("GET", rt.http_port, EQUIVOCATIONS_PATH, connector=rt.connector, timeout=2.0)
            except ChaosError:
                continue
            if code == 200:
                for rec in doc.get("data", []):
                    if rec.get("slot") is not None and int(rec["validator"]) not in self.signed:
                        self.signed[int(rec["validator"])] = rec
                        self.notes.append(f"{node_id}: validator {rec['validator']} signed its slashable pair "
                                          f"({rec['kind']}) at slot {rec['slot']}")

    def node_slashed(self, node_id: str, port: int, connector: st.Connector, t: float) -> bool:
        """Whether every goal validator is slashed in this node's head state (recording sightings)."""
        seen = self.seen.setdefault(node_id, {})
        last = self._last_balance.setdefault(node_id, {})
        for v in self.spec.goal.slashed:
            if v in seen:
                continue
            try:
                doc = self._validator(port, connector, v)
            except (ChaosError, KeyError, TypeError, ValueError):
                continue
            if not doc["slashed"]:
                last[v] = doc["balance"]
                continue
            seen[v] = {"t": t, "balance": doc["balance"], "balance_before": last.get(v),
                       "exit_epoch": doc["exit_epoch"], "status": doc["status"]}
            self.notes.append(f"{node_id}: validator {v} slashed in its head state (balance {doc['balance']}, "
                              f"exit epoch {doc['exit_epoch']})")
        return all(v in seen for v in self.spec.goal.slashed)

    def summary(self) -> dict[str, Any]:
        """For result.json and the report (JSON keys are strings)."""
        if not self.orders and not self.spec.goal.slashed:
            return {}
        return {"armed": {str(v): a for v, a in self.armed.items()},
                "signed": {str(v): r for v, r in self.signed.items()},
                "seen": {n: {str(v): rec for v, rec in vs.items()} for n, vs in self.seen.items()}}



def report_lines(summary: dict[str, Any], spec: Any, genesis_time: int) -> list[str]:
    """The report's section on equivocations and slashings (nothing when the run had none)."""
    if not summary or (not summary.get("armed") and not spec.goal.slashed):
        return []
    armed, signed_all, seen = summary.get("armed", {}), summary.get("signed", {}), summary.get("seen", {})
    lines = ["", "### Equivocations and slashings", "",
             "Signed: when the equivocating node signed the pair (its chaos record). Per node: when its head "
             "state first showed the validator slashed (a block carrying the slashing imported), the time "
             "since the signing, the balance before (last unslashed poll, else at the order) and after, and "
             "the exit epoch.", "",
             "| validator | kind | by | signed at | node | slashed seen at | after signing | balance before → after (Gwei) | exit epoch |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    sps = spec.seconds_per_slot
    for v in sorted({int(k) for k in armed} | set(spec.goal.slashed)):
        a = armed.get(v) or armed.get(str(v)) or {}
        signed = signed_all.get(v) or signed_all.get(str(v))
        signed_t = signed.get("time") if signed else None
        signed_txt = f"slot {signed['slot']} ({signed_t - genesis_time:+.0f} s)" if signed and signed_t else "not signed"
        rows = [(n, vs.get(str(v)) or vs.get(v)) for n, vs in sorted(seen.items()) if (vs.get(str(v)) or vs.get(v))]
        if not rows:
            lines.append(f"| {v} | {a.get('kind', '—')} | {a.get('node', '—')} | {signed_txt} | — | not seen slashed "
                         "| — | — | — |")
        for n, rec in rows:
            after = f"{rec['t'] - signed_t:.1f} s" if signed_t else "—"
            before = rec.get("balance_before") if rec.get("balance_before") is not None else a.get("balance")
            drop = f"{before} → {rec['balance']} (−{before - rec['balance']})" if before is not None else str(rec["balance"])
            slot = int((rec["t"] - genesis_time) // sps)
            lines.append(f"| {v} | {a.get('kind', '—')} | {a.get('node', '—')} | {signed_txt} | {n} | "
                         f"slot {slot} ({rec['t'] - genesis_time:+.0f} s) | {after} | {drop} | {rec['exit_epoch']} |")
    return lines
