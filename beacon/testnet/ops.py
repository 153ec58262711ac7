"""Validator-level events of a testnet run: `offline` and `exit`, their goal and their report.

    {action: offline, node: A-0, validators: "0:6", at_epoch: 2, epochs: 4}
        POST /pybeacon/v1/validators/offline to the node (it runs on; those validators skip
        every duty), and the same with offline: false when the time is up.
    {action: exit, node: A-1, validator: 9, at_epoch: 3}
        runs `pybeacon validator exit --index 9 --api <the node's API>` (inside the node's
        namespace with --netns), which signs with the interop key and POSTs the exit.
    goal: {exited: [9]}
        every goal node reports validator 9 with its exit epoch reached (status exited_*).

While such a run goes on, the harness reads once per epoch, from the first goal node, every
validator's balance (/eth/v1/beacon/states/head/validator_balances) and the exit state of each
exiting validator; `ops.json` and `balances.png` keep them, and report.md gets a section
(offline vs online balances next to the finalized epoch; when each exit was set and reached).
"""
from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from beacon.testnet import status as st

OFFLINE_PATH = "/pybeacon/v1/validators/offline"
EXITED = ("exited_unslashed", "exited_slashed", "withdrawal_possible", "withdrawal_done")
CLI_TIMEOUT = 60.0


http_json = st.http_json


def pending_actions(spec: Any) -> list[tuple[int, str, str]]:
    """(slot, action, node) for the runner's queue: offline:S:C / online:S:C / exit:V."""
    out = []
    for e in spec.events:
        if e.action == "offline":
            out += [(e.at_slot, f"offline:{e.validators}", e.node), (e.at_slot + e.slots, f"online:{e.validators}", e.node)]
        elif e.action == "exit":
            out.append((e.at_slot, f"exit:{e.validator}", e.node))
    return out


def handles(action: str) -> bool:
    return action.split(":")[0] in ("offline", "online", "exit")


@dataclasses.dataclass
class ExitTrack:
    validator: int
    node: str
    submitted_slot: int | None = None
    cli: str = ""  # what the CLI printed (its last line)
    cli_status: int | None = None
    exit_epoch: int | None = None
    set_slot: int | None = None  # wall slot when the exit epoch was first seen set
    reached_slot: int | None = None  # wall slot when the status was first seen exited_*
    status: str = ""


class OpsTracker:
    """Owned by one TestnetRun (duck-typed `run`: spec, nodes, lab, out, clock, note, problem...)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        spec = run.spec
        self.offline_events = [e for e in spec.events if e.action == "offline"]
        self.exits = {e.validator: ExitTrack(e.validator, e.node) for e in spec.events if e.action == "exit"}
        for v in spec.goal.exited:
            self.exits.setdefault(v, ExitTrack(v, spec.goal.nodes[0]))
        self.active = bool(self.offline_events or self.exits)
        self.windows: list[dict[str, Any]] = []  # offline periods as they happened
        self.records: list[dict[str, Any]] = []  # one per epoch: balances and finality
        self._last_epoch: int | None = None

    # ------------------------------------------------------------------ events
    def do(self, action: str, rt: Any, slot: int) -> None:
        kind, _, arg = action.partition(":")
        if kind in ("offline", "online"):
            self._set_offline(rt, arg, kind == "offline", slot)
        elif kind == "exit":
            self._exit(rt, int(arg), slot)

    def _set_offline(self, rt: Any, validators: str, offline: bool, slot: int) -> None:
        node_id = rt.node.id
        start, count = (int(x) for x in validators.split(":"))
        what = f"validators {start}..{start + count - 1} of {node_id}"
        if rt.state != "running":
            self.run.problem(f"slot {slot}: {what} not switched {'off' if offline else 'on'}: the node is {rt.state}")
            return
        try:
            code, doc = http_json("127.0.0.1", rt.http_port, "POST", OFFLINE_PATH,
                                  {"validators": validators, "offline": offline}, connector=rt.connector)
        except st.ObserveError as e:
            self.run.problem(f"slot {slot}: {what} not switched {'off' if offline else 'on'}: {e}")
            return
        if code != 200:
            msg = doc.get("message") if isinstance(doc, dict) else doc
            self.run.problem(f"slot {slot}: {node_id} refused to switch {what} {'off' if offline else 'on'}: "
                             f"HTTP {code}: {msg}")
            return
        if offline:
            self.windows.append({"node": node_id, "validators": validators, "from_slot": slot, "to_slot": None})
        else:
            for w in self.windows:
                if w["node"] == node_id and w["validators"] == validators and w["to_slot"] is None:
                    w["to_slot"] = slot
        self.run.note(f"slot {slot}: {node_id} validators {start}..{start + count - 1} "
                      f"{'offline (no duties)' if offline else 'back online'}")

    def exit_command(self, rt: Any, validator: int) -> list[str]:
        from beacon.testnet.runner import pybeacon_command

        cmd = pybeacon_command() + ["validator", "exit", "--index", str(validator), "--api",
                                    f"http://127.0.0.1:{rt.http_port}", "--preset", self.run.spec.preset,
                                    "--config", str(self.run.out / "config.yaml")]
        return (self.run.lab.exec_prefix(rt.node.id) if self.run.lab else []) + cmd

    def _exit(self, rt: Any, validator: int, slot: int) -> None:
        from beacon.testnet.runner import child_env

        track = self.exits[validator]
        track.submitted_slot = slot
        cmd = self.exit_command(rt, validator)
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                                  env=child_env(), cwd=self.run.out)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.run.problem(f"slot {slot}: exit of validator {validator} on {rt.node.id}: {shlex.join(cmd)}: {e}")
            return
        out = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
        track.cli, track.cli_status = (out[-1] if out else ""), proc.returncode
        with open(self.run.out / "logs" / "exit-cli.log", "a") as f:
            f.write(f"$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}exit status {proc.returncode}\n")
        if proc.returncode != 0:
            self.run.problem(f"slot {slot}: `pybeacon validator exit --index {validator}` against {rt.node.id} "
                             f"exited {proc.returncode}: {track.cli}")
            return
        self.run.note(f"slot {slot}: {rt.node.id}: exit of validator {validator} submitted: {track.cli}")

    # ------------------------------------------------------------------ watching
    def _reader(self) -> Any | None:
        for node_id in self.run.spec.goal.nodes:
            rt = self.run.nodes[node_id]
            if rt.state == "running" and rt.client.watch == "status":
                return rt
        return None

    def validator_doc(self, rt: Any, index: int) -> dict[str, Any] | None:
        try:
            code, doc = http_json("127.0.0.1", rt.http_port, "GET", f"/eth/v1/beacon/states/head/validators/{index}",
                                  timeout=2.0, connector=rt.connector)
        except st.ObserveError:
            return None
        return doc.get("data") if code == 200 and isinstance(doc, dict) else None

    def exited(self, rt: Any, indices: list[int]) -> bool:
        """The goal: every validator of `indices` has reached its exit epoch, as `rt` sees it."""
        for v in indices:
            doc = self.validator_doc(rt, v)
            if doc is None or doc.get("status") not in EXITED:
                return False
        return True

    def after_poll(self, samples: list[Any]) -> None:
        if not self.active:
            return
        slot = self.run.slot_now()
        epoch = slot // self.run.spec.slots_per_epoch
        if slot < 0 or epoch == self._last_epoch:
            return
        rt = self._reader()
        if rt is None:
            return
        self._last_epoch = epoch
        latest = next((s for s in samples if s.node == rt.node.id and s.ok), None)
        rec: dict[str, Any] = {"t": self.run.clock(), "slot": slot, "epoch": epoch, "node": rt.node.id,
                               "head_slot": latest.head_slot if latest else None,
                               "finalized_epoch": latest.finalized_epoch if latest else None,
                               "justified_epoch": latest.justified_epoch if latest else None}
        if self.offline_events:
            try:
                code, doc = http_json("127.0.0.1", rt.http_port, "GET", "/eth/v1/beacon/states/head/validator_balances",
                                      timeout=3.0, connector=rt.connector)
                if code == 200:
                    rec["balances"] = [int(d["balance"]) for d in sorted(doc["data"], key=lambda d: int(d["index"]))]
            except (st.ObserveError, KeyError, TypeError, ValueError):
                pass
        for v, track in self.exits.items():
            doc = self.validator_doc(rt, v)
            if doc is None:
                continue
            far = str(2**64 - 1)
            exit_epoch = doc["validator"]["exit_epoch"]
            track.status = doc["status"]
            if exit_epoch != far and track.exit_epoch is None:
                track.exit_epoch, track.set_slot = int(exit_epoch), slot
                self.run.note(f"validator {v}: exit epoch {exit_epoch} on chain (seen by {rt.node.id} at slot {slot})")
            if doc["status"] in EXITED and track.reached_slot is None:
                track.reached_slot = slot
                self.run.note(f"validator {v}: exited ({doc['status']}, seen by {rt.node.id} at slot {slot})")
            rec.setdefault("exits", {})[str(v)] = {"exit_epoch": exit_epoch, "status": doc["status"]}
        self.records.append(rec)
        with open(self.run.out / "balances.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")

    # ------------------------------------------------------------------ results
    def finish(self) -> None:
        if not self.active or not self.run.out.exists():
            return
        doc = {"windows": self.windows, "offline_validators": sorted(self.offline_set()),
               "exits": {str(v): dataclasses.asdict(t) for v, t in self.exits.items()}, "records": self.records}
        (self.run.out / "ops.json").write_text(json.dumps(doc, indent=1))
        if self.offline_events and any("balances" in r for r in self.records):
            try:
                write_balance_plot(doc, self.run.spec, self.run.out / "balances.png")
            except Exception as e:  # noqa: BLE001 - a plot must not cost the run's results
                self.run.problem(f"balances.png not written: {e}")

    def offline_set(self) -> set[int]:
        return {v for e in self.offline_events for v in e.validator_range()}


def _groups(doc: dict[str, Any]) -> tuple[list[int], list[int], list[dict[str, Any]]]:
    off = set(doc["offline_validators"])
    recs = [r for r in doc["records"] if "balances" in r]
    n = len(recs[0]["balances"]) if recs else 0
    return sorted(off), [i for i in range(n) if i not in off], recs


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def write_balance_plot(doc: dict[str, Any], spec: Any, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    off, on, recs = _groups(doc)
    x = [r["slot"] / spec.slots_per_epoch for r in recs]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5))
    ax1.plot(x, [_mean([r["balances"][i] for i in off]) / 1e9 for r in recs], marker=".",
             label=f"offline group ({len(off)} validators)", color="tab:red")
    ax1.plot(x, [_mean([r["balances"][i] for i in on]) / 1e9 for r in recs], marker=".",
             label=f"online ({len(on)} validators)", color="tab:blue")
    ax1.set_ylabel("mean balance (ETH)")
    ax1.legend(fontsize=8, loc="lower left")
    ax2.plot(x, [r["finalized_epoch"] if r["finalized_epoch"] is not None else float("nan") for r in recs],
             drawstyle="steps-post", color="tab:green", label="finalized epoch")
    ax2.plot(x, [r["justified_epoch"] if r["justified_epoch"] is not None else float("nan") for r in recs],
             drawstyle="steps-post", color="tab:orange", label="justified epoch")
    ax2.set_ylabel("epoch")
    ax2.set_xlabel("wall-clock epoch")
    ax2.legend(fontsize=8, loc="upper left")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        for w in doc["windows"]:
            end = w["to_slot"] if w["to_slot"] is not None else recs[-1]["slot"]
            ax.axvspan(w["from_slot"] / spec.slots_per_epoch, end / spec.slots_per_epoch, color="grey", alpha=0.15)
    fig.suptitle(f"{spec.name}: balances (read from {recs[0]['node'] if recs else '?'}'s /eth/v1 API) and finality; "
                 "grey: validators offline", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def report_lines(out_dir: Path, spec: Any) -> list[str]:
    """The report.md section of a run with offline/exit events (from ops.json), or nothing."""
    path = out_dir / "ops.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    lines: list[str] = []
    if doc["windows"]:
        off, on, recs = _groups(doc)
        lines += ["### Offline validators: finality and balances", ""]
        for w in doc["windows"]:
            end = f"slot {w['to_slot']}" if w["to_slot"] is not None else "the end of the run"
            lines.append(f"- {w['node']}: validators {w['validators']} (START:COUNT) offline from slot {w['from_slot']} "
                         f"to {end}")
        fins = [(r["epoch"], r["finalized_epoch"]) for r in doc["records"] if r["finalized_epoch"] is not None]
        if fins:
            lines.append(f"- finalized epoch by wall-clock epoch: {', '.join(f'{e}:{f}' for e, f in fins)}")
        if recs:
            lines += ["", "Mean balances in Gwei, read from the head state of "
                      f"{recs[0]['node']} (`/eth/v1/beacon/states/head/validator_balances`) once per epoch:", "",
                      "| wall epoch | head slot | justified | finalized | offline group | online | offline - online |",
                      "| --- | --- | --- | --- | --- | --- | --- |"]
            for r in recs:
                a, b = _mean([r["balances"][i] for i in off]), _mean([r["balances"][i] for i in on])
                lines.append(f"| {r['epoch']} | {r['head_slot']} | {r['justified_epoch']} | {r['finalized_epoch']} | "
                             f"{a:,.0f} | {b:,.0f} | {a - b:+,.0f} |")
        if (out_dir / "balances.png").exists():
            lines += ["", "![balances of offline vs online validators, and finality](balances.png)"]
        lines.append("")
    if doc["exits"]:
        lines += ["### Voluntary exits", "", "| validator | via | submitted at slot | CLI said | exit epoch | "
                  "seen set at slot | exited at slot | last status |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for v, t in doc["exits"].items():
            lines.append(f"| {v} | {t['node']} | {t['submitted_slot']} | {t['cli'] or '—'} | {t['exit_epoch']} | "
                         f"{t['set_slot']} | {t['reached_slot']} | {t['status']} |")
        lines.append("")
    return lines
