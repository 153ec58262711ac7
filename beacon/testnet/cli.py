"""`pybeacon testnet`: run interop exercises from YAML descriptions and write the report.

    pybeacon testnet exercises/ex4.yaml --netns --out runs/ex4
    pybeacon testnet exercises/ex2.yaml --client-b "lighthouse bn ... {peers}" --client-b-name Lighthouse --swap
    pybeacon testnet exercises/ex2.yaml --client-a trinity      # a client description by name

Exit status: 0 every goal reached, 1 a goal missed, 2 bad usage or description, 130 interrupted.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import signal
import sys
from pathlib import Path
from types import FrameType

from beacon.testnet import catalog, netns
from beacon.testnet.faults import unsupported_faults
from beacon.testnet.spec import (
    LIST_PLACEHOLDERS, WATCH_MODES, WORD_PLACEHOLDERS, Spec, SpecError, check_limits, check_template, load_spec,
    parse_duration,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC.yaml", help="testnet description(s), run one after another")
    parser.add_argument("--netns", action="store_true",
                        help="one Linux network namespace per node on a private bridge (root, iproute2); "
                             "without root it falls back to 127.0.0.1 ports")
    parser.add_argument("--out", metavar="DIR", help="output directory (default testnet-runs/<UTC time>)")
    for role in ("a", "b"):
        R = role.upper()
        parser.add_argument(f"--client-{role}", metavar="NAME|CMD",
                            help=f"role {R}'s client: a description by name ({', '.join(catalog.names())}) or "
                                 "path (.yaml), or a command template (placeholders: "
                                 + " ".join("{" + p + "}" for p in sorted(WORD_PLACEHOLDERS | LIST_PLACEHOLDERS)) + ")")
        parser.add_argument(f"--client-{role}-name", metavar="NAME", help=f"name of role {R}'s client in the report")
        parser.add_argument(f"--client-{role}-watch", choices=WATCH_MODES,
                            help=f"how to read role {R}'s nodes (default: status for pybeacon, metrics otherwise)")
    parser.add_argument("--swap", action="store_true", help="exchange the clients of roles A and B ([swap] exercises)")
    parser.add_argument("--skip-link-shaping", action="store_true",
                        help="run even where link latency/loss cannot be applied (noted in the report)")
    parser.add_argument("--finalized-epoch", type=int, metavar="N",
                        help="goal: this finalized epoch instead of the description's (where it has one)")
    parser.add_argument("--time-limit", metavar="DURATION", help="instead of the description's (90, 90s, 20m, 1.5h)")
    parser.add_argument("--goal-hold", metavar="DURATION",
                        help="a goal node counts only once its goal held this long without a break "
                             "(e.g. 30s: a connection that outlives the Hello wait)")
    parser.add_argument("--check", action="store_true", help="only validate the descriptions and print a summary")
    parser.add_argument("--monitor", action="store_true",
                        help="serve the live fork monitor page (pybeacon monitor) on the nodes while they run")
    parser.add_argument("--monitor-port", type=int, default=8090, metavar="PORT",
                        help="port of the monitor page on 127.0.0.1 (default 8090)")


def _apply_overrides(spec: Spec, args: argparse.Namespace) -> Spec:
    clients = dict(spec.clients)
    for role in ("a", "b"):
        client = dataclasses.replace(clients[role.upper()])
        cmd = getattr(args, f"client_{role}", None)
        if cmd and catalog.is_client_ref(cmd):
            client = catalog.load_client(cmd)
        elif cmd:
            check_template(cmd, f"--client-{role}", WORD_PLACEHOLDERS, LIST_PLACEHOLDERS)
            client.command, client.watch = cmd, "metrics"
            client.name = cmd.split()[0].rsplit("/", 1)[-1]
        if name := getattr(args, f"client_{role}_name", None):
            client.name = name
        if watch := getattr(args, f"client_{role}_watch", None):
            client.watch = watch
        if client.watch == "log" and not client.log_patterns:
            raise SpecError(f"--client-{role}-watch log needs log_patterns in the description's clients.{role.upper()}")
        clients[role.upper()] = client
    spec = dataclasses.replace(spec, clients=clients)
    if args.swap:
        spec = spec.swapped()
    if args.finalized_epoch is not None:
        if args.finalized_epoch < 1:
            raise SpecError(f"--finalized-epoch must be at least 1, got {args.finalized_epoch}")
        if spec.goal.finalized_epoch is not None:
            spec = dataclasses.replace(spec, goal=dataclasses.replace(spec.goal, finalized_epoch=args.finalized_epoch))
    if args.time_limit is not None:
        spec = dataclasses.replace(spec, time_limit=parse_duration(args.time_limit, "--time-limit"))
    if args.goal_hold is not None:
        spec = dataclasses.replace(spec, goal=dataclasses.replace(spec.goal, hold=parse_duration(args.goal_hold,
                                                                                                  "--goal-hold")))
    # A client that needs longer to start than the description allows before genesis gets it.
    used = {n.role for n in spec.nodes}
    need = max([spec.clients[r].min_genesis_delay for r in used], default=0.0)
    if need > spec.genesis_delay:
        spec = dataclasses.replace(spec, genesis_delay=need, time_limit=spec.time_limit + need - spec.genesis_delay)
    return spec


def _summary(spec: Spec) -> str:
    lines = [f"{spec.name}: {len(spec.nodes)} nodes, {spec.validators} validators, preset {spec.preset}, "
             f"{spec.seconds_per_slot} s slots, time limit {spec.time_limit:g} s"]
    for n in spec.nodes:
        vals = f"{n.validators_start}:{n.validators_count}" if n.validators_count else "none"
        lines.append(f"  {n.id:6} role {n.role} ({spec.clients[n.role].name}) validators {vals}"
                     + (f" -> dials {', '.join(spec.peering[n.id])}" if n.id in spec.peering else ""))
    goal = f"finalized epoch {spec.goal.finalized_epoch}" if spec.goal.finalized_epoch else ""
    if spec.goal.peered:
        goal = (goal + " and " if goal else "") + "peered"
    if spec.goal.exited:
        goal = (goal + " and " if goal else "") + f"validator(s) {', '.join(map(str, spec.goal.exited))} exited"
    if spec.goal.slashed:
        goal = (goal + " and " if goal else "") + f"validator(s) {', '.join(map(str, spec.goal.slashed))} slashed"
    for key, words in (("reorg", "a reorg after the heal"), ("finality_resumes", "finality resumes after the heal")):
        if getattr(spec.goal, key):
            goal = (goal + " and " if goal else "") + words
    if spec.goal.hold:
        goal += f", held {spec.goal.hold:g} s"
    lines.append(f"  goal: {goal} on {', '.join(spec.goal.nodes)}")
    lines += [f"  event: {e.describe(spec.slots_per_epoch)}" for e in spec.events]
    return "\n".join(lines)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM/SIGHUP clean up exactly like Ctrl-C


def run(args: argparse.Namespace) -> int:
    from beacon.testnet.report import write_plot, write_report
    from beacon.testnet.runner import TestnetRun, copy_spec

    try:
        specs = [_apply_overrides(load_spec(p), args) for p in args.specs]
    except SpecError as e:
        print(f"pybeacon testnet: {e}", file=sys.stderr)
        return 2
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        print(f"pybeacon testnet: two descriptions share a name ({', '.join(names)}); give each a distinct `name:`",
              file=sys.stderr)
        return 2
    refusals = [f"{s.name}: {p}" for s in specs for p in check_limits(s, use_netns=bool(args.netns))]
    if refusals:
        for r in refusals:
            print(f"pybeacon testnet: refused: {r}", file=sys.stderr)
        return 2
    if args.check:
        for s in specs:
            print(_summary(s))
        return 0

    for hint in dict.fromkeys(h for s in specs for r in sorted({n.role for n in s.nodes})
                              if (h := catalog.missing(s.clients[r]))):
        print(f"pybeacon testnet: {hint}", file=sys.stderr)
        return 2

    use_netns = bool(args.netns)
    if getattr(args, "monitor", False) and use_netns:
        print("pybeacon testnet: --monitor watches nodes on 127.0.0.1 ports; it cannot reach nodes in network "
              "namespaces yet (run without --netns)", file=sys.stderr)
        return 2
    if use_netns and (reason := netns.unavailable_reason()):
        print(f"pybeacon testnet: --netns unavailable ({reason}); falling back to 127.0.0.1 ports", file=sys.stderr)
        use_netns = False
    if netns.unavailable_reason() is None:
        for ns in netns.clean_stale():
            print(f"pybeacon testnet: removed stale namespace {ns} of an earlier run", file=sys.stderr)
    for spec in specs:  # link faults this mode cannot make (beacon/testnet/faults.py)
        if (reason := unsupported_faults(spec, use_netns, args.skip_link_shaping)) is not None:
            print(f"pybeacon testnet: {spec.name}: {reason}", file=sys.stderr)
            return 2

    out = Path(args.out or f"testnet-runs/{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and the harness must
    # still clean up when told to stop. A SIGHUP ignored on purpose (nohup) stays ignored.
    wanted = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        wanted.append(signal.SIGHUP)
    old = {sig: signal.signal(sig, _raise_interrupt) for sig in wanted}
    results = []
    status = 0
    try:
        for spec in specs:
            ex_out = out / spec.name
            copy_spec(spec, ex_out)
            run_class = _monitored(TestnetRun, args.monitor_port) if getattr(args, "monitor", False) else TestnetRun
            tn = run_class(spec, ex_out, use_netns=use_netns, allow_no_shaping=args.skip_link_shaping)
            try:
                res = tn.run()
            except KeyboardInterrupt:
                status = 130
                res = getattr(tn, "result", None)
            if res is not None:
                try:
                    write_plot(res, ex_out / "plot.png")
                except Exception as e:  # a broken plot must not lose the report
                    res.problems.append(f"plot not written: {e}")
                results.append(res)
            if status == 130:
                break
            if not res.reached:
                status = 1
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if results:
            report = write_report(results, out / "report.md")
            print(f"report: {report}", flush=True)
    if status == 130:
        print("pybeacon testnet: interrupted; every node stopped and namespace removed", file=sys.stderr)
    return status


def _monitored(base: type, port: int) -> type:
    """TestnetRun that also runs `pybeacon monitor` on its pybeacon nodes (a child process,
    started once the ports are known and stopped at clean-up)."""
    import subprocess

    from beacon.testnet.runner import child_env, pybeacon_command

    class MonitoredRun(base):  # type: ignore[misc, valid-type]
        monitor_proc: "subprocess.Popen[bytes] | None" = None

        def prepare(self) -> None:
            super().prepare()
            # pybeacon nodes through the Beacon API; other clients through their interop metrics
            # (as the harness reads them); nodes read through their logs only are left out.
            targets = [f"{rt.node.id}=http://{rt.ip}:{rt.http_port}" for rt in self.nodes.values()
                       if rt.client.watch == "status"]
            targets += [f"{rt.node.id}=metrics:http://{rt.ip}:{rt.metrics_port}{rt.client.metrics_path}"
                        for rt in self.nodes.values() if rt.client.watch == "metrics"]
            others = [rt.node.id for rt in self.nodes.values() if rt.client.watch not in ("status", "metrics")]
            if not targets:
                self.problem("--monitor: no node serves the Beacon API or metrics")
                return
            log = open(self.out / "logs" / "monitor.log", "wb")
            self.monitor_proc = subprocess.Popen(
                [*pybeacon_command(), "monitor", *targets, "--port", str(port),
                 "--slots-per-epoch", str(self.spec.slots_per_epoch)],
                stdout=log, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)
            log.close()
            self.note(f"monitor: http://127.0.0.1:{port}/ watching {', '.join(t.split('=')[0] for t in targets)}"
                      + (f" (not {', '.join(others)}: read through logs only)" if others else ""))

        def cleanup(self) -> None:
            proc = self.monitor_proc
            if proc is not None and proc.poll() is not None:
                self.problem(f"the monitor exited early (status {proc.returncode}): see logs/monitor.log")
            elif proc is not None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            super().cleanup()

    return MonitoredRun


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pybeacon testnet", description=__doc__.split("\n")[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        return 130
