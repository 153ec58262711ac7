"""The testnet description (YAML) and its validation.

A description names the nodes, the client each role runs, who dials whom, the goal and the
events. Everything is checked before a single process starts, and every error names the key
it is about (`nodes[2].validators: ...`), because a typo found after a 20-minute run is a
lost 20 minutes.
"""
from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any, Mapping

import yaml


class SpecError(ValueError):
    """The description is invalid; the message says where and why."""


# Placeholders a client command template may use. The three *_args and {pybeacon} expand to
# zero or more whole arguments and must stand alone as one token; the rest are substituted
# inside a token (`--port={port}` works).
WORD_PLACEHOLDERS = {
    "genesis", "port", "datadir", "peers", "validators", "validators_start", "validators_count",
    "http_port", "metrics_port", "config", "ip", "preset", "node_id", "log",
    "genesis_time", "validator_list",
}
LIST_PLACEHOLDERS = {"pybeacon", "peer_args", "validator_args", "bootnode_args"}
GENESIS_PLACEHOLDERS = {"validators", "genesis_time", "out", "preset", "config"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

DEFAULT_NODE_COMMAND = (
    "{pybeacon} node --genesis {genesis} --datadir {datadir} --port {port} --listen-address {ip}"
    " {peer_args} {bootnode_args} {validator_args} --preset {preset} --config {config}"
    " --http-port {http_port} --metrics-port {metrics_port} --log-level info --log-format text"
)
DEFAULT_GENESIS_COMMAND = (
    "{pybeacon} genesis --validators {validators} --genesis-time {genesis_time} --preset {preset}"
    " --config {config} --out {out}"
)
# A node announces `/ip4/<ip>/tcp/<port>/p2p/<peer id>` in its log; the ip it prints may be
# 0.0.0.0, so only the peer id is taken and the address rebuilt from what the harness assigned.
DEFAULT_MULTIADDR_PATTERN = r"/ip4/[0-9.]+/tcp/[0-9]+/p2p/(?P<peer_id>[1-9A-HJ-NP-Za-km-z]+)"
WATCH_MODES = ("status", "metrics", "log")
LOG_FIELDS = ("head_slot", "justified_epoch", "finalized_epoch", "peers", "head_root", "finalized_root",
              "genesis_root")
# Log fields holding a root (a string, full hex or a client's abbreviation like `a8dd..5d98`);
# genesis_root is the state root of the genesis the client built, checked against genesis.ssz.
LOG_ROOT_FIELDS = ("head_root", "finalized_root", "genesis_root")
GENESIS_MODES = ("shared", "own")
EVENT_ACTIONS = ("join", "pause", "restart", "offline", "exit", "equivocate", "partition")
EQUIVOCATION_KINDS = ("proposal", "double_vote", "surround_vote")  # beacon/validator/service.py
# What `equivocate` adds to a node's command; only pybeacon has the chaos endpoint behind it.
EQUIVOCATION_FLAG = "--unsafe-allow-equivocation"
ROLES = ("A", "B")
NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


@dataclasses.dataclass
class Limits:
    """What a client can run; the harness refuses a testnet outside these (spec.check_limits)."""
    validators: int | None = None  # the exact genesis validator count it can start from
    seconds_per_slot: int | None = None
    preset: str | None = None
    config_overrides: bool = True  # False: it takes no constant overrides at all
    netns: bool = True
    events: tuple[str, ...] = EVENT_ACTIONS  # event actions its nodes can undergo
    reasons: dict[str, str] = dataclasses.field(default_factory=dict)  # limit -> why, for the message


@dataclasses.dataclass
class Client:
    name: str
    command: str
    watch: str = "status"
    status_path: str = "/node/status"
    metrics_path: str = "/metrics"
    log_patterns: dict[str, str] = dataclasses.field(default_factory=dict)
    multiaddr_pattern: str = DEFAULT_MULTIADDR_PATTERN
    peer_flag: str = "--peer"
    start_timeout: float = 60.0
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    # The file `watch: log` follows ({datadir} and {node_id} are filled in); default: the node's stdout log.
    log_file: str | None = None
    # Run after the node's process group is stopped (stale pid/socket files), same placeholders.
    cleanup: str | None = None
    # shared: started from the harness's genesis file; own: builds the quick-start state itself
    # from {genesis_time} (and limits.validators), so the harness gives everyone that same time.
    genesis: str = "shared"
    min_genesis_delay: float = 0.0  # seconds it needs from start to listening, before genesis
    requires: str | None = None  # a path that exists once the client is installed
    build_hint: str = ""  # one line: how to install it when `requires` is missing
    title: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)  # known behaviour, copied to the report
    limits: Limits = dataclasses.field(default_factory=Limits)


@dataclasses.dataclass
class Link:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    # Only the link relay (beacon/testnet/relay.py) applies these two.
    bandwidth_kbps: float = 0.0
    resets_per_min: float = 0.0

    def active(self) -> bool:
        return any(v > 0 for v in dataclasses.astuple(self))


@dataclasses.dataclass
class Node:
    id: str
    role: str
    validators_start: int = 0
    validators_count: int = 0
    link: Link = dataclasses.field(default_factory=Link)


@dataclasses.dataclass
class Goal:
    finalized_epoch: int | None
    nodes: list[str]
    peered: bool = False
    hold: float = 0.0  # seconds the condition must hold without a break before a node counts
    exited: list[int] = dataclasses.field(default_factory=list)  # validators whose exit epoch is reached
    slashed: list[int] = dataclasses.field(default_factory=list)  # validators slashed in the node's head state
    reorg: bool = False  # partition runs: some node reorged after the (last) heal
    finality_resumes: bool = False  # partition runs: finalized epoch beyond where it stood at the heal


@dataclasses.dataclass
class Event:
    action: str  # join | pause | restart | offline | exit | equivocate | partition
    node: str  # "" for a partition
    at_slot: int
    slots: int = 0  # pause: how long stopped; restart: how long down; offline: how long off duty; partition: how long cut
    signal: str = "KILL"  # restart: how the node is killed
    groups: list[list[str]] = dataclasses.field(default_factory=list)  # partition: no traffic between groups
    validators: str = ""  # offline: START:COUNT, a subset of the node's validators
    validator: int = -1  # exit: the validator index; equivocate: whose keys sign the slashable pair
    kind: str = ""  # equivocate: proposal | double_vote | surround_vote

    def validator_range(self) -> range:
        start, count = (int(x) for x in self.validators.split(":"))
        return range(start, start + count)

    def describe(self, slots_per_epoch: int) -> str:
        where = f"slot {self.at_slot} (epoch {self.at_slot / slots_per_epoch:g})"
        if self.action == "partition":
            return (f"partition {' | '.join('[' + ', '.join(g) + ']' for g in self.groups)} at {where} "
                    f"for {self.slots} slots, then healed")
        if self.action == "join":
            return f"{self.node} joins at {where} and syncs from genesis"
        if self.action == "pause":
            return f"{self.node} paused (SIGSTOP) at {where} for {self.slots} slots"
        if self.action == "offline":
            r = self.validator_range()
            return (f"{self.node}: validators {r.start}..{r.stop - 1} offline (no duties, node running) at {where} "
                    f"for {self.slots} slots ({self.slots / slots_per_epoch:g} epochs)")
        if self.action == "exit":
            return f"{self.node}: `pybeacon validator exit --index {self.validator}` against its API at {where}"
        if self.action == "equivocate":
            return (f"{self.node} ordered at {where} to make validator {self.validator} equivocate ({self.kind}) "
                    "at its next duty")
        return f"{self.node} killed (SIG{self.signal}) at {where}, restarted {self.slots} slots later"


@dataclasses.dataclass
class Spec:
    name: str
    title: str
    description: str
    preset: str
    config: dict[str, Any]
    validators: int
    genesis_delay: float
    genesis_command: str
    clients: dict[str, Client]
    nodes: list[Node]
    peering: dict[str, list[str]]
    goal: Goal
    time_limit: float
    poll_interval: float | None
    events: list[Event]
    seconds_per_slot: int
    slots_per_epoch: int
    path: Path | None = None
    bootnode: str | None = None  # `peering: discovery`: the node the others get as --bootnode

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def late_joiners(self) -> set[str]:
        return {e.node for e in self.events if e.action == "join"}

    def neighbours(self, node_id: str) -> set[str]:
        """Nodes linked to `node_id` by a static peering edge, in either direction."""
        out = set(self.peering.get(node_id, []))
        out |= {d for d, targets in self.peering.items() if node_id in targets}
        return out

    def swapped(self) -> Spec:
        """The same testnet with the clients of roles A and B exchanged ([swap] exercises)."""
        return dataclasses.replace(self, clients={"A": self.clients["B"], "B": self.clients["A"]})


def default_client() -> Client:
    return Client(name="pybeacon", command=DEFAULT_NODE_COMMAND, watch="status")


# ---------------------------------------------------------------------------------- helpers
def _fail(where: str, msg: str) -> SpecError:
    return SpecError(f"{where}: {msg}" if where else msg)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"must be a mapping, got {type(value).__name__}")
    return value


def _no_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(allowed))}")


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be an integer, got {value!r}")
    if value < minimum:
        raise _fail(where, f"must be at least {minimum}, got {value}")
    return value


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, f"must be a number, got {value!r}")
    if value < minimum:
        raise _fail(where, f"must be at least {minimum:g}, got {value}")
    return float(value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"must be a non-empty string, got {value!r}")
    return value


def parse_duration(value: Any, where: str) -> float:
    """Seconds from 90, 90.5, '90s', '20m' or '1.5h'."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smh]?)\s*", value)):
        seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    else:
        raise _fail(where, f"must be a duration like 90, '90s', '20m' or '1.5h', got {value!r}")
    if seconds <= 0:
        raise _fail(where, "must be positive")
    return seconds


def check_template(template: str, where: str, words: set[str], lists: set[str]) -> None:
    """Reject unknown placeholders and list placeholders glued to other text."""
    try:
        tokens = shlex.split(template)
    except ValueError as e:
        raise _fail(where, f"cannot be split into arguments: {e}") from None
    if not tokens:
        raise _fail(where, "is empty")
    for token in tokens:
        for name in _PLACEHOLDER.findall(token):
            if name in lists:
                if token != "{" + name + "}":
                    raise _fail(where, f"{{{name}}} expands to several arguments and must stand alone, not in {token!r}")
            elif name not in words:
                raise _fail(where, f"unknown placeholder {{{name}}}; known: "
                                   f"{', '.join('{' + n + '}' for n in sorted(words | lists))}")


def _validator_range(value: Any, where: str) -> tuple[int, int]:
    """'START:COUNT', {start, count}, or null/0 for a node without validators."""
    if value is None or value == 0:
        return 0, 0
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+)\s*:\s*([0-9]+)\s*", value)
        if not m:
            raise _fail(where, f"must be 'START:COUNT' (e.g. '0:8'), got {value!r}")
        return int(m.group(1)), int(m.group(2))
    if isinstance(value, dict):
        _no_unknown(value, {"start", "count"}, where)
        if "start" not in value or "count" not in value:
            raise _fail(where, "needs both start and count")
        return _int(value["start"], f"{where}.start"), _int(value["count"], f"{where}.count")
    raise _fail(where, f"must be 'START:COUNT' or {{start, count}}, got {value!r}")


# ----------------------------------------------------------------------------------- parts
def _parse_client(role: str, data: Any) -> Client:
    return parse_client(data, f"clients.{role}")


def parse_client(data: Any, where: str) -> Client:
    """A client from its mapping (a description's `clients.A`, or a file of beacon/testnet/clients/)."""
    data = _mapping(data, where)
    _no_unknown(data, {f.name for f in dataclasses.fields(Client)}, where)
    client = default_client()
    if "command" in data:
        client.command = _str(data["command"], f"{where}.command")
        client.watch = "metrics"  # another client: the interop metric names are what all share
    if "name" in data:
        client.name = _str(data["name"], f"{where}.name")
    elif "command" in data:
        client.name = Path(shlex.split(client.command)[0]).name
    check_template(client.command, f"{where}.command", WORD_PLACEHOLDERS, LIST_PLACEHOLDERS)
    if "watch" in data:
        if data["watch"] not in WATCH_MODES:
            raise _fail(f"{where}.watch", f"must be one of {', '.join(WATCH_MODES)}, got {data['watch']!r}")
        client.watch = data["watch"]
    for key in ("status_path", "metrics_path"):
        if key in data:
            value = _str(data[key], f"{where}.{key}")
            if not value.startswith("/"):
                raise _fail(f"{where}.{key}", f"must start with '/', got {value!r}")
            setattr(client, key, value)
    if "peer_flag" in data:
        client.peer_flag = _str(data["peer_flag"], f"{where}.peer_flag")
    if "start_timeout" in data:
        client.start_timeout = parse_duration(data["start_timeout"], f"{where}.start_timeout")
    if "env" in data:
        env = _mapping(data["env"], f"{where}.env")
        client.env = {str(k): str(v) for k, v in env.items()}
    if "multiaddr_pattern" in data:
        client.multiaddr_pattern = _regex(data["multiaddr_pattern"], f"{where}.multiaddr_pattern")
        if "peer_id" not in re.compile(client.multiaddr_pattern).groupindex:
            raise _fail(f"{where}.multiaddr_pattern", "needs a named group (?P<peer_id>...)")
    if "log_patterns" in data:
        patterns = _mapping(data["log_patterns"], f"{where}.log_patterns")
        _no_unknown(patterns, set(LOG_FIELDS), f"{where}.log_patterns")
        for field, pattern in patterns.items():
            compiled = re.compile(_regex(pattern, f"{where}.log_patterns.{field}"))
            what = "the root" if field in LOG_ROOT_FIELDS else "the number"
            if compiled.groups < 1:
                raise _fail(f"{where}.log_patterns.{field}", f"needs one capture group holding {what}")
        client.log_patterns = {k: str(v) for k, v in patterns.items()}
    if client.watch == "log":
        missing = [f for f in ("head_slot", "finalized_epoch") if f not in client.log_patterns]
        if missing:
            raise _fail(f"{where}.log_patterns", f"watch: log needs patterns for {', '.join(missing)}")
    if "log_file" in data:
        client.log_file = _str(data["log_file"], f"{where}.log_file")
        check_template(client.log_file, f"{where}.log_file", {"datadir", "node_id"}, set())
    if "cleanup" in data:
        client.cleanup = _str(data["cleanup"], f"{where}.cleanup")
        check_template(client.cleanup, f"{where}.cleanup", WORD_PLACEHOLDERS, LIST_PLACEHOLDERS)
    if "genesis" in data:
        if data["genesis"] not in GENESIS_MODES:
            raise _fail(f"{where}.genesis", f"must be one of {', '.join(GENESIS_MODES)}, got {data['genesis']!r}")
        client.genesis = data["genesis"]
    if "min_genesis_delay" in data:
        client.min_genesis_delay = parse_duration(data["min_genesis_delay"], f"{where}.min_genesis_delay")
    if "requires" in data:
        client.requires = _str(data["requires"], f"{where}.requires")
    if "build_hint" in data:
        client.build_hint = _str(data["build_hint"], f"{where}.build_hint").strip()
        if "\n" in client.build_hint:
            raise _fail(f"{where}.build_hint", "must be one line")
    if "title" in data:
        client.title = _str(data["title"], f"{where}.title")
    if "notes" in data:
        notes = data["notes"]
        if not isinstance(notes, list) or not all(isinstance(n, str) and n.strip() for n in notes):
            raise _fail(f"{where}.notes", "must be a list of non-empty strings")
        client.notes = [" ".join(n.split()) for n in notes]
    if "limits" in data:
        client.limits = _parse_limits(data["limits"], f"{where}.limits")
    if client.genesis == "own" and client.limits.validators is None:
        raise _fail(f"{where}.limits.validators", "genesis: own needs the validator count the client builds")
    return client


def _parse_limits(data: Any, where: str) -> Limits:
    data = _mapping(data, where)
    _no_unknown(data, {f.name for f in dataclasses.fields(Limits)}, where)
    limits = Limits()
    if data.get("validators") is not None:
        limits.validators = _int(data["validators"], f"{where}.validators", 1)
    if data.get("seconds_per_slot") is not None:
        limits.seconds_per_slot = _int(data["seconds_per_slot"], f"{where}.seconds_per_slot", 1)
    if data.get("preset") is not None:
        limits.preset = _str(data["preset"], f"{where}.preset")
    for key in ("config_overrides", "netns"):
        if key in data:
            if not isinstance(data[key], bool):
                raise _fail(f"{where}.{key}", f"must be true or false, got {data[key]!r}")
            setattr(limits, key, data[key])
    if "events" in data:
        events = data["events"] or []
        if not isinstance(events, list) or any(e not in EVENT_ACTIONS for e in events):
            raise _fail(f"{where}.events", f"must be a list of {', '.join(EVENT_ACTIONS)}, got {data['events']!r}")
        limits.events = tuple(events)
    if "reasons" in data:
        reasons = _mapping(data["reasons"], f"{where}.reasons")
        _no_unknown(reasons, {f.name for f in dataclasses.fields(Limits)} - {"reasons"}, f"{where}.reasons")
        limits.reasons = {str(k): " ".join(str(v).split()) for k, v in reasons.items()}
    return limits


def _regex(value: Any, where: str) -> str:
    text = _str(value, where)
    try:
        re.compile(text)
    except re.error as e:
        raise _fail(where, f"is not a valid regular expression: {e}") from None
    return text


def _parse_link(data: Any, where: str) -> Link:
    data = _mapping(data, where)
    _no_unknown(data, {"latency_ms", "jitter_ms", "loss_pct", "bandwidth_kbps", "resets_per_min"}, where)
    link = Link(**{k: _number(v, f"{where}.{k}") for k, v in data.items()})
    if link.loss_pct > 100:
        raise _fail(f"{where}.loss_pct", "is a percentage (0..100)")
    if link.jitter_ms > 0 and link.latency_ms == 0:
        raise _fail(f"{where}.jitter_ms", "needs latency_ms (the delay varies around it)")
    return link


def _parse_event(data: Any, where: str, spe: int) -> Event:
    data = _mapping(data, where)
    _no_unknown(data, {"action", "node", "at_slot", "at_epoch", "slots", "signal", "validators", "validator",
                       "epochs", "kind", "groups"}, where)
    action = data.get("action")
    if action not in EVENT_ACTIONS:
        raise _fail(f"{where}.action", f"must be one of {', '.join(EVENT_ACTIONS)}, got {action!r}")
    if ("at_slot" in data) == ("at_epoch" in data):
        raise _fail(where, "needs exactly one of at_slot, at_epoch")
    at_slot = (_int(data["at_slot"], f"{where}.at_slot") if "at_slot" in data
               else _int(data["at_epoch"], f"{where}.at_epoch") * spe)
    if action == "partition":
        return _parse_partition(data, where, at_slot, spe)
    if "groups" in data:
        raise _fail(where, "groups only apply to partition")
    if "epochs" in data and action not in ("offline",):
        raise _fail(where, "epochs only apply to partition and offline")
    node = _str(data.get("node"), f"{where}.node")
    event = Event(action=action, node=node, at_slot=at_slot)
    if action == "pause":
        event.slots = _int(data.get("slots"), f"{where}.slots", 1)
    elif action == "restart":
        event.slots = _int(data.get("slots", 0), f"{where}.slots")
        signal = data.get("signal", "KILL")
        if signal not in ("KILL", "TERM", "INT"):
            raise _fail(f"{where}.signal", f"must be KILL, TERM or INT, got {signal!r}")
        event.signal = signal
    elif action in ("offline", "exit"):
        _parse_ops_event(event, data, where, spe)
    elif "slots" in data or "signal" in data:
        raise _fail(where, "slots/signal only apply to pause and restart")
    if action == "equivocate":
        if {"validators", "epochs"} & set(data):
            raise _fail(where, "validators/epochs only apply to offline")
        event.validator = _int(data.get("validator"), f"{where}.validator")
        kind = data.get("kind")
        if kind not in EQUIVOCATION_KINDS:
            raise _fail(f"{where}.kind", f"must be {', '.join(EQUIVOCATION_KINDS)}, got {kind!r}")
        event.kind = kind
    elif "kind" in data:
        raise _fail(where, "kind only applies to equivocate")
    elif action not in ("offline", "exit") and ({"validators", "validator", "epochs"} & set(data)):
        raise _fail(where, "validators/validator/epochs only apply to offline, exit and equivocate")
    return event


def _parse_ops_event(event: Event, data: Mapping[str, Any], where: str, spe: int) -> None:
    """offline: validators START:COUNT for `epochs` (or `slots`); exit: one validator index."""
    if "signal" in data:
        raise _fail(where, "signal only applies to restart")
    if event.action == "offline":
        if "validator" in data:
            raise _fail(where, "offline takes validators: START:COUNT (validator is for exit)")
        start, count = _validator_range(data.get("validators"), f"{where}.validators")
        if not count:
            raise _fail(f"{where}.validators", "must name at least one validator (START:COUNT)")
        event.validators = f"{start}:{count}"
        if ("slots" in data) == ("epochs" in data):
            raise _fail(where, "offline needs exactly one of epochs, slots (how long they stay off)")
        event.slots = (_int(data["slots"], f"{where}.slots", 1) if "slots" in data
                       else _int(data["epochs"], f"{where}.epochs", 1) * spe)
    else:
        if {"validators", "slots", "epochs"} & set(data):
            raise _fail(where, "exit takes one validator: V (and no validators/slots/epochs)")
        event.validator = _int(data.get("validator"), f"{where}.validator")
def _parse_partition(data: dict[str, Any], where: str, at_slot: int, spe: int) -> Event:
    """`{action: partition, groups: [[A-0, A-1], [B-0, B-1]], at_epoch: E, epochs: N}` (or slots: N)."""
    for key in ("node", "signal", "validators", "validator", "kind"):
        if key in data:
            raise SpecError(f"{where}.{key}: does not apply to a partition (it names groups)")
    groups = data.get("groups")
    if not isinstance(groups, list) or len(groups) < 2:
        raise SpecError(f"{where}.groups: must be a list of at least two lists of node ids, got {groups!r}")
    seen: set[str] = set()
    parsed: list[list[str]] = []
    for i, g in enumerate(groups):
        if not isinstance(g, list) or not g or not all(isinstance(m, str) for m in g):
            raise SpecError(f"{where}.groups[{i}]: must be a non-empty list of node ids, got {g!r}")
        twice = seen & set(g)
        if twice:
            raise SpecError(f"{where}.groups[{i}]: {', '.join(sorted(twice))} is in two groups")
        seen |= set(g)
        parsed.append(list(g))
    if ("slots" in data) == ("epochs" in data):
        raise SpecError(f"{where}: a partition needs exactly one of slots, epochs (how long it lasts)")
    length = data["slots"] if "slots" in data else data["epochs"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise SpecError(f"{where}.{'slots' if 'slots' in data else 'epochs'}: must be an integer of at least 1, "
                        f"got {length!r}")
    slots = length if "slots" in data else length * spe
    return Event(action="partition", node="", at_slot=at_slot, slots=slots, groups=parsed)


TOP_KEYS = {"name", "title", "description", "preset", "config", "validators", "genesis_delay", "genesis",
            "clients", "nodes", "peering", "goal", "time_limit", "poll_interval", "events"}


def parse_spec(data: Any, name: str = "testnet", path: Path | None = None) -> Spec:
    from beacon.config import PRESETS, ConfigError, load_config

    data = _mapping(data, "")
    _no_unknown(data, TOP_KEYS, "top level")
    for key in ("nodes", "goal"):
        if key not in data:
            raise _fail("top level", f"missing required key {key!r}")
    preset = data.get("preset", "minimal")
    if preset not in PRESETS:
        raise _fail("preset", f"must be one of {', '.join(PRESETS)}, got {preset!r}")
    config = _mapping(data.get("config") or {}, "config")
    try:
        cfg = load_config(preset, {str(k): str(v) for k, v in config.items()})
    except ConfigError as e:
        raise _fail("config", str(e)) from None
    spe, sps = int(cfg.SLOTS_PER_EPOCH), int(cfg.SECONDS_PER_SLOT)

    validators = _int(data.get("validators"), "validators", 1)
    genesis = _mapping(data.get("genesis") or {}, "genesis")
    _no_unknown(genesis, {"command"}, "genesis")
    genesis_command = _str(genesis.get("command", DEFAULT_GENESIS_COMMAND), "genesis.command")
    check_template(genesis_command, "genesis.command", GENESIS_PLACEHOLDERS, {"pybeacon"})

    clients_data = _mapping(data.get("clients") or {}, "clients")
    _no_unknown(clients_data, set(ROLES), "clients")
    clients = {role: _parse_client(role, clients_data[role]) if role in clients_data else default_client()
               for role in ROLES}

    # nodes
    nodes_data = data["nodes"]
    if not isinstance(nodes_data, list) or not nodes_data:
        raise _fail("nodes", "must be a non-empty list")
    nodes: list[Node] = []
    for i, nd in enumerate(nodes_data):
        where = f"nodes[{i}]"
        nd = _mapping(nd, where)
        _no_unknown(nd, {"id", "role", "validators", "link"}, where)
        node_id = _str(nd.get("id"), f"{where}.id")
        if not NODE_ID.match(node_id):
            raise _fail(f"{where}.id", f"{node_id!r} must be letters, digits, '-' or '_' (at most 32)")
        if any(n.id == node_id for n in nodes):
            raise _fail(f"{where}.id", f"duplicate node id {node_id!r}")
        role = nd.get("role")
        if role not in ROLES:
            raise _fail(f"{where}.role", f"must be A or B, got {role!r}")
        start, count = _validator_range(nd.get("validators"), f"{where}.validators")
        if count and start + count > validators:
            raise _fail(f"{where}.validators", f"range {start}:{count} goes past the {validators} genesis validators")
        link = _parse_link(nd["link"], f"{where}.link") if "link" in nd else Link()
        nodes.append(Node(node_id, role, start, count, link))
    ids = {n.id for n in nodes}
    owned: dict[int, str] = {}
    for n in nodes:
        for v in range(n.validators_start, n.validators_start + n.validators_count):
            if v in owned:
                raise _fail(f"nodes.{n.id}.validators", f"validator {v} is also run by {owned[v]} (double signing)")
            owned[v] = n.id

    # peering: dialer -> [listeners], or "discovery": the first node is every other's bootnode
    bootnode = None
    if data.get("peering") == "discovery":
        bootnode, data = nodes[0].id, {**data, "peering": {}}
    peering_data = _mapping(data.get("peering") or {}, "peering")
    peering: dict[str, list[str]] = {}
    for dialer, targets in peering_data.items():
        where = f"peering.{dialer}"
        if dialer not in ids:
            raise _fail(where, f"unknown node {dialer!r}")
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not targets:
            raise _fail(where, "must be a node id or a list of node ids")
        for t in targets:
            if t not in ids:
                raise _fail(where, f"unknown node {t!r}")
            if t == dialer:
                raise _fail(where, "a node cannot peer with itself")
        peering[dialer] = list(dict.fromkeys(targets))
    _check_acyclic(peering)

    # events
    events_data = data.get("events") or []
    if not isinstance(events_data, list):
        raise _fail("events", "must be a list")
    events = [_parse_event(e, f"events[{i}]", spe) for i, e in enumerate(events_data)]
    for i, e in enumerate(events):
        for member in (m for g in e.groups for m in g):
            if member not in ids:
                raise _fail(f"events[{i}].groups", f"unknown node {member!r}")
        if e.action != "partition" and e.node not in ids:
            raise _fail(f"events[{i}].node", f"unknown node {e.node!r}")
        if e.action == "offline":
            n = next(x for x in nodes if x.id == e.node)
            r, own = e.validator_range(), range(n.validators_start, n.validators_start + n.validators_count)
            if not own or r.start < own.start or r.stop > own.stop:
                raise _fail(f"events[{i}].validators", f"{e.validators} is not a subset of what {e.node} runs "
                            f"({f'{own.start}:{len(own)}' if own else 'no validators'})")
        if e.action == "exit" and e.validator >= validators:
            raise _fail(f"events[{i}].validator", f"{e.validator} is not one of the {validators} genesis validators")
        if e.action == "equivocate":
            n = next(n for n in nodes if n.id == e.node)
            if not n.validators_start <= e.validator < n.validators_start + n.validators_count:
                raise _fail(f"events[{i}].validator", f"{e.node} does not run validator {e.validator}")
    equivocators = [e.validator for e in events if e.action == "equivocate"]
    if len(set(equivocators)) != len(equivocators):
        raise _fail("events", "one equivocate event per validator (a slashed validator cannot be slashed again)")
    joins = [e for e in events if e.action == "join"]
    joiners = [e.node for e in joins]
    if len(set(joiners)) != len(joiners):
        raise _fail("events", "a node can join only once")
    for i, e in enumerate(events):
        join = next((j for j in joins if j.node == e.node), None)
        if e.action != "join" and join is not None and e.at_slot <= join.at_slot:
            raise _fail(f"events[{i}]", f"{e.node} joins at slot {join.at_slot}; it cannot be {e.action}d before")
    for dialer, targets in peering.items():
        for t in targets:
            if t in joiners and dialer not in joiners:
                raise _fail(f"peering.{dialer}", f"{t} joins late, so {dialer} cannot dial it at the start; "
                                                 f"let {t} dial {dialer} instead")
    if len(joiners) == len(nodes):
        raise _fail("events", "at least one node must start at genesis")
    if bootnode in joiners:
        raise _fail("peering", f"the bootnode {bootnode} (the first node) must start at genesis")

    # goal
    goal_data = _mapping(data["goal"], "goal")
    _no_unknown(goal_data, {"finalized_epoch", "nodes", "peered", "hold", "exited", "slashed", "reorg",
                            "finality_resumes"}, "goal")
    fin = goal_data.get("finalized_epoch")
    finalized_epoch = None if fin is None else _int(fin, "goal.finalized_epoch", 1)
    peered = goal_data.get("peered", False)
    if not isinstance(peered, bool):
        raise _fail("goal.peered", f"must be true or false, got {peered!r}")
    exited = goal_data.get("exited", [])
    if isinstance(exited, int) and not isinstance(exited, bool):
        exited = [exited]
    if not isinstance(exited, list) or any(not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < validators
                                           for v in exited):
        raise _fail("goal.exited", f"must be a list of genesis validator indices (0..{validators - 1}), got {exited!r}")
    slashed = goal_data.get("slashed", [])
    if not isinstance(slashed, list) or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < validators
                                                for v in slashed):
        raise _fail("goal.slashed", f"must be a list of validator indices below {validators}, got {slashed!r}")
    fault_goals = {}
    for key in ("reorg", "finality_resumes"):
        fault_goals[key] = goal_data.get(key, False)
        if not isinstance(fault_goals[key], bool):
            raise _fail(f"goal.{key}", f"must be true or false, got {fault_goals[key]!r}")
        if fault_goals[key] and not any(e.action == "partition" for e in events):
            raise _fail(f"goal.{key}", "needs a partition event (it is judged after the heal)")
    if finalized_epoch is None and not peered and not exited and not slashed and not any(fault_goals.values()):
        raise _fail("goal", "needs finalized_epoch and/or peered: true (and/or exited: [validator indices], "
                    "slashed: [validator indices], reorg/finality_resumes with a partition)")
    goal_nodes = goal_data.get("nodes", [n.id for n in nodes])
    if isinstance(goal_nodes, str):
        goal_nodes = [goal_nodes]
    if not isinstance(goal_nodes, list) or not goal_nodes:
        raise _fail("goal.nodes", "must be a non-empty list of node ids")
    for g in goal_nodes:
        if g not in ids:
            raise _fail("goal.nodes", f"unknown node {g!r}")
    if peered and bootnode is not None:
        raise _fail("goal.peered", "checks static peering edges; with peering: discovery use finalized_epoch")
    if peered:
        lonely = [g for g in goal_nodes if not any(g == d or g in t for d, t in peering.items())]
        if lonely:
            raise _fail("goal.peered", f"{', '.join(lonely)} has no static peering edge to check")
    hold = parse_duration(goal_data["hold"], "goal.hold") if "hold" in goal_data else 0.0
    goal = Goal(finalized_epoch, list(goal_nodes), peered, hold, exited=list(exited), slashed=list(slashed),
                **fault_goals)

    genesis_delay = parse_duration(data.get("genesis_delay", 30), "genesis_delay")
    if "time_limit" in data:
        time_limit = parse_duration(data["time_limit"], "time_limit")
    else:  # room for the goal epoch to finalize (two epochs after it) plus half again
        epochs = (finalized_epoch or 1) + 3
        heals = [(e.at_slot + e.slots) // spe for e in events if e.action == "partition"]
        if heals:  # and for finality to come back after the last heal
            epochs = max(epochs, max(heals) + 6)
        time_limit = genesis_delay + 1.5 * epochs * spe * sps + 60
    poll = parse_duration(data["poll_interval"], "poll_interval") if "poll_interval" in data else None

    return Spec(
        name=_str(data.get("name", name), "name"),
        title=str(data.get("title", "")), description=str(data.get("description", "")).strip(),
        preset=preset, config=dict(config), validators=validators, genesis_delay=genesis_delay,
        genesis_command=genesis_command, clients=clients, nodes=nodes, peering=peering, goal=goal,
        time_limit=time_limit, poll_interval=poll, events=sorted(events, key=lambda e: e.at_slot),
        seconds_per_slot=sps, slots_per_epoch=spe, path=path, bootnode=bootnode,
    )


def _check_acyclic(peering: dict[str, list[str]]) -> None:
    """Dialled nodes start first (their address is needed), so dialling must not loop."""
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            loop = trail[trail.index(node):] + [node]
            raise _fail("peering", f"dialling loops ({' -> '.join(loop)}); static peering needs one direction "
                                   "only: the dialled node accepts the connection")
        state[node] = 1
        for t in peering.get(node, []):
            visit(t, trail + [node])
        state[node] = 2

    for n in list(peering):
        visit(n, [])


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML: {e}") from None
    try:
        return parse_spec(data, name=path.stem, path=path)
    except SpecError as e:
        raise SpecError(f"{path}: {e}") from None


def check_limits(spec: Spec, use_netns: bool = False) -> list[str]:
    """Why the clients of `spec` cannot run it as described: one clear sentence each (empty: fine)."""
    problems: list[str] = []
    for role in ROLES:
        client = spec.clients[role]
        nodes = [n for n in spec.nodes if n.role == role]
        if not nodes:
            continue
        lim = client.limits
        who = f"{client.name} (role {role})"

        def why(key: str) -> str:
            return f" ({lim.reasons[key]})" if key in lim.reasons else ""

        if lim.validators is not None and spec.validators != lim.validators:
            problems.append(f"{who} runs only a {lim.validators}-validator genesis{why('validators')}; "
                            f"{spec.name} has {spec.validators} validators")
        if lim.seconds_per_slot is not None and spec.seconds_per_slot != lim.seconds_per_slot:
            problems.append(f"{who} runs only {lim.seconds_per_slot} s slots{why('seconds_per_slot')}; "
                            f"{spec.name} asks for {spec.seconds_per_slot} s slots")
        if lim.preset is not None and spec.preset != lim.preset:
            problems.append(f"{who} runs only the {lim.preset} preset{why('preset')}; {spec.name} asks for {spec.preset}")
        if not lim.config_overrides and spec.config:
            # The slot length has its own limit (and message) above.
            covered = {"SECONDS_PER_SLOT"} if lim.seconds_per_slot is not None else set()
            extra = sorted(str(k) for k in spec.config if str(k) not in covered)
            if extra:
                problems.append(f"{who} takes no constant overrides{why('config_overrides')}; "
                                f"{spec.name} sets {', '.join(map(str, extra))}")
        if use_netns and not lim.netns:
            problems.append(f"{who} cannot run in a network namespace{why('netns')}; run without --netns")
        ids = {n.id for n in nodes}
        for e in spec.events:
            if e.node in ids and e.action not in lim.events:
                problems.append(f"{who} cannot {e.action} ({e.node} at slot {e.at_slot}){why('events')}")
            elif e.node in ids and e.action == "equivocate" and client.name != "pybeacon":
                problems.append(f"{who} cannot equivocate ({e.node} at slot {e.at_slot}): the chaos endpoint "
                                f"behind {EQUIVOCATION_FLAG} is pybeacon's")
        if spec.goal.slashed and client.watch != "status" and any(g in ids for g in spec.goal.nodes):
            problems.append(f"{who} cannot be a goal node for goal.slashed: it is read from the node's "
                            "/eth/v1 API, and this client is watched by its " + client.watch)
    return problems
