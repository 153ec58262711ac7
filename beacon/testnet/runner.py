"""Running one testnet: genesis, node processes, scheduled events, polling, the goal.

Each node is a real OS process in its own session (so SIGSTOP, kill and clean-up reach its
whole process group), optionally inside its own network namespace. `TestnetRun.run()` always
stops every process and removes every namespace it made before it returns or raises.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

import yaml

from beacon.testnet import ops
from beacon.testnet import status as st
from beacon.testnet.faults import FaultError, Faults
from beacon.testnet.netns import NetnsError, NetnsLab
from beacon.testnet.slashing import ChaosError, SlashingWatch
from beacon.testnet.resources import RssSampler
from beacon.testnet.spec import Client, Node, Spec

STOP_GRACE = 8.0  # seconds between SIGTERM and SIGKILL at shutdown


class RunError(RuntimeError):
    """The run could not start (genesis failed, a node never announced its address, ...)."""


@dataclasses.dataclass
class Sample:
    t: float  # Unix time of the poll
    node: str
    ok: bool
    head_slot: int | None = None
    head_root: str | None = None
    justified_epoch: int | None = None
    finalized_epoch: int | None = None
    finalized_root: str | None = None
    peers: int | None = None
    syncing: bool | None = None
    error: str | None = None
    reorgs: int | None = None
    reorg_depth: int | None = None  # the node's deepest reorg so far, in slots
    rss_kb: int | None = None  # resident memory of the node's process group at this poll
    cpu_s: float | None = None  # CPU seconds its processes have used by this poll


@dataclasses.dataclass
class NodeRuntime:
    node: Node
    client: Client
    ip: str
    port: int
    http_port: int
    metrics_port: int
    datadir: Path
    log_path: Path
    connector: st.Connector = st.default_connector
    proc: subprocess.Popen[bytes] | None = None
    state: str = "pending"  # pending | running | paused | down | exited
    peer_id: str | None = None
    announce_offset: int = 0  # log offset where the current launch began
    starts: int = 0
    exits: list[str] = dataclasses.field(default_factory=list)
    command: list[str] = dataclasses.field(default_factory=list)
    log_reader: st.LogReader | None = None
    netem: str | None = None
    reannounce: bool = False  # started again: look for its address in the new log lines
    answered: bool = False  # its API answered since the latest start
    last_peer_ids: list[str] | None = None
    genesis_checked: bool = False  # its own genesis state root was compared with genesis.ssz

    @property
    def multiaddr(self) -> str | None:
        return None if self.peer_id is None else f"/ip4/{self.ip}/tcp/{self.port}/p2p/{self.peer_id}"


@dataclasses.dataclass
class RunResult:
    spec: Spec
    out_dir: Path
    mode: str
    genesis_time: int
    started: float
    ended: float
    reached: bool
    reason: str
    samples: list[Sample]
    problems: list[str]
    timeline: list[tuple[float, str]]
    nodes: dict[str, NodeRuntime]
    goal_times: dict[str, float]
    first_finality: dict[str, float]
    slashing: dict = dataclasses.field(default_factory=dict)  # beacon/testnet/slashing.py summary()
    faults: Faults | None = None
    rss: dict[str, dict] = dataclasses.field(default_factory=dict)  # node -> RssSampler figures


def pybeacon_command() -> list[str]:
    """How to run our own client: the installed script, else this interpreter's module."""
    script = Path(sys.executable).with_name("pybeacon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "beacon.cli"]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for nodes and genesis: ours, plus the folder holding `beacon` on PYTHONPATH
    so that `python -m beacon.cli` works from a node's datadir even without an installed package."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
    env.update(extra or {})
    return env


def expand(template: str, words: dict[str, str], lists: dict[str, list[str]]) -> list[str]:
    """Split a command template and fill its placeholders (validated by spec.check_template)."""
    out: list[str] = []
    for token in shlex.split(template):
        name = token[1:-1] if token.startswith("{") and token.endswith("}") else None
        if name in lists:
            out.extend(lists[name])
            continue
        if "{peers}" in token and not words["peers"]:
            # A node that dials nobody gets neither an empty argument nor its dangling flag
            # (`--libp2p-addresses {peers}` and `--peers={peers}` both vanish).
            if token == "{peers}" and out and out[-1].startswith("-"):
                out.pop()
            continue
        out.append(re.sub(r"\{(\w+)\}", lambda m: words[m.group(1)], token))
    return out


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held together so none is handed out twice)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def log_tail(path: Path, lines: int = 6) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class TestnetRun:
    def __init__(self, spec: Spec, out_dir: Path, use_netns: bool = False, allow_no_shaping: bool = False,
                 echo: TextIO | None = None, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self.out = out_dir
        self.use_netns = use_netns
        self.allow_no_shaping = allow_no_shaping
        self.echo = echo if echo is not None else sys.stdout
        self.clock = clock
        self.lab: NetnsLab | None = None
        self.nodes: dict[str, NodeRuntime] = {}
        self.samples: list[Sample] = []
        self.problems: list[str] = []
        self.timeline: list[tuple[float, str]] = []
        self.genesis_time = 0
        self.started = 0.0
        self.goal_times: dict[str, float] = {}
        self.first_finality: dict[str, float] = {}
        self._goal_since: dict[str, float] = {}  # node -> when its goal condition last began to hold
        self._samples_file: TextIO | None = None
        self._pending: list[tuple[int, str, str]] = []  # (slot, action, node) not yet done
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, len(spec.nodes)))
        self.ops = ops.OpsTracker(self)  # offline/exit events, their goal and records
        self.slashing = SlashingWatch(spec)
        self.faults: Faults | None = None
        self.rss = RssSampler()

    # ------------------------------------------------------------------ small helpers
    def say(self, text: str) -> None:
        print(text, file=self.echo, flush=True)

    def note(self, text: str) -> None:
        """Something that happened, for the timeline in the report."""
        self.timeline.append((self.clock(), text))
        self.say(f"[{self.spec.name}] {text}")

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)
            self.say(f"[{self.spec.name}] PROBLEM: {text}")

    def slot_now(self) -> int:
        return int((self.clock() - self.genesis_time) // self.spec.seconds_per_slot)

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for sub in ("logs", "data"):
            (self.out / sub).mkdir(exist_ok=True)
        (self.out / "config.yaml").write_text(yaml.safe_dump(self.spec.config or {}, default_flow_style=False)
                                              if self.spec.config else "{}\n")
        ids = [n.id for n in self.spec.nodes]
        if self.use_netns:
            self.lab = NetnsLab()
            try:
                ips = self.lab.setup(ids)
            except NetnsError as e:
                raise RunError(f"network namespaces: {e}") from None
            ports = {n: (9000, 5052, 8008) for n in ids}
            self.note(f"network namespaces {self.lab.bridge_ns} (bridge) and "
                      f"{', '.join(self.lab.node_ns[i] + '=' + ips[i] for i in ids)}")
        else:
            ips = {n: "127.0.0.1" for n in ids}
            flat = free_ports(3 * len(ids))
            ports = {n: tuple(flat[3 * i:3 * i + 3]) for i, n in enumerate(ids)}
        for n in self.spec.nodes:
            p2p, http, metrics = ports[n.id]
            rt = NodeRuntime(node=n, client=self.spec.clients[n.role], ip=ips[n.id], port=p2p, http_port=http,
                             metrics_port=metrics, datadir=self.out / "data" / n.id,
                             log_path=self.out / "logs" / f"{n.id}.log")
            rt.datadir.mkdir(parents=True, exist_ok=True)
            if self.lab is not None:
                rt.connector = self.lab.connector(n.id)
            if rt.client.watch == "log":
                rt.log_reader = st.LogReader(self.watched_log(rt), rt.client.log_patterns)
            self.nodes[n.id] = rt
        # Link shaping, loss and partitions (netem, nftables, link relays): beacon/testnet/faults.py.
        self.faults = Faults(self.spec, self.lab, self.allow_no_shaping, self.note, self.problem, self.clock)
        try:
            links = self.faults.setup({k: (rt.ip, rt.port) for k, rt in self.nodes.items()},
                                      frozenset(p for rt in self.nodes.values()
                                                for p in (rt.port, rt.http_port, rt.metrics_port)))
        except (FaultError, NetnsError) as e:
            raise RunError(str(e)) from None
        for node_id, shown in links.items():
            self.nodes[node_id].netem = shown
            self.note(f"{node_id} link: {shown}")
        self._samples_file = open(self.out / "samples.jsonl", "w")

    def watched_log(self, rt: NodeRuntime) -> Path:
        """The file `watch: log` reads: the client's own log file, or the node's stdout log."""
        if rt.client.log_file is None:
            return rt.log_path
        return Path(expand(rt.client.log_file, {"datadir": str(rt.datadir), "node_id": rt.node.id}, {})[0])

    def dial_multiaddr(self, dialer: str, target: str) -> str | None:
        """The address `dialer` is given for `target`: the target's own, or its link relay's."""
        rt = self.nodes[target]
        via = self.faults.dial_address(dialer, target) if self.faults else None
        if via is None or rt.peer_id is None:
            return rt.multiaddr
        return f"/ip4/{via[0]}/tcp/{via[1]}/p2p/{rt.peer_id}"

    def node_words(self, rt: NodeRuntime) -> dict[str, str]:
        n = rt.node
        targets = self.spec.peering.get(n.id, [])
        addrs = [a for a in (self.dial_multiaddr(n.id, t) for t in targets) if a]
        return {
            "genesis": str(self.out / "genesis.ssz"), "port": str(rt.port), "datadir": str(rt.datadir),
            "peers": ",".join(addrs), "validators": f"{n.validators_start}:{n.validators_count}",
            "validators_start": str(n.validators_start), "validators_count": str(n.validators_count),
            "http_port": str(rt.http_port), "metrics_port": str(rt.metrics_port),
            "config": str(self.out / "config.yaml"), "ip": rt.ip, "preset": self.spec.preset,
            "node_id": n.id, "log": str(rt.log_path), "genesis_time": str(self.genesis_time),
            "validator_list": ",".join(str(v) for v in range(n.validators_start, n.validators_start + n.validators_count))
                              or "none",
        }

    def make_genesis(self) -> Path:
        self.genesis_time = int(self.clock() + self.spec.genesis_delay)
        out = self.out / "genesis.ssz"
        cmd = expand(self.spec.genesis_command,
                     {"validators": str(self.spec.validators), "genesis_time": str(self.genesis_time),
                      "out": str(out), "preset": self.spec.preset, "config": str(self.out / "config.yaml")},
                     {"pybeacon": pybeacon_command()})
        self.note(f"genesis: {self.spec.validators} validators, genesis time {self.genesis_time} "
                  f"(in {self.genesis_time - self.clock():.0f} s)")
        with open(self.out / "logs" / "genesis.log", "wb") as log:
            try:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=600,
                                      start_new_session=True, env=child_env(), cwd=self.out)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise RunError(f"genesis command {shlex.join(cmd)} failed: {e}") from None
        if proc.returncode != 0 or not out.exists():
            raise RunError(f"genesis command {shlex.join(cmd)} exited {proc.returncode}:\n"
                           f"{log_tail(self.out / 'logs' / 'genesis.log')}")
        return out

    # ------------------------------------------------------------------ processes
    def launch(self, rt: NodeRuntime) -> None:
        targets = self.spec.peering.get(rt.node.id, [])
        addrs = [self.dial_multiaddr(rt.node.id, t) for t in targets]
        assert all(addrs), "dialled nodes are started (and announced) first"
        n = rt.node
        words = self.node_words(rt)
        lists = {
            "pybeacon": pybeacon_command(),
            "peer_args": [x for a in addrs if a for x in (rt.client.peer_flag, a)],
            "validator_args": ["--validators", words["validators"]] if n.validators_count else [],
            "bootnode_args": self.bootnode_args(rt),
        }
        rt.command = expand(rt.client.command, words, lists) + self.slashing.command_extra(n.id)
        argv = (self.lab.exec_prefix(n.id) if self.lab else []) + rt.command
        env = child_env(rt.client.env)
        log = open(rt.log_path, "ab")
        log.seek(0, 2)
        log.write(f"==== harness: start #{rt.starts + 1}: {shlex.join(rt.command)}\n".encode())
        log.flush()
        # Search for the announcement only after our own header: it holds the peers' addresses.
        rt.announce_offset = log.tell()
        try:
            rt.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env=env, cwd=rt.datadir, start_new_session=True)
        except OSError as e:
            raise RunError(f"{n.id}: cannot start {rt.command[0]}: {e.strerror}") from None
        finally:
            log.close()
        rt.starts += 1
        rt.state = "running"
        rt.answered = False

    def bootnode_args(self, rt: NodeRuntime) -> list[str]:
        """`peering: discovery`: --bootnode with the ENR the bootnode wrote to its datadir."""
        boot = self.spec.bootnode
        if boot is None or boot == rt.node.id:
            return []
        path = self.nodes[boot].datadir / "enr"
        deadline = time.monotonic() + self.nodes[boot].client.start_timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise RunError(f"bootnode {boot} wrote no ENR to {path}")
            time.sleep(0.1)
        return ["--bootnode", path.read_text().strip()]

    def find_announce(self, rt: NodeRuntime) -> str | None:
        try:
            with open(rt.log_path, "rb") as f:
                f.seek(rt.announce_offset)
                text = st.strip_ansi(f.read().decode(errors="replace"))
        except OSError:
            return None
        m = re.search(rt.client.multiaddr_pattern, text)
        return m.group("peer_id") if m else None

    def wait_announced(self, group: list[NodeRuntime]) -> None:
        """Block until every node of `group` printed its multiaddr (or fail clearly)."""
        deadline = {rt.node.id: time.monotonic() + rt.client.start_timeout for rt in group}
        waiting = list(group)
        while waiting:
            for rt in list(waiting):
                if (pid := self.find_announce(rt)) is not None:
                    if twin := next((o.node.id for o in self.nodes.values() if o is not rt and o.peer_id == pid), None):
                        raise RunError(f"{rt.node.id} ({rt.client.name}) seems to announce {twin}'s peer id {pid}: "
                                       "its multiaddr_pattern matched a peer address it logged; anchor the "
                                       "pattern to its own announcement line")
                    rt.peer_id = pid
                    waiting.remove(rt)
                    self.note(f"{rt.node.id} ({rt.client.name}) up: {rt.multiaddr}")
                elif rt.proc is not None and rt.proc.poll() is not None:
                    raise RunError(f"{rt.node.id} exited with code {rt.proc.returncode} before announcing its "
                                   f"address; last log lines ({rt.log_path}):\n{log_tail(rt.log_path)}")
                elif time.monotonic() > deadline[rt.node.id]:
                    raise RunError(f"{rt.node.id} printed no multiaddr matching {rt.client.multiaddr_pattern!r} "
                                   f"within {rt.client.start_timeout:g} s; last log lines:\n{log_tail(rt.log_path)}")
            time.sleep(0.1)

    def start_initial(self) -> None:
        """Start in waves: a node starts once every node it dials has announced its address."""
        late = self.spec.late_joiners()
        todo = [rt for rt in self.nodes.values() if rt.node.id not in late]
        while todo:
            wave = [rt for rt in todo if all(self.nodes[t].peer_id for t in self.spec.peering.get(rt.node.id, []))
                    and (self.spec.bootnode in (None, rt.node.id) or self.nodes[self.spec.bootnode].peer_id)]
            assert wave, "peering is acyclic (checked by the spec)"
            for rt in wave:
                self.launch(rt)
            self.wait_announced(wave)
            todo = [rt for rt in todo if rt not in wave]
        lateness = self.clock() - self.genesis_time
        if lateness > 0:
            self.problem(f"coordinated start missed: the last node was up {lateness:.1f} s after genesis "
                         f"(raise genesis_delay above {self.spec.genesis_delay:g} s)")
        partitions = 0
        for e in self.spec.events:
            if e.action == "join":
                self._pending.append((e.at_slot, "join", e.node))
            elif e.action == "pause":
                self._pending += [(e.at_slot, "pause", e.node), (e.at_slot + e.slots, "resume", e.node)]
            elif e.action == "equivocate":
                self._pending.append((e.at_slot, f"equivocate:{e.validator}:{e.kind}", e.node))
            elif e.action == "partition":  # the node field carries the partition's number
                k = str(partitions)
                self._pending += [(e.at_slot, "partition", k), (e.at_slot + e.slots, "heal", k)]
                partitions += 1
            elif e.action == "restart":  # the kill sorts before the start even when slots is 0 (stable sort)
                self._pending += [(e.at_slot, "kill:" + e.signal, e.node), (e.at_slot + e.slots, "start", e.node)]
        self._pending += ops.pending_actions(self.spec)
        self._pending.sort(key=lambda p: p[0])

    def signal_group(self, rt: NodeRuntime, sig: int) -> None:
        if rt.proc is None:
            return
        try:
            os.killpg(rt.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop_node(self, rt: NodeRuntime, sig: int = signal.SIGTERM, grace: float = STOP_GRACE) -> None:
        if rt.proc is None or rt.proc.poll() is not None:
            self.signal_group(rt, signal.SIGKILL)  # stragglers of an exited leader
            return
        self.signal_group(rt, signal.SIGCONT)  # a paused node cannot handle SIGTERM
        self.signal_group(rt, sig)
        try:
            rt.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        self.signal_group(rt, signal.SIGKILL)
        try:
            rt.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def do_events(self) -> None:
        slot = self.slot_now()
        while self._pending and self._pending[0][0] <= slot:
            at, action, node_id = self._pending.pop(0)
            if action in ("partition", "heal"):
                assert self.faults is not None
                try:
                    self.faults.event(action, int(node_id), slot)
                except FaultError as e:
                    self.problem(f"{action}: {e}")
                continue
            rt = self.nodes[node_id]
            if ops.handles(action):
                self.ops.do(action, rt, slot)
                continue
            if action in ("join", "start"):
                if rt.state in ("running", "paused"):
                    continue
                self.launch(rt)
                self.note(f"slot {slot}: {node_id} {'joins' if action == 'join' else 'restarted'}"
                          f" (start #{rt.starts})")
                rt.reannounce = True
            elif action == "pause" and rt.state == "running":
                self.signal_group(rt, signal.SIGSTOP)
                rt.state = "paused"
                self.note(f"slot {slot}: {node_id} paused (SIGSTOP)")
            elif action == "resume" and rt.state == "paused":
                self.signal_group(rt, signal.SIGCONT)
                rt.state = "running"
                self.note(f"slot {slot}: {node_id} resumed (SIGCONT)")
            elif action.startswith("kill:") and rt.state in ("running", "paused"):
                sig = getattr(signal, "SIG" + action.split(":")[1])
                self.stop_node(rt, sig, grace=STOP_GRACE)
                rt.exits.append(f"killed by harness (SIG{action.split(':')[1]}, exit {rt.proc.returncode})")
                rt.state = "down"
                self.note(f"slot {slot}: {node_id} killed with SIG{action.split(':')[1]}")
            elif action.startswith("equivocate:"):
                _, validator, kind = action.split(":")
                try:
                    self.note(f"slot {slot}: " + self.slashing.arm(node_id, rt.http_port, rt.connector, int(validator),
                                                                    kind, self.clock()))
                except ChaosError as e:
                    self.problem(f"slot {slot}: {e}")

    def check_processes(self) -> None:
        for rt in self.nodes.values():
            if rt.state in ("running", "paused") and rt.proc is not None and rt.proc.poll() is not None:
                rt.state = "exited"
                rt.exits.append(f"exited on its own with code {rt.proc.returncode}")
                self.problem(f"{rt.node.id} exited with code {rt.proc.returncode} at slot {self.slot_now()}; "
                             f"last log lines:\n{log_tail(rt.log_path)}")
            if rt.state == "running" and rt.reannounce and (pid := self.find_announce(rt)) is not None:
                if rt.peer_id is not None and pid != rt.peer_id:
                    self.problem(f"{rt.node.id} came back with a new peer id {pid} (was {rt.peer_id}): "
                                 "its static dialers still use the old one (keep the node key in the datadir)")
                rt.peer_id, rt.reannounce = pid, False
                self.note(f"{rt.node.id} up: {rt.multiaddr}")

    # ------------------------------------------------------------------ watching
    def observe(self, rt: NodeRuntime, now: float) -> Sample:
        if rt.state != "running":
            return Sample(now, rt.node.id, ok=False, error=rt.state)
        host = "127.0.0.1"
        try:
            obs = st.observe(rt.client.watch, host, rt.http_port, rt.metrics_port,
                             status_path=rt.client.status_path, metrics_path=rt.client.metrics_path,
                             log=rt.log_reader, timeout=min(2.0, self.poll_interval()), connector=rt.connector)
        except st.ObserveError as e:
            # Until its API first answers after a start, a node is still starting, not failing.
            return Sample(now, rt.node.id, ok=False, error=str(e) if rt.answered else f"starting: {e}")
        rt.answered = True
        rt.last_peer_ids = obs.peer_ids
        if obs.genesis_root and not rt.genesis_checked:
            rt.genesis_checked = True
            self.check_genesis(rt, obs.genesis_root)
        return Sample(now, rt.node.id, ok=True, head_slot=obs.head_slot, head_root=obs.head_root,
                      justified_epoch=obs.justified_epoch, finalized_epoch=obs.finalized_epoch,
                      finalized_root=obs.finalized_root, peers=obs.peers, syncing=obs.syncing,
                      reorgs=obs.reorgs, reorg_depth=obs.reorg_depth)

    def genesis_state_root(self) -> str | None:
        """The state root of genesis.ssz as the genesis command printed it (`pybeacon genesis` says
        `state root 0x...`); read from its log, so the harness stays a user of the node's commands."""
        if not hasattr(self, "_genesis_root"):
            try:
                text = (self.out / "logs" / "genesis.log").read_text(errors="replace")
            except OSError:
                text = ""
            m = re.search(r"state root (0x[0-9a-f]{64})", text)
            self._genesis_root: str | None = m.group(1) if m else None
            if m is None:
                self.problem("genesis roots not compared: the genesis command printed no `state root 0x...`")
        return self._genesis_root

    def check_genesis(self, rt: NodeRuntime, logged: str) -> None:
        """A client that builds its own genesis must build the same state as genesis.ssz."""
        ours = self.genesis_state_root()
        if ours is None:
            return
        logged = logged if logged.startswith("0x") or st.is_abbreviated(logged) else "0x" + logged
        short = st.is_abbreviated(logged)
        if st.root_key(logged, short) == st.root_key(ours, short):
            self.note(f"{rt.node.id} ({rt.client.name}) built the same genesis state as genesis.ssz: {logged}")
        else:
            self.problem(f"{rt.node.id} ({rt.client.name}) built genesis state {logged}, "
                         f"but genesis.ssz is {ours}: the two sides start from different chains")

    def poll_interval(self) -> float:
        return self.spec.poll_interval or max(0.5, self.spec.seconds_per_slot / 2)

    def poll(self) -> list[Sample]:
        now = self.clock()
        futures = [self._pool.submit(self.observe, rt, now) for rt in self.nodes.values()]
        samples = [f.result() for f in futures]
        groups = {rt.node.id: rt.proc.pid if rt.proc is not None and rt.state in ("running", "paused") else None
                  for rt in self.nodes.values()}
        rss = self.rss.sample(groups, now)
        for s in samples:
            s.rss_kb, s.cpu_s = rss.get(s.node) or (None, None)
            self.samples.append(s)
            if self._samples_file:
                self._samples_file.write(json.dumps(dataclasses.asdict(s)) + "\n")
            if s.ok and s.finalized_epoch and s.node not in self.first_finality:
                self.first_finality[s.node] = s.t
        if self._samples_file:
            self._samples_file.flush()
        if self.faults is not None:
            self.faults.observe(samples)
        self.say(self.live_line(samples))
        return samples

    def live_line(self, samples: list[Sample]) -> str:
        slot = self.slot_now()
        parts = []
        for s in samples:
            if s.ok:
                extra = (" sync" if s.syncing else "") + (f" r{s.reorgs}" if s.reorgs else "")
                shown = ["?" if v is None else v for v in (s.head_slot, s.justified_epoch, s.finalized_epoch, s.peers)]
                parts.append(f"{s.node} h{shown[0]} j{shown[1]} f{shown[2]} p{shown[3]}{extra}")
            else:
                parts.append(f"{s.node} {(s.error or '?').split(':')[0][:12]}")
        return (f"[{self.spec.name} +{self.clock() - self.started:5.0f}s slot {slot:4d} "
                f"ep {slot // self.spec.slots_per_epoch:3d}] " + " | ".join(parts))

    def node_at_goal(self, rt: NodeRuntime, latest: Sample | None) -> bool:
        goal = self.spec.goal
        if latest is None or not latest.ok:
            return False
        # Asked first, whatever else is missing: the first sighting of each slashing is a figure.
        slashed = self.slashing.node_slashed(rt.node.id, rt.http_port, rt.connector, latest.t) if goal.slashed else True
        if self.faults is not None and not self.faults.node_goal_met(rt.node.id):
            return False
        if goal.finalized_epoch is not None and (latest.finalized_epoch or 0) < goal.finalized_epoch:
            return False
        if goal.exited and not self.ops.exited(rt, goal.exited):
            return False
        if goal.peered:
            want = self.spec.neighbours(rt.node.id)
            ids = rt.last_peer_ids
            known = {self.nodes[w].peer_id for w in want if self.nodes[w].peer_id}
            if ids is not None and len(known) == len(want):
                return known <= set(ids) and slashed
            if latest.peers is None and rt.peer_id is not None:
                # A node that tells nobody its peers (a log-watched client): a connection is
                # held when every neighbour lists this node's peer id among its own peers.
                return all(self.nodes[w].last_peer_ids is not None and rt.peer_id in self.nodes[w].last_peer_ids
                           for w in want) and slashed
            return (latest.peers or 0) >= len(want) and slashed
        return slashed

    def wait_for_next_poll(self, tick: float) -> None:
        """Sleep until the next poll is due, firing any event whose slot starts before then at
        that slot's start (not at the next poll, up to half a slot late: an `offline` event
        would let that slot's attesters vote first)."""
        end = tick + self.poll_interval()
        while True:
            left = end - time.monotonic()
            if self._pending:
                until_event = self.genesis_time + self._pending[0][0] * self.spec.seconds_per_slot - self.clock()
                if until_event < left:
                    time.sleep(max(0.0, until_event) + 0.005)  # just past the start: slot_now() is the event's
                    self.do_events()
                    continue
            time.sleep(max(0.0, left))
            return

    def watch(self) -> tuple[bool, str]:
        deadline = self.started + self.spec.time_limit
        latest: dict[str, Sample] = {}
        while True:
            tick = time.monotonic()
            self.do_events()
            self.check_processes()
            samples = self.poll()
            for s in samples:
                latest[s.node] = s
            self.ops.after_poll(samples)
            if self.slashing.orders:
                self.slashing.refresh_signed(self.nodes)
            for g in self.spec.goal.nodes:
                if g in self.goal_times:
                    continue
                at_goal = self.node_at_goal(self.nodes[g], latest.get(g))
                while self.slashing.notes:
                    self.note(f"slot {self.slot_now()}: {self.slashing.notes.pop(0)}")
                if not at_goal:
                    self._goal_since.pop(g, None)  # a break starts the hold again
                    continue
                since = self._goal_since.setdefault(g, latest[g].t)
                if latest[g].t - since >= self.spec.goal.hold:
                    self.goal_times[g] = latest[g].t
                    self.note(f"{g} reached the goal at slot {self.slot_now()}")
            while self.slashing.notes:  # when every goal node was done before this poll
                self.note(f"slot {self.slot_now()}: {self.slashing.notes.pop(0)}")
            if all(g in self.goal_times for g in self.spec.goal.nodes) and (
                    self.faults is None or self.faults.run_goal_met()):
                return True, "goal reached"
            lost = [g for g in self.spec.goal.nodes if self.nodes[g].state == "exited"]
            if lost:
                return False, f"goal node(s) {', '.join(lost)} exited"
            if self.clock() >= deadline:
                return False, f"time limit of {self.spec.time_limit:g} s passed"
            self.wait_for_next_poll(tick)

    # ------------------------------------------------------------------ the whole run
    def final_checks(self) -> None:
        for rt in self.nodes.values():
            if rt.state == "running" and not rt.answered:
                last = next((s.error for s in reversed(self.samples) if s.node == rt.node.id), None)
                self.problem(f"{rt.node.id} never answered after its start #{rt.starts} "
                             f"({rt.client.watch}: {last})")

    def cleanup(self) -> None:
        running = [rt for rt in self.nodes.values() if rt.proc is not None]
        list(self._pool.map(lambda rt: self.stop_node(rt), running))
        for rt in running:
            if rt.client.cleanup:
                self.run_cleanup(rt)
        if self.faults is not None:
            self.faults.close({k: (rt.datadir, rt.log_path) for k, rt in self.nodes.items() if rt.starts})
        if self.lab is not None:
            self.lab.teardown()
        if self._samples_file:
            self._samples_file.close()
            self._samples_file = None
        self._pool.shutdown(wait=False)

    def run_cleanup(self, rt: NodeRuntime) -> None:
        """The client's own clean-up after its process group is gone (e.g. stale pid files)."""
        assert rt.client.cleanup is not None
        cmd = expand(rt.client.cleanup, self.node_words(rt), {"pybeacon": pybeacon_command(), "peer_args": [],
                                                              "validator_args": []})
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                                  env=child_env(rt.client.env), cwd=rt.datadir)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.problem(f"{rt.node.id}: clean-up {shlex.join(cmd)} failed: {e}")
            return
        if proc.returncode != 0:
            self.problem(f"{rt.node.id}: clean-up {shlex.join(cmd)} exited {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace').strip()[:300]}")

    def run(self) -> RunResult:
        self.started = self.clock()
        reached, reason = False, "did not start"
        try:
            self.prepare()
            self.make_genesis()
            self.start_initial()
            reached, reason = self.watch()
            self.final_checks()
        except KeyboardInterrupt:
            reason = "interrupted"
            raise
        except RunError as e:
            reason = f"setup failed: {str(e).splitlines()[0]}"  # the whole message is under problems
            self.problem(str(e))
        finally:
            # A second Ctrl-C (or a TERM) must not cut the clean-up short.
            old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            try:
                self.cleanup()
                self.ops.finish()
                self.note(f"finished: {reason}")
                self.result = RunResult(
                    spec=self.spec, out_dir=self.out, mode="netns" if self.use_netns else "loopback",
                    genesis_time=self.genesis_time, started=self.started, ended=self.clock(), reached=reached,
                    reason=reason, samples=self.samples, problems=self.problems, timeline=self.timeline,
                    nodes=self.nodes, goal_times=self.goal_times, first_finality=self.first_finality,
                    slashing=self.slashing.summary(), faults=self.faults, rss=self.rss.as_dict())
                write_summary(self.result)
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)
        return self.result


def write_summary(res: RunResult) -> None:
    """result.json: the machine-readable outcome next to samples.jsonl."""
    if not res.out_dir.exists():
        return
    doc = {
        "name": res.spec.name, "reached": res.reached, "reason": res.reason, "mode": res.mode,
        "genesis_time": res.genesis_time, "started": res.started, "ended": res.ended,
        "goal_times": res.goal_times, "first_finality": res.first_finality, "problems": res.problems,
        "timeline": res.timeline, "slashing": res.slashing,
        "nodes": {k: {"role": v.node.role, "client": v.client.name, "ip": v.ip, "port": v.port,
                      "peer_id": v.peer_id, "command": v.command, "starts": v.starts, "exits": v.exits,
                      "netem": v.netem, "rss": res.rss.get(k)} for k, v in res.nodes.items()},
    }
    if res.faults is not None:
        doc["faults"] = res.faults.summary()
    (res.out_dir / "result.json").write_text(json.dumps(doc, indent=2))


def copy_spec(spec: Spec, out: Path) -> None:
    if spec.path is not None:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec.path, out / "spec.yaml")
