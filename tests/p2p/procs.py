"""Real `pybeacon` processes for p2p tests: free ports, start, poll /node/status, stop.
(Self-contained on purpose: p2p tests depend only on the `pybeacon` command itself.)"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e["PYTHONUNBUFFERED"] = "1"
    return e


def pybeacon(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "beacon.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), cwd=REPO)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class NodeProcess:
    name: str
    argv: list[str]
    log_path: Path
    http_port: int
    proc: subprocess.Popen | None = None

    @classmethod
    def make(cls, tmp: Path, name: str, *args: str) -> "NodeProcess":
        p2p, http, metrics = free_ports(3)
        argv = [*args, "--datadir", str(tmp / name), "--listen-address", "127.0.0.1", "--port", str(p2p),
                "--http-port", str(http), "--metrics-port", str(metrics), "--log-level", "debug"]
        return cls(name, argv, tmp / f"{name}.log", http)

    def start(self) -> "NodeProcess":
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "beacon.cli", "node", *self.argv], stdout=out,
                                         stderr=subprocess.STDOUT, env=child_env(), cwd=REPO, start_new_session=True)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.splitlines()[-n:])

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=3) as resp:
            return json.loads(resp.read())

    def status(self) -> dict | None:
        try:
            return self.get("/node/status")
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}) waiting for {what}:\n{self.tail()}")
            st = self.status()
            if st is not None:
                last = st
                if predicate(st):
                    return st
            time.sleep(0.25)
        raise AssertionError(f"{self.name}: no {what} in {timeout:.0f} s; last status {last}\n{self.tail()}")

    def multiaddr(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"/ip4/127\.0\.0\.1/tcp/\d+/p2p/\w+", self.log)
            if found:
                return found.group(0)
            time.sleep(0.1)
        raise AssertionError(f"{self.name} announced no multiaddr:\n{self.tail()}")

    def stop(self, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout} s:\n{self.tail()}")
