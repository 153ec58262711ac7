"""report.md in the interop's template, and a plot of head/justified/finalized per node.

The interop asked each client pair for a document titled "<Client-A> / <Client-B>" with the
set-up, each exercise, its result, time to finality per node, forks observed, and the
problems met with their solutions. The harness fills in everything it can measure; the
solutions are left as a marked line for the pair to write.
"""
from __future__ import annotations

import collections
import datetime
import platform
import re
from pathlib import Path
from typing import Iterable

from beacon.testnet import resources
from beacon.testnet.faults import report_lines as fault_lines
from beacon.testnet.runner import RunResult, Sample
from beacon.testnet.slashing import report_lines as slashing_report_lines
from beacon.testnet.status import is_abbreviated, root_key


def title(results: list[RunResult]) -> str:
    first = results[0].spec.clients
    return f"{first['A'].name} / {first['B'].name}"


def _group(pairs: Iterable[tuple[int, str, str]]) -> list[tuple[int, dict[str, set[str]]]]:
    """(position, root, node) -> positions with more than one root: [(pos, {root: {nodes}})].

    Roots are grouped by root_key (JSON and metrics readings compare equal); the longest
    spelling seen is shown.
    """
    by_pos: dict[int, dict[str, set[str]]] = collections.defaultdict(lambda: collections.defaultdict(set))
    shown: dict[str, str] = {}
    pairs = list(pairs)
    short = any(is_abbreviated(root) for _, root, _ in pairs)
    for pos, root, node in pairs:
        key = root_key(root, short)
        if len(root) > len(shown.get(key, "")):
            shown[key] = root
        by_pos[pos][key].add(node)
    return [(pos, {shown[k]: v for k, v in roots.items()}) for pos, roots in sorted(by_pos.items()) if len(roots) > 1]


def forks(samples: Iterable[Sample]) -> list[tuple[int, dict[str, set[str]]]]:
    """Slots at which nodes reported different head roots: [(slot, {root: {nodes}})]."""
    return _group((s.head_slot, s.head_root, s.node) for s in samples
                  if s.ok and s.head_slot is not None and s.head_root is not None)


def finality_conflicts(samples: Iterable[Sample]) -> list[tuple[int, dict[str, set[str]]]]:
    """Finalized epochs with more than one root: a real split, worse than a head fork."""
    return _group((s.finalized_epoch, s.finalized_root, s.node) for s in samples
                  if s.ok and s.finalized_epoch and s.finalized_root is not None)


def _short(root: str) -> str:
    return root[:10] + "…" if len(root) > 12 else root


def _since(res: RunResult, t: float | None) -> str:
    if t is None:
        return "—"
    d = t - res.genesis_time
    slot = int(d // res.spec.seconds_per_slot)
    return f"{d:.0f} s (slot {slot}, epoch {slot // res.spec.slots_per_epoch})"


def exercise_section(res: RunResult, plot_rel: str | None) -> str:
    spec = res.spec
    lines = [f"## {spec.name}: {spec.title}" if spec.title else f"## {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    verdict = "**PASSED**" if res.reached else "**FAILED**"
    goal = []
    if spec.goal.finalized_epoch is not None:
        goal.append(f"epoch {spec.goal.finalized_epoch} finalized")
    if spec.goal.peered:
        goal.append("connected to every static peer")
    if spec.goal.exited:
        goal.append(f"validator(s) {', '.join(map(str, spec.goal.exited))} exited")
    if spec.goal.slashed:
        goal.append(f"validator(s) {', '.join(map(str, spec.goal.slashed))} slashed in the head state")
    if spec.goal.reorg:
        goal.append("a reorg after the heal")
    if spec.goal.finality_resumes:
        goal.append("finality resumed after the heal")
    if spec.goal.hold:
        goal.append(f"held for {spec.goal.hold:g} s")
    lines += [f"Result: {verdict}: {res.reason}. Goal: {' and '.join(goal)} on {', '.join(spec.goal.nodes)}.", ""]

    lines += ["### Setup", ""]
    lines += [f"- {'separate hosts: one network namespace per node on a private bridge' if res.mode == 'netns' else 'single machine, 127.0.0.1 ports'}",
              f"- preset `{spec.preset}`, {spec.seconds_per_slot} s slots, {spec.slots_per_epoch} slots/epoch"
              + (f", overrides `{spec.config}`" if spec.config else ""),
              f"- {spec.validators} validators, genesis time {res.genesis_time} "
              f"({datetime.datetime.fromtimestamp(res.genesis_time, datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"]
    for dialer, targets in spec.peering.items():
        lines.append(f"- static peer {dialer} to [{', '.join(targets)}]")
    for e in spec.events:
        lines.append(f"- event: {e.describe(spec.slots_per_epoch)}")
    lines += ["", "| node | role | client | validators | address | link |", "| --- | --- | --- | --- | --- | --- |"]
    for rt in res.nodes.values():
        n = rt.node
        vals = f"{n.validators_start}..{n.validators_start + n.validators_count - 1}" if n.validators_count else "none"
        link = rt.netem or ("—" if not n.link.active() else f"{n.link} (not applied)")
        lines.append(f"| {n.id} | {n.role} | {rt.client.name} | {vals} | `{rt.multiaddr or rt.ip}` | {link} |")

    lines += ["", "### Time to finality", "",
              "Times are from genesis.", "",
              "| node | first finalized epoch seen | goal reached | last head slot | justified | finalized | peers | process |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    last: dict[str, Sample] = {}
    for s in res.samples:
        if s.ok:
            last[s.node] = s
    for node_id, rt in res.nodes.items():
        ls = last.get(node_id)
        proc = "; ".join(rt.exits) if rt.exits else ("never started" if rt.starts == 0 else "ran to the end")
        if rt.starts > 1:
            proc += f"; started {rt.starts} times"
        lines.append(f"| {node_id} | {_since(res, res.first_finality.get(node_id))} | "
                     f"{_since(res, res.goal_times.get(node_id)) if node_id in spec.goal.nodes else 'not a goal node'} | "
                     f"{ls.head_slot if ls else '—'} | {ls.justified_epoch if ls else '—'} | "
                     f"{ls.finalized_epoch if ls else '—'} | {ls.peers if ls and ls.peers is not None else '—'} | {proc} |")
    if plot_rel:
        lines += ["", f"![head, justified and finalized epoch per node]({plot_rel})"]
    lines += slashing_report_lines(res.slashing, spec, res.genesis_time)

    from beacon.testnet.ops import report_lines

    ops_lines = report_lines(res.out_dir, spec)
    if ops_lines:
        prefix = str(Path(plot_rel).parent) if plot_rel else str(res.out_dir)
        lines += [""] + [x.replace("](balances.png)", f"]({prefix}/balances.png)") for x in ops_lines]

    lines += ["", *resources.report_lines(res.rss)]
    lines += ["### Forks observed", ""]
    fk = forks(res.samples)
    if not fk:
        lines.append("None: whenever two nodes reported a head at the same slot, the roots agreed.")
    else:
        lines.append(f"{len(fk)} slot(s) where nodes reported different head roots:")
        lines.append("")
        for slot, roots in fk[:20]:
            desc = "; ".join(f"`{_short(r)}` on {', '.join(sorted(ns))}" for r, ns in roots.items())
            lines.append(f"- slot {slot}: {desc}")
        if len(fk) > 20:
            lines.append(f"- … and {len(fk) - 20} more (samples.jsonl)")
    for epoch, roots in finality_conflicts(res.samples):
        desc = "; ".join(f"`{_short(r)}` on {', '.join(sorted(ns))}" for r, ns in roots.items())
        lines.append(f"- **finalized epoch {epoch} has different roots**: {desc}")

    lines += fault_lines(res)  # partitions, reorgs, relays
    lines += ["", "### Timeline", ""]
    for t, text in res.timeline:
        lines.append(f"- {t - res.genesis_time:+.0f} s: {text}")

    lines += ["", "### Problems and solutions", ""]
    problems = list(res.problems)
    errors: dict[str, list[Sample]] = collections.defaultdict(list)
    for s in res.samples:
        # Before genesis a node may still be starting its API; that is not a problem.
        if (not s.ok and s.t >= res.genesis_time and s.error not in ("pending", "paused", "down", "exited")
                and not (s.error or "").startswith("starting")):
            errors[s.node].append(s)
    for node_id, errs in errors.items():
        problems.append(f"{node_id}: {len(errs)} poll(s) got no status; first: {errs[0].error}")
    if not problems:
        lines.append("None recorded by the harness.")
    for p in problems:
        head, *rest = p.split("\n")
        lines.append(f"- {head}")
        if rest:
            lines += ["", "  ```", *("  " + r for r in rest), "  ```", ""]
        lines.append("  - Solution: _(to be written by the pair)_")
    lines += ["", f"Logs, samples.jsonl and result.json: `{res.out_dir}`", ""]
    return "\n".join(lines)


def write_report(results: list[RunResult], path: Path) -> Path:
    head = [f"# {title(results)}", "",
            f"Interop exercises run with `pybeacon testnet` on {platform.node()} "
            f"({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC).", "",
            "| exercise | result | reason |", "| --- | --- | --- |"]
    for r in results:
        head.append(f"| {r.spec.name} | {'passed' if r.reached else 'FAILED'} | {r.reason} |")
    roles = results[0].spec.clients
    head += ["", "## Setup", ""]
    for role in ("A", "B"):
        c = roles[role]
        head.append(f"- Client {role}: {c.title or c.name}, command `{c.command}` (watched via {c.watch}"
                    + (f", {c.log_file}" if c.watch == "log" and c.log_file else "") + ")")
        if c.genesis == "own":
            head.append(f"  - builds its own {c.limits.validators}-validator quick-start genesis from the run's "
                        "genesis time; the other side starts from the identical state")
        head += [f"  - {note}" for note in c.notes]
    if any(is_abbreviated(s.head_root or "") for r in results for s in r.samples if s.ok):
        head.append("- Roots are compared at the precision of the shortest spelling logged "
                    "(first and last 2 bytes, `a8dd..5d98`): head block signing roots per slot and "
                    "finalized checkpoint roots per epoch.")
    head.append("")
    sections = []
    for r in results:
        plot = r.out_dir / "plot.png"
        rel = None
        if plot.exists():
            try:
                rel = str(plot.relative_to(path.parent))
            except ValueError:
                rel = str(plot)
        sections.append(exercise_section(r, rel))
    path.write_text("\n".join(head) + "\n" + "\n".join(sections))
    return path


def write_plot(res: RunResult, path: Path) -> Path | None:
    """One panel per node: head, justified and finalized epoch against minutes since genesis."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    spe = res.spec.slots_per_epoch
    node_ids = list(res.nodes)
    # Seconds read better for a short run, minutes for a long one.
    unit, scale = ("seconds", 1.0) if res.ended - res.genesis_time < 600 else ("minutes", 60.0)
    fig, axes = plt.subplots(len(node_ids), 1, sharex=True, sharey=True, squeeze=False,
                             figsize=(9, 1.9 * len(node_ids) + 1))
    for ax, node_id in zip(axes[:, 0], node_ids):
        pts = [s for s in res.samples if s.node == node_id and s.ok and s.head_slot is not None]
        x = [(s.t - res.genesis_time) / scale for s in pts]
        ax.plot(x, [s.head_slot / spe for s in pts], label="head epoch", color="tab:blue")
        ax.plot(x, [s.justified_epoch or 0 for s in pts], label="justified", color="tab:orange", drawstyle="steps-post")
        ax.plot(x, [s.finalized_epoch or 0 for s in pts], label="finalized", color="tab:green", drawstyle="steps-post")
        if res.spec.goal.finalized_epoch and node_id in res.spec.goal.nodes:
            ax.axhline(res.spec.goal.finalized_epoch, color="grey", linestyle=":", linewidth=1)
        for t, text in res.timeline:
            if text.startswith("slot ") and re.search(rf"\b{re.escape(node_id)}\b", text):
                ax.axvline((t - res.genesis_time) / scale, color="red", linestyle="--", linewidth=0.8)
        rt = res.nodes[node_id]
        ax.set_title(f"{node_id} ({rt.client.name}, role {rt.node.role})", fontsize=9, loc="left")
        ax.set_ylabel("epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    axes[-1, 0].set_xlabel(f"{unit} since genesis")
    fig.suptitle(f"{res.spec.name}: {'passed' if res.reached else 'FAILED'} ({res.reason})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
