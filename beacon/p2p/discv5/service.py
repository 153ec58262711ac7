"""Discovery beside the libp2p host: one secp256k1 identity (the libp2p node key), a
persistent ENR in the datadir, the discv5 node, and the dialer.

The record is written to `<datadir>/enr` (its text form). On each start the node builds the
record it should have (ip, tcp, udp, eth2); if it equals the stored one, the stored one (and
its seq) is kept, otherwise seq goes up by one, as EIP-778 asks of a changed record.
"""
from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import trio

from beacon.p2p.discv5.crypto import public_key
from beacon.p2p.discv5.dialer import Dialer
from beacon.p2p.discv5.enr import ENR, ENRError, ENRForkID
from beacon.p2p.discv5.protocol import Discv5
from beacon.p2p.host import P2PHost

ENR_FILENAME = "enr"
DEFAULT_TARGET_PEERS = 16

log = logging.getLogger("beacon.p2p.discv5")


@dataclass(frozen=True)
class DiscoveryOptions:
    bootnodes: tuple[ENR, ...] = ()
    enr_address: Optional[str] = None  # None: the listen address, or this host's outward address
    udp_port: Optional[int] = None  # None: the libp2p TCP port's number; 0: any free port
    target_peers: int = DEFAULT_TARGET_PEERS


def outward_address(listen_address: str) -> str:
    """The IPv4 address others should use when we listen on all interfaces."""
    if listen_address not in ("0.0.0.0", ""):
        return listen_address
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the route's source
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def free_udp_port(address: str) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((address, 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


def udp_port_free(address: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def load_or_update_enr(datadir: Path, secret: bytes, *, ip: str, tcp: int, udp: int, eth2: bytes) -> ENR:
    path = datadir / ENR_FILENAME
    seq = 1
    if path.exists():
        try:
            old = ENR.from_text(path.read_text(encoding="ascii"))
        except (ENRError, UnicodeDecodeError) as e:
            log.warning("stored ENR %s is unusable (%s); writing a new one", path, e)
            old = None
        if old is not None and old.public_key == public_key(secret):
            if old.same_content(ip, tcp, udp, eth2):
                return old
            seq = old.seq + 1
    record = ENR.create(secret, seq, ip=ip, tcp=tcp, udp=udp, eth2=eth2)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.to_text() + "\n", encoding="ascii")
    tmp.replace(path)
    return record


class DiscoveryService:
    def __init__(self, host: P2PHost, datadir: Path, fork: ENRForkID, options: DiscoveryOptions,
                 peer_count: Callable[[], int]) -> None:
        self.host = host
        self.datadir = datadir
        self.fork = fork
        self.options = options
        self.peer_count = peer_count
        self.discv5: Optional[Discv5] = None
        self.dialer: Optional[Dialer] = None
        self._scope: Optional[trio.CancelScope] = None

    @property
    def enr(self) -> Optional[ENR]:
        return self.discv5.enr if self.discv5 else None

    def stop(self) -> None:
        """Stop finding and dialling peers (the node is shutting down: no new connections)."""
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, task_status: trio.TaskStatus[ENR] = trio.TASK_STATUS_IGNORED) -> None:
        listen = self.host.config.listen_address
        tcp = int(self.host.multiaddr().split("/tcp/")[1].split("/")[0])  # the bound port
        udp = self.options.udp_port if self.options.udp_port is not None else tcp
        if udp == 0:
            udp = free_udp_port(listen)
        elif self.options.udp_port is None and not udp_port_free(listen, udp):
            # Only the default (the TCP port's number) may move: the ENR tells others where we are.
            free = free_udp_port(listen)
            log.warning("udp port %d is taken; discv5 uses %d (give --enr-udp-port to fix it)", udp, free)
            udp = free
        secret = self.host.key_pair.private_key.to_bytes()
        record = load_or_update_enr(self.datadir, secret, ip=self.options.enr_address or outward_address(listen),
                                    tcp=tcp, udp=udp, eth2=self.fork.encode())
        self.discv5 = Discv5(secret, record, listen=(listen, udp), bootnodes=self.options.bootnodes)
        self.dialer = Dialer(self.discv5, self.host, self.fork.fork_digest, self.options.target_peers,
                             self.peer_count)
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            await nursery.start(self.discv5.run)
            log.info("ENR %s (seq %d, %s:%d udp, fork digest 0x%s, %d bootnodes, target %d peers)",
                     record.to_text(), record.seq, record.ip, udp, self.fork.fork_digest.hex(),
                     len(self.options.bootnodes), self.options.target_peers,
                     extra={"fields": {"enr": record.to_text()}})
            nursery.start_soon(self.dialer.run)
            task_status.started(record)
