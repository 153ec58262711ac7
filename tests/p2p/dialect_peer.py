"""A peer that speaks one 2019 dialect of the wire protocol, for the dialect tests.

It is a real libp2p host (TCP, SecIO, mplex, gossipsub) on 127.0.0.1 serving a real
chain, but its req/resp handlers are written here, from the dialect's description, not
taken from pybeacon's server: each `Profile` field is one habit a 2019 client had
(docs/interop.md, "Dialects"). `TRINITY` is Trinity's interop branch as measured
(../shared/peers/trinity/README.md); `V084` a peer of the v0.8.4 text.
"""
from __future__ import annotations

import struct
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from beacon.chain import Chain
from beacon.p2p import messages as m
from beacon.p2p.chain_view import ChainAdapter
from beacon.p2p.constants import GOODBYE_ID, TOPIC_BEACON_BLOCK, req_protocol
from beacon.p2p.gossip import Gossip, GossipConfig
from beacon.p2p.host import HostConfig, P2PHost
from beacon.p2p.interface import GossipVerdict
from beacon.p2p.reqresp import StreamReader, encode_varint, frame

WRAP = struct.pack("<I", 4)


@dataclass(frozen=True)
class Profile:
    hello_name: str = "hello"
    range_name: str = "beacon_blocks"
    root_name: str = "recent_beacon_blocks"
    chunked: bool = False  # one response_chunk per block (v0.8.4)
    wraps: bool = False  # single-field messages in an SSZ container, both ways
    sends_hello: bool = True  # opens connections it dialled with a Hello
    names_by_htr: bool = False  # names blocks by hash_tree_root (Hello head, by-root)
    error_container: bool = False  # ErrorMessage as an SSZ container
    signs_gossip: bool = True


TRINITY = Profile(wraps=True, sends_hello=False, names_by_htr=True, signs_gossip=False)
V084 = Profile(hello_name="status", range_name="beacon_blocks_by_range", root_name="beacon_blocks_by_root",
               chunked=True, error_container=True)


@dataclass
class DialectPeer:
    profile: Profile
    chain: Chain
    host: P2PHost
    view: ChainAdapter
    gossip: Gossip
    hellos: list[m.HelloMessage] = field(default_factory=list)  # Hellos received
    requests: list[tuple[str, bytes]] = field(default_factory=list)  # (protocol, payload) received
    gossip_received: list[bytes] = field(default_factory=list)

    @property
    def addr(self) -> str:
        return self.host.multiaddr()

    def name(self, signing_root: bytes) -> bytes:
        """This peer's name for one of its blocks."""
        if not self.profile.names_by_htr:
            return signing_root
        block = self.chain.get_block(signing_root)
        assert block is not None
        return bytes(block.hash_tree_root())

    def resolve(self, name: bytes) -> bytes | None:
        """Its blocks answer only to the name it uses."""
        if self.profile.names_by_htr:
            return self.chain.db.get_block_alias(name)
        return name if self.chain.has_block(name) else None

    def local_hello(self) -> m.HelloMessage:
        head = self.chain.head
        return m.HelloMessage(self.view.fork_version(), b"\x00" * 32, 0, self.name(head.root), head.slot)

    # -- serving -----------------------------------------------------------------------

    def _ok(self, payload: bytes) -> bytes:
        return b"\x00" + frame(payload)

    def _error(self, text: str) -> bytes:
        body = text.encode()
        return b"\x01" + frame(WRAP + body if self.profile.error_container else body)

    def _blocks(self, blocks: list[bytes]) -> bytes:
        if self.profile.chunked:
            return b"".join(self._ok(b) for b in blocks)
        listed = m.encode_block_list(blocks)
        return self._ok(WRAP + listed if self.profile.wraps else listed)

    async def _serve(self, protocol: str, stream) -> None:  # type: ignore[no-untyped-def]
        reader = StreamReader(stream)
        payload = await reader.read_payload(1 << 20)
        self.requests.append((protocol, payload))
        kind = protocol.split("/")[-3]
        if kind == self.profile.hello_name:
            self.hellos.append(m.HelloMessage.decode(payload))
            answer = self._ok(self.local_hello().encode())
        elif kind == "goodbye":
            answer = b""
        elif kind == self.profile.range_name:
            req = m.BeaconBlocksRequest.decode(payload)
            head = self.resolve(req.head_block_root)
            found = [] if head is None else await self.view.blocks_by_range(head, req.start_slot, req.count, req.step)
            answer = self._blocks([b.ssz for b in found or []])  # unknown head: an empty answer, no error
        else:  # by root
            if self.profile.wraps and not payload.startswith(WRAP):
                await stream.reset()  # cannot read the bare form: no answer at all
                return
            body = payload[4:] if self.profile.wraps else payload
            if len(body) % 32:
                answer = self._error("bad root list")
            else:
                names = [body[i:i + 32] for i in range(0, len(body), 32)]
                roots = [self.resolve(n) for n in names]
                found = [self.view._block_bytes(r) if r is not None else None for r in roots]
                answer = self._blocks([b for b in found if b is not None])
        if answer:
            await stream.write(answer)
        await stream.close()

    def _handler(self, protocol: str):  # type: ignore[no-untyped-def]
        async def handle(stream) -> None:  # type: ignore[no-untyped-def]
            try:
                await self._serve(protocol, stream)
            except Exception:
                await stream.reset()

        return handle

    # -- requesting (raw, in its own dialect) -------------------------------------------

    async def request(self, peer_id: ID, kind: str, payload: bytes) -> bytes:
        """Every byte the other side answers to one request."""
        stream = await self.host.libp2p.new_stream(peer_id, [TProtocol(req_protocol(kind))])
        await stream.write(encode_varint(len(payload)) + payload)
        await stream.close_write()
        data = bytearray()
        with trio.move_on_after(10):
            while True:
                try:
                    chunk = await stream.read(65536)
                except Exception:
                    break
                if not chunk:
                    break
                data += chunk
        return bytes(data)

    async def publish_block(self, ssz: bytes) -> None:
        await self.gossip.publish(TOPIC_BEACON_BLOCK, ssz, prevalidated=True)


@asynccontextmanager
async def dialect_peer(workdir: Path, chain: Chain, profile: Profile,
                       static_peers: tuple[str, ...] = ()) -> AsyncIterator[DialectPeer]:
    workdir.mkdir(parents=True, exist_ok=True)
    host = P2PHost.from_datadir(workdir, HostConfig(listen_address="127.0.0.1", port=0, static_peers=static_peers))
    view = ChainAdapter(chain)

    async def accept(topic: str, data: bytes) -> GossipVerdict:
        return GossipVerdict.ACCEPT

    peer: DialectPeer | None = None

    async def on_message(topic: str, data: bytes, origin: ID) -> None:
        assert peer is not None
        peer.gossip_received.append(data)

    gossip = Gossip(host, accept, on_message=on_message, config=GossipConfig(sign_messages=profile.signs_gossip))
    peer = DialectPeer(profile, chain, host, view, gossip)
    for kind in (profile.hello_name, profile.range_name, profile.root_name):
        host.libp2p.set_stream_handler(TProtocol(req_protocol(kind)), peer._handler(req_protocol(kind)))
    host.libp2p.set_stream_handler(TProtocol(GOODBYE_ID), peer._handler(GOODBYE_ID))
    async with host.run():
        async with gossip.run():
            yield peer
