"""The discv5 v5.1 node on a trio UDP socket: sessions and handshakes, requests and responses,
the node table, lookups, and a per-source rate limit.

    disc = Discv5(secret, enr, listen=("0.0.0.0", 9000), bootnodes=[...])
    port = await nursery.start(disc.run)        # bound UDP port
    found = await disc.lookup(os.urandom(32))   # the 16 closest live records to a target

Every datagram is checked before it costs anything: size, rate limit per (ip, port), header
unmasking, then authentication. A packet that fails any step is counted and dropped with one
DEBUG line; the node never stops over a peer's bytes. WHOAREYOU is answered only for a request
we sent to that address, so a forged challenge cannot make us do a handshake.
"""
from __future__ import annotations

import logging
import os
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import trio

from beacon.p2p.discv5 import crypto, messages as m
from beacon.p2p.discv5.enr import ENR, ENRError
from beacon.p2p.discv5.packet import (FLAG_HANDSHAKE, FLAG_MESSAGE, FLAG_WHOAREYOU, HandshakeAuthdata, Header,
                                      PacketError, decode_packet, encode_packet, random_iv, random_nonce,
                                      whoareyou_authdata)
from beacon.p2p.discv5.routing import BUCKET_SIZE, RoutingTable, log2_distance, xor_distance

Address = tuple[str, int]

REQUEST_TIMEOUT = 2.0  # the spec suggests 0.5-1 s; a busy 2-core machine (a node also verifies blocks) needs slack
LOOKUP_PARALLELISM = 3  # Kademlia's alpha
REFRESH_INTERVAL = 30.0  # a random lookup and one liveness check this often
MAX_SESSIONS = 1024
MAX_CHALLENGES = 256
MAX_KNOWN = 2048
NODES_RECORDS_PER_MESSAGE = 3  # 3 records of <= 300 bytes keep a NODES packet under 1280
RATE_PER_SOURCE = 200.0  # packets per second one (ip, port) may send us, sustained
BURST_PER_SOURCE = 400.0
MAX_TRACKED_SOURCES = 4096


class DiscoveryError(Exception):
    """A request that got no (valid) answer."""


@dataclass
class Session:
    write_key: bytes
    read_key: bytes


@dataclass
class Challenge:
    challenge_data: bytes
    record: Optional[ENR]  # the record of the node we challenged, if we had one
    sent: float


@dataclass
class Request:
    record: ENR
    addr: Address
    message: Any
    nonce: bytes = b""
    handshake_sent: bool = False
    total: int = 1
    responses: list[Any] = field(default_factory=list)
    done: trio.Event = field(default_factory=trio.Event)


class RateLimiter:
    """Token buckets per source address; the least recently seen source is forgotten first."""

    def __init__(self, rate: float = RATE_PER_SOURCE, burst: float = BURST_PER_SOURCE,
                 max_sources: int = MAX_TRACKED_SOURCES) -> None:
        self.rate, self.burst, self.max_sources = rate, burst, max_sources
        self._buckets: OrderedDict[Address, list[float]] = OrderedDict()

    def allow(self, source: Address, now: Optional[float] = None) -> bool:
        now = time.monotonic() if now is None else now
        b = self._buckets.pop(source, None)
        if b is None:
            b = [self.burst, now]
            if len(self._buckets) >= self.max_sources:
                self._buckets.popitem(last=False)
        tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[source] = [tokens - 1.0 if allowed else tokens, now]
        return allowed


@dataclass
class Stats:
    received: int = 0
    rate_limited: int = 0
    bad_packets: int = 0
    handshakes: int = 0
    whoareyou_sent: int = 0


class Discv5:
    def __init__(self, secret: bytes, enr: ENR, *, listen: Address = ("0.0.0.0", 9000),
                 bootnodes: tuple[ENR, ...] | list[ENR] = (), request_timeout: float = REQUEST_TIMEOUT,
                 refresh_interval: float = REFRESH_INTERVAL, limiter: Optional[RateLimiter] = None,
                 log: Optional[logging.Logger] = None) -> None:
        if crypto.public_key(secret) != enr.public_key:
            raise ValueError("the ENR is not signed by this node's key")
        self.secret = secret
        self.enr = enr
        self.local_id = enr.node_id
        self.listen = listen
        self.bootnodes = list(bootnodes)
        self.request_timeout = request_timeout
        self.refresh_interval = refresh_interval
        self.limiter = limiter or RateLimiter()
        self.log = log or logging.getLogger("beacon.p2p.discv5")
        self.table = RoutingTable(self.local_id)
        self.stats = Stats()
        self.port: Optional[int] = None
        self._sock: Optional[trio.socket.SocketType] = None
        self._sessions: OrderedDict[tuple[bytes, Address], Session] = OrderedDict()
        self._challenges: OrderedDict[tuple[bytes, Address], Challenge] = OrderedDict()
        self._requests: dict[bytes, Request] = {}
        self._by_nonce: dict[bytes, Request] = {}
        self._known: OrderedDict[bytes, ENR] = OrderedDict()  # verified records seen, newest last
        self.on_record: list[Callable[[ENR], None]] = []
        self.bootstrapped = trio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            await sock.bind(self.listen)
            self._sock = sock
            self.port = sock.getsockname()[1]
            self.log.info("discv5 listening on udp %s:%d, node id 0x%s", self.listen[0], self.port,
                          self.local_id.hex()[:16])
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receive_loop)
                nursery.start_soon(self._maintain)
                task_status.started(self.port)

    async def _maintain(self) -> None:
        for record in self.bootnodes:
            if record.node_id != self.local_id:
                self.table.add(record)
                self._learn(record)
        await self.lookup(self.local_id)
        self.bootstrapped.set()
        self.log.info("discv5 bootstrap lookup done: %d nodes in the table, %d known", len(self.table),
                      len(self._known))
        while True:
            await trio.sleep(self.refresh_interval * random.uniform(0.8, 1.2))
            await self._revalidate_one()
            await self.lookup(os.urandom(32))

    async def _revalidate_one(self) -> None:
        records = self.table.records()
        if records:
            record = random.choice(records)
            try:
                await self.ping(record)
            except DiscoveryError:
                pass  # ping() already marked it failed

    # -- what others use ----------------------------------------------------------------------

    def known_records(self) -> list[ENR]:
        """Every verified record we have seen (table first), newest last."""
        table = {r.node_id: r for r in self.table.records()}
        return list(table.values()) + [r for nid, r in self._known.items() if nid not in table]

    async def ping(self, record: ENR) -> m.Pong:
        (pong,) = await self.request(record, m.Ping(_request_id(), self.enr.seq))
        assert isinstance(pong, m.Pong)
        return pong

    async def find_node(self, record: ENR, distances: list[int]) -> list[ENR]:
        responses = await self.request(record, m.FindNode(_request_id(), tuple(distances)))
        found: list[ENR] = []
        for nodes in responses:
            for rec in nodes.records:
                if isinstance(rec, ENRError):
                    self.log.debug("dropped a malformed record from 0x%s: %s", record.node_id.hex()[:12], rec)
                    continue
                if log2_distance(rec.node_id, record.node_id) not in distances:
                    self.log.debug("dropped a record at a distance we did not ask 0x%s", record.node_id.hex()[:12])
                    continue
                found.append(rec)
                self._learn(rec)
        return found

    async def lookup(self, target: bytes) -> list[ENR]:
        """Iterative Kademlia lookup: ask the closest not-yet-asked nodes, alpha at a time, until
        the closest BUCKET_SIZE known have all been asked."""
        seen: dict[bytes, ENR] = {r.node_id: r for r in self.table.closest(target, BUCKET_SIZE)}
        if not seen:
            # An empty table (everyone timed out, e.g. while we were busy): start over from the bootnodes.
            seen = {r.node_id: r for r in self.bootnodes if r.node_id != self.local_id}
        asked: set[bytes] = set()
        answered: set[bytes] = set()

        async def query(record: ENR) -> None:
            d = log2_distance(target, record.node_id)
            distances = [x for x in (d, d + 1, d - 1) if 1 <= x <= 256] or [1]
            try:
                for rec in await self.find_node(record, distances):
                    if rec.node_id != self.local_id:
                        seen.setdefault(rec.node_id, rec)
                answered.add(record.node_id)
            except (DiscoveryError, PacketError) as e:
                self.log.debug("lookup: 0x%s did not answer: %s", record.node_id.hex()[:12], e)

        while True:
            closest = sorted(seen.values(), key=lambda r: xor_distance(r.node_id, target))[:BUCKET_SIZE]
            batch = [r for r in closest if r.node_id not in asked][:LOOKUP_PARALLELISM]
            if not batch:
                return [r for r in closest if r.node_id in answered]
            async with trio.open_nursery() as nursery:
                for r in batch:
                    asked.add(r.node_id)
                    nursery.start_soon(query, r)

    async def request(self, record: ENR, message: Any) -> list[Any]:
        """Send a request and wait for its response(s); DiscoveryError on timeout."""
        addr = record.udp_address()
        if addr is None:
            raise DiscoveryError(f"record 0x{record.node_id.hex()[:12]} has no ip/udp")
        req = Request(record, addr, message)
        self._requests[message.request_id] = req
        try:
            await self._send_request(req)
            with trio.move_on_after(self.request_timeout):
                await req.done.wait()
            if not req.done.is_set():
                self.table.mark_failed(record.node_id)
                raise DiscoveryError(f"{type(message).__name__} to {addr[0]}:{addr[1]} timed out")
            self.table.add(record)  # it answered: a live node
            return req.responses
        finally:
            self._requests.pop(message.request_id, None)
            self._by_nonce.pop(req.nonce, None)

    # -- sending ------------------------------------------------------------------------------

    async def _send(self, data: bytes, addr: Address) -> None:
        assert self._sock is not None
        try:
            await self._sock.sendto(data, addr)
        except OSError as e:
            self.log.debug("send to %s:%d failed: %s", addr[0], addr[1], e)

    async def _send_request(self, req: Request) -> None:
        session = self._sessions.get((req.record.node_id, req.addr))
        # Without a session the message goes out under a random key: the peer cannot read it and
        # answers WHOAREYOU, which starts the handshake (discv5 theory, step 1).
        key = session.write_key if session else os.urandom(16)
        self._by_nonce.pop(req.nonce, None)
        req.nonce = random_nonce()
        self._by_nonce[req.nonce] = req
        packet = encode_packet(req.record.node_id, Header(FLAG_MESSAGE, req.nonce, self.local_id), key,
                               m.encode(req.message))
        await self._send(packet, req.addr)

    async def _send_message(self, node_id: bytes, addr: Address, message: Any) -> None:
        session = self._sessions.get((node_id, addr))
        if session is None:
            return  # we answer only over a session the request itself came through
        packet = encode_packet(node_id, Header(FLAG_MESSAGE, random_nonce(), self.local_id), session.write_key,
                               m.encode(message))
        await self._send(packet, addr)

    def _store_session(self, key: tuple[bytes, Address], session: Session) -> None:
        self._sessions.pop(key, None)
        self._sessions[key] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)

    def _learn(self, record: ENR) -> None:
        old = self._known.pop(record.node_id, None)
        if old is not None and old.seq > record.seq:
            record = old
        self._known[record.node_id] = record
        while len(self._known) > MAX_KNOWN:
            self._known.popitem(last=False)
        if old is None:
            for callback in self.on_record:
                callback(record)

    # -- receiving ----------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, addr = await self._sock.recvfrom(2048)
            except ConnectionResetError:  # an ICMP port-unreachable from an earlier send
                continue
            addr = (addr[0], addr[1])
            self.stats.received += 1
            if not self.limiter.allow(addr):
                self.stats.rate_limited += 1
                if self.stats.rate_limited % 1000 == 1:
                    self.log.warning("rate-limiting discv5 packets from %s:%d (%d dropped so far)", addr[0], addr[1],
                                     self.stats.rate_limited)
                continue
            try:
                await self._handle_packet(data, addr)
            except (PacketError, m.MessageError, crypto.CryptoError, ENRError) as e:
                self.stats.bad_packets += 1
                self.log.debug("dropped a packet from %s:%d: %s", addr[0], addr[1], e)
            except Exception as e:  # noqa: BLE001 - a peer's bytes must never stop discovery
                self.stats.bad_packets += 1
                self.log.warning("dropped a packet from %s:%d (unexpected %s: %s)", addr[0], addr[1],
                                 type(e).__name__, e)

    async def _handle_packet(self, data: bytes, addr: Address) -> None:
        packet = decode_packet(self.local_id, data)
        flag = packet.header.flag
        if flag == FLAG_MESSAGE:
            src_id = packet.header.authdata
            session = self._sessions.get((src_id, addr))
            if session is not None:
                try:
                    plaintext = crypto.aes_gcm_decrypt(session.read_key, packet.header.nonce, packet.message, packet.ad)
                except crypto.CryptoError:
                    plaintext = None
                if plaintext is not None:
                    await self._handle_message(src_id, addr, m.decode(plaintext))
                    return
            await self._send_whoareyou(src_id, addr, packet.header.nonce)
        elif flag == FLAG_WHOAREYOU:
            await self._on_whoareyou(packet, addr)
        else:
            await self._on_handshake(packet, addr)

    async def _send_whoareyou(self, src_id: bytes, addr: Address, nonce: bytes) -> None:
        known = self.table.get(src_id) or self._known.get(src_id)
        header = Header(FLAG_WHOAREYOU, nonce, whoareyou_authdata(os.urandom(16), known.seq if known else 0))
        iv = random_iv()
        key = (src_id, addr)
        self._challenges.pop(key, None)
        self._challenges[key] = Challenge(iv + header.encode(), known, time.monotonic())
        while len(self._challenges) > MAX_CHALLENGES:
            self._challenges.popitem(last=False)
        self.stats.whoareyou_sent += 1
        await self._send(encode_packet(src_id, header, None, b"", masking_iv=iv), addr)

    async def _on_whoareyou(self, packet: Any, addr: Address) -> None:
        req = self._by_nonce.get(packet.header.nonce)
        if req is None or req.addr != addr:
            raise PacketError("WHOAREYOU for no request of ours")
        if req.handshake_sent:
            raise PacketError("second WHOAREYOU for one request")
        req.handshake_sent = True
        enr_seq = int.from_bytes(packet.header.authdata[16:], "big")
        challenge_data = packet.masking_iv + packet.header_bytes
        dest = req.record
        eph = crypto.new_secret()
        eph_pub = crypto.public_key(eph)
        initiator_key, recipient_key = crypto.derive_keys(crypto.ecdh(dest.public_key, eph), self.local_id,
                                                          dest.node_id, challenge_data)
        signature = crypto.id_sign(self.secret, challenge_data, eph_pub, dest.node_id)
        record = self.enr.raw if enr_seq < self.enr.seq else b""
        authdata = HandshakeAuthdata(self.local_id, signature, eph_pub, record).encode()
        self._store_session((dest.node_id, addr), Session(initiator_key, recipient_key))
        self._by_nonce.pop(req.nonce, None)
        req.nonce = random_nonce()
        self._by_nonce[req.nonce] = req
        await self._send(encode_packet(dest.node_id, Header(FLAG_HANDSHAKE, req.nonce, authdata), initiator_key,
                                       m.encode(req.message)), addr)

    async def _on_handshake(self, packet: Any, addr: Address) -> None:
        auth = HandshakeAuthdata.decode(packet.header.authdata)
        challenge = self._challenges.pop((auth.src_id, addr), None)
        if challenge is None:
            raise PacketError("handshake without a challenge of ours")
        if auth.record:
            record = ENR.from_rlp(auth.record)
            if record.node_id != auth.src_id:
                raise PacketError("handshake record is not the sender's")
        elif challenge.record is not None:
            record = challenge.record
        else:
            raise PacketError("handshake without the record we asked for")
        if not crypto.id_verify(record.public_key, auth.id_signature, challenge.challenge_data, auth.ephemeral_pub,
                                self.local_id):
            raise PacketError("handshake id signature does not verify")
        initiator_key, recipient_key = crypto.derive_keys(crypto.ecdh(auth.ephemeral_pub, self.secret), auth.src_id,
                                                          self.local_id, challenge.challenge_data)
        plaintext = crypto.aes_gcm_decrypt(initiator_key, packet.header.nonce, packet.message, packet.ad)
        message = m.decode(plaintext)
        self._store_session((auth.src_id, addr), Session(recipient_key, initiator_key))
        self.stats.handshakes += 1
        self._learn(record)
        # Only a record whose endpoint is where the packet came from goes in the table: others
        # could be used to point us (and our peers) at a third party.
        if record.udp_address() == addr:
            self.table.add(record)
        await self._handle_message(auth.src_id, addr, message)

    async def _handle_message(self, src_id: bytes, addr: Address, message: Any) -> None:
        if isinstance(message, m.Ping):
            await self._send_message(src_id, addr, m.Pong(message.request_id, self.enr.seq, addr[0], addr[1]))
        elif isinstance(message, m.FindNode):
            await self._answer_find_node(src_id, addr, message)
        elif isinstance(message, m.TalkReq):
            await self._send_message(src_id, addr, m.TalkResp(message.request_id, b""))  # no talk protocols
        else:
            req = self._requests.get(message.request_id)
            if req is None or req.record.node_id != src_id:
                raise m.MessageError(f"unsolicited {type(message).__name__}")
            if isinstance(req.message, m.FindNode) and isinstance(message, m.Nodes):
                req.responses.append(message)
                req.total = max(1, min(message.total, m.MAX_NODES_TOTAL))
                if len(req.responses) >= req.total:
                    req.done.set()
            elif isinstance(req.message, m.Ping) and isinstance(message, m.Pong) or \
                    isinstance(req.message, m.TalkReq) and isinstance(message, m.TalkResp):
                req.responses.append(message)
                req.done.set()
            else:
                raise m.MessageError(f"{type(message).__name__} does not answer {type(req.message).__name__}")

    async def _answer_find_node(self, src_id: bytes, addr: Address, message: m.FindNode) -> None:
        records: list[ENR] = []
        for d in dict.fromkeys(message.distances):
            if d == 0:
                records.append(self.enr)
            else:
                records += self.table.at_distances([d], BUCKET_SIZE)
        records = records[:BUCKET_SIZE]
        chunks = [records[i:i + NODES_RECORDS_PER_MESSAGE] for i in range(0, len(records), NODES_RECORDS_PER_MESSAGE)]
        chunks = chunks or [[]]
        for chunk in chunks:
            await self._send_message(src_id, addr, m.Nodes(message.request_id, len(chunks), tuple(chunk)))


def _request_id() -> bytes:
    return os.urandom(8)
