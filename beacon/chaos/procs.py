"""Real `pybeacon` node processes on 127.0.0.1 for the chaos tools: start, poll, signal, measure.

Kept apart from tests/ (beacon must not import the test suite); the test harness has its own.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

from beacon.testnet.runner import free_ports

REPO = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["PYTHONUNBUFFERED"] = "1"
    return e


def pybeacon(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "beacon.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), cwd=REPO)


def make_testnet_files(workdir: Path, slot_seconds: float, validators: int, delay: float) -> tuple[Path, Path, int]:
    """(config, genesis, genesis_time) for a testnet starting `delay` seconds from now."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(f"SECONDS_PER_SLOT: {slot_seconds:g}\n")
    genesis_time = int(time.time() + delay)
    genesis = workdir / "genesis.ssz"
    r = pybeacon("genesis", "--validators", str(validators), "--genesis-time", str(genesis_time),
                 "--config", str(cfg), "--out", str(genesis))
    if r.returncode != 0:
        raise RuntimeError(f"genesis failed: {r.stderr.strip()}")
    return cfg, genesis, genesis_time


class NodeProcessMixin:
    """Polling a running `pybeacon` process: its log, /node/status, the announced multiaddr.

    Shared by the chaos tools' Node and the test suite's NodeProc (tests/node/helpers.py); the
    class using it has `name`, `proc`, `logs` and `http_port`. `failure` is what a missed wait
    raises (the tests raise AssertionError, the tools RuntimeError).
    """

    name: str
    proc: Optional[subprocess.Popen]
    logs: list[Path]
    http_port: int
    failure: ClassVar[type[Exception]] = RuntimeError
    poll_interval: ClassVar[float] = 0.2

    @property
    def log(self) -> str:
        return self.logs[-1].read_text(errors="replace") if self.logs else ""

    def all_logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs)

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.splitlines()[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get_json(self, path: str, timeout: float = 3.0) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout) as resp:
            return json.loads(resp.read())

    def status(self) -> Optional[dict]:
        try:
            return self.get_json("/node/status")
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float, what: str) -> dict:
        """Poll /node/status until predicate(status) holds; fail with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise self.failure(f"{self.name} exited with {self.proc.returncode} waiting for {what}:\n{self.tail()}")
            st = self.status()
            if st is not None:
                last = st
                if predicate(st):
                    return st
            time.sleep(self.poll_interval)
        raise self.failure(f"{self.name}: no {what} within {timeout:.0f} s; last status {last}\n{self.tail()}")

    def multiaddr(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"/ip4/127\.0\.0\.1/tcp/\d+/p2p/\w+", self.log)
            if m:
                return m.group(0)
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise self.failure(f"{self.name} announced no multiaddr:\n{self.tail()}")


@dataclass
class Node(NodeProcessMixin):
    name: str
    workdir: Path
    chain_args: list[str]
    p2p_port: int = 0
    http_port: int = 0
    metrics_port: int = 0
    proc: Optional[subprocess.Popen] = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)
    data_root: Optional[Path] = None  # where the datadir goes, if not beside the logs

    def __post_init__(self) -> None:
        if not self.p2p_port:
            self.p2p_port, self.http_port, self.metrics_port = free_ports(3)

    @property
    def datadir(self) -> Path:
        return (self.data_root or self.workdir) / self.name

    def argv(self) -> list[str]:
        return [*self.chain_args, "--datadir", str(self.datadir), "--http-port", str(self.http_port),
                "--metrics-port", str(self.metrics_port), "--log-level", "debug",
                "--listen-address", "127.0.0.1", "--port", str(self.p2p_port)]

    def start(self) -> "Node":
        self.starts += 1
        path = self.workdir / f"{self.name}.{self.starts}.log"
        self.logs.append(path)
        with open(path, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "beacon.cli", *self.argv()], stdout=out,
                                         stderr=subprocess.STDOUT, env=child_env(), cwd=REPO,
                                         start_new_session=True)
        return self

    def get(self, path: str, timeout: float = 3.0) -> Any:
        return self.get_json(path, timeout)

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> Optional[int]:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 20) -> Optional[int]:
        """SIGTERM, then SIGKILL after `timeout`; the exit code of the first (None if it had to be killed)."""
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return code


class ProcStat:
    """CPU% and RSS of one process from /proc (utime+stime over wall time between samples)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self._last: Optional[tuple[float, float]] = None
        self.peak_rss = 0
        self.peak_cpu = 0.0

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / self.tick  # utime, stime

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def sample(self) -> tuple[float, int]:
        """(CPU % since the previous sample, RSS bytes); also keeps the peaks."""
        now, cpu = time.monotonic(), self.cpu_seconds()
        pct = 0.0
        if self._last is not None and now > self._last[0]:
            pct = 100.0 * (cpu - self._last[1]) / (now - self._last[0])
        self._last = (now, cpu)
        rss = self.rss()
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_cpu = max(self.peak_cpu, pct)
        return pct, rss

