"""Running real `pybeacon` node processes for tests: free ports, start, poll, stop, audit.

Nodes are separate OS processes (`python -m beacon.cli ...`) on 127.0.0.1 with their own
LevelDB datadirs; tests talk to them only over HTTP and read their logs.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

REPO = Path(__file__).resolve().parents[2]

from beacon.chaos.procs import NodeProcessMixin  # noqa: E402  (log, status polling, multiaddr)
from beacon.chaos.procs import child_env as env  # noqa: E402
from beacon.testnet.runner import free_ports  # noqa: E402  (the harness's: distinct ports at once)


def pybeacon(*args: str, timeout: float = 120, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run `pybeacon ARGS` to completion (for commands that must fail fast)."""
    return subprocess.run([sys.executable, "-m", "beacon.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env(), cwd=cwd or REPO)


def write_config(path: Path, **values: Any) -> Path:
    path.write_text("".join(f"{k}: {v}\n" for k, v in values.items()) or "{}\n")
    return path


def make_genesis(path: Path, validators: int, genesis_time: int, config: Path) -> Path:
    r = pybeacon("genesis", "--validators", str(validators), "--genesis-time", str(genesis_time),
                 "--config", str(config), "--out", str(path))
    assert r.returncode == 0, r.stderr
    return path


@dataclass
class NodeProc(NodeProcessMixin):
    name: str
    datadir: Path
    log_path: Path
    args: list[str]
    http_port: int
    metrics_port: int
    p2p_port: int
    proc: Optional[subprocess.Popen] = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)
    failure: ClassVar[type[Exception]] = AssertionError
    poll_interval: ClassVar[float] = 0.25

    def start(self) -> "NodeProc":
        self.starts += 1
        log_path = self.log_path.with_name(f"{self.log_path.stem}.{self.starts}{self.log_path.suffix}")
        self.logs.append(log_path)
        out = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "beacon.cli", *self.args], stdout=out,
                                     stderr=subprocess.STDOUT, env=env(), cwd=REPO, start_new_session=True)
        out.close()
        return self

    def get(self, path: str, port: Optional[int] = None, timeout: float = 3.0) -> Any:
        url = f"http://127.0.0.1:{port or self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if (port or self.http_port) == self.http_port else body.decode()

    def metrics(self) -> dict[str, float]:
        text = self.get("/metrics", port=self.metrics_port)
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout} s after {signal.Signals(sig).name}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def node(tmp: Path, name: str, *args: str, p2p: bool = True) -> NodeProc:
    """A node named `name` with its own datadir and free ports; `args` are the chain/validator flags."""
    p2p_port, http_port, metrics_port = free_ports(3)
    datadir = tmp / name
    argv = [*args, "--datadir", str(datadir), "--http-port", str(http_port), "--metrics-port", str(metrics_port),
            "--log-level", "debug"]
    if p2p:
        argv += ["--listen-address", "127.0.0.1", "--port", str(p2p_port)]
    else:
        argv += ["--no-p2p"]
    return NodeProc(name, datadir, tmp / f"{name}.log", argv, http_port, metrics_port, p2p_port)


# --- auditing signed messages for slashable pairs ------------------------------------------------

_ATT = re.compile(r"signed attestation slot (\d+) validators ([\d,]+) source (\d+) target (\d+) data 0x([0-9a-f]{64})")
_BLOCK = re.compile(r"signed block slot (\d+) proposer (\d+) epoch (\d+) root 0x([0-9a-f]{64})")


def signed_messages(text: str) -> tuple[list[tuple[int, int, int, str]], list[tuple[int, int, int, str]]]:
    """(attestations as (validator, source, target, data root), blocks as (proposer, epoch, slot, root))."""
    atts = []
    for m in _ATT.finditer(text):
        for v in m.group(2).split(","):
            atts.append((int(v), int(m.group(3)), int(m.group(4)), m.group(5)))
    blocks = [(int(m.group(2)), int(m.group(3)), int(m.group(1)), m.group(4)) for m in _BLOCK.finditer(text)]
    return atts, blocks


def slashable_pairs(text: str) -> list[str]:
    """Every pair of signed messages in `text` that v0.8.2 would slash (proposer: two different
    blocks in one epoch; attester: double vote or surround vote)."""
    atts, blocks = signed_messages(text)
    problems = []
    by_proposer: dict[tuple[int, int], set[str]] = {}
    for proposer, epoch, _slot, root in blocks:
        by_proposer.setdefault((proposer, epoch), set()).add(root)
    for (proposer, epoch), roots in by_proposer.items():
        if len(roots) > 1:
            problems.append(f"proposer {proposer} signed {len(roots)} blocks in epoch {epoch}")
    by_validator: dict[int, set[tuple[int, int, str]]] = {}
    for v, s, t, root in atts:
        by_validator.setdefault(v, set()).add((s, t, root))
    for v, votes in by_validator.items():
        votes_l = sorted(votes)
        for i, (s1, t1, r1) in enumerate(votes_l):
            for s2, t2, r2 in votes_l[i + 1:]:
                if t1 == t2 and r1 != r2:
                    problems.append(f"validator {v}: double vote for target {t1}")
                if (s1 < s2 and t2 < t1) or (s2 < s1 and t1 < t2):
                    problems.append(f"validator {v}: surround vote {s1}->{t1} / {s2}->{t2}")
    return problems


def assert_one_line_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    """A refused start: non-zero exit, exactly one line on stderr naming the problem, no log output."""
    assert r.returncode != 0, f"exit 0 for bad input; stderr: {r.stderr!r}"
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"want one line on stderr, got {len(lines)}:\n{r.stderr}"
    assert lines[0].startswith("pybeacon: "), lines[0]
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"
    assert r.stdout.strip() == "", f"stdout should be empty, got {r.stdout!r}"
    return lines[0]


def tree_snapshot(path: Path) -> dict[str, bytes]:
    """Contents of every file under `path` (to prove a refused start did not touch a datadir)."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}

