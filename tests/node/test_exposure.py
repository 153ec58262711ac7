"""Secrets and exposure (issue 15, part 4), on real node processes.

- No private key in any log: a node running all 16 interop validators at DEBUG proposes and
  attests for two epochs; its whole log is searched for every interop private key (hex, with and
  without zero padding, either byte order; decimal) and for its own node key.
- The node key file is 0600; the slashing-protection DB folder is 0700 and its files 0600.
- The API and the metrics listen on 127.0.0.1 unless asked: the listening sockets of the
  process (from /proc, by the process's own socket inodes) are bound to loopback, and a
  connection to any non-loopback address of this machine is refused. A second node asked for
  0.0.0.0 shows the check sees the difference.
"""
from __future__ import annotations

import fcntl
import os
import socket
import stat
import struct
import time
from pathlib import Path

import pytest

from genesis.keys import interop_privkey

from .helpers import node, write_config

VALIDATORS = 16
SLOTS = 17  # two epochs of the minimal preset and one slot: every validator attested, several proposed


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by process `pid`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state != "0A" or inode not in inodes:  # 0A: TCP_LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            # /proc prints the address as host-order 32-bit words.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.add((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return out


def non_loopback_ipv4() -> list[str]:
    """This machine's IPv4 addresses outside 127/8 (SIOCGIFADDR on every interface)."""
    addrs = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                req = struct.pack("256s", name.encode()[:15])
                addr = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])  # SIOCGIFADDR
            except OSError:
                continue  # no IPv4 address on this interface
            if not addr.startswith("127."):
                addrs.append(addr)
    return addrs


def connects(addr: str, port: int) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=2):
            return True
    except OSError:
        return False


def key_spellings(k: int) -> list[str]:
    """How a 32-byte secret could end up in a log line, lowercased."""
    be, le = k.to_bytes(32, "big"), k.to_bytes(32, "little")
    return [be.hex(), le.hex(), format(k, "x"), str(k)]


@pytest.mark.slow
def test_no_secrets_in_logs_owner_only_files_loopback_api(tmp_path):
    cfg = write_config(tmp_path / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis_time = int(time.time()) + 6
    chain = ["--interop-validators", str(VALIDATORS), "--interop-genesis-time", str(genesis_time),
             "--config", str(cfg)]
    a = node(tmp_path, "a", *chain, "--validators", f"0:{VALIDATORS}").start()
    # Asked to be exposed: the positive control for the address checks (no validators, no p2p).
    b = node(tmp_path, "b", *chain, "--http-address", "0.0.0.0", "--metrics-address", "0.0.0.0", p2p=False).start()
    try:
        st = a.wait_for(lambda s: s["head"]["slot"] >= SLOTS, genesis_time - time.time() + SLOTS * 3 + 30,
                        f"head slot {SLOTS}")
        b.wait_for(lambda s: True, 30, "API up")
        stats = a.get("/validator/stats")
        assert stats["duties"]["proposal"]["done"] > 0 and stats["duties"]["attestation"]["done"] >= VALIDATORS

        # --- listening addresses -----------------------------------------------------------
        socks_a = listening_sockets(a.proc.pid)
        socks_b = listening_sockets(b.proc.pid)
        for port in (a.http_port, a.metrics_port):
            bound = {addr for addr, p in socks_a if p == port}
            assert bound == {"127.0.0.1"}, (port, socks_a)
        for port in (b.http_port, b.metrics_port):
            assert {addr for addr, p in socks_b if p == port} == {"0.0.0.0"}, (port, socks_b)
        others = non_loopback_ipv4()
        print(f"non-loopback IPv4 addresses here: {others or 'none (bound addresses checked above)'}")
        for addr in others:
            assert not connects(addr, a.http_port) and not connects(addr, a.metrics_port), addr
            assert connects(addr, b.http_port) and connects(addr, b.metrics_port), addr
        assert connects("127.0.0.1", a.http_port) and connects("127.0.0.1", a.metrics_port)

        # --- file permissions -------------------------------------------------------------------
        node_key = a.datadir / "node_key"
        assert stat.S_IMODE(node_key.stat().st_mode) == 0o600
        protection = a.datadir / "slashing_protection.ldb"
        assert stat.S_IMODE(protection.stat().st_mode) == 0o700
        node_secret = node_key.read_text().strip().lower()
    finally:
        code_a = a.stop()
        b.stop()
    assert code_a == 0, a.tail()
    # Files LevelDB created while running sit in the 0700 folder; the ones there at start are 0600.
    assert stat.S_IMODE(protection.stat().st_mode) == 0o700

    # --- no key material in the logs ------------------------------------------------------------
    logs = (a.all_logs() + b.all_logs()).lower()
    assert " debug " in logs or '"debug"' in logs, "the node did not log at DEBUG"
    assert "signed block" in logs and "signed attestation" in logs  # the signing paths did log
    found = []
    for i in range(VALIDATORS):
        for spelling in key_spellings(interop_privkey(i)):
            if spelling in logs:
                found.append(f"validator {i}: {spelling[:16]}..")
    if node_secret in logs:
        found.append("the node key")
    assert found == [], found
