"""Gossipsub /meshsub/1.0.0 with the interop parameters and per-topic validation.

py-libp2p 0.8.1's GossipSub is a v1.1-v2.0 router whose extras change the v1.0
behaviour the profile expects, so they are switched off here: adaptive gossip (it moves
D_low/D_high and stretches the heartbeat to 30-60 s), spam protection (drops more than
10 messages per topic per second from one forwarder - ourselves included), eclipse
protection (grafts extra peers for IP diversity), and peer exchange. D_lazy is not a
parameter at all (the library gossips to max(6, 25% of peers)); InteropGossipSub pins it.

Validation: every topic gets one async validator. Oversized data is rejected before
the chain sees it; otherwise the chain's verdict decides. py-libp2p validators are
boolean, so REJECT and IGNORE both stop forwarding; only REJECT is counted against the
forwarding peer (in our PeerManager; py-libp2p's own scorer counts both).
Message ids are from_id + seqno (pubsub.py get_peer_and_seqno_msg_id), as in 2019 peers.

Signatures: 2019 peers differed (go peers signed and required signatures; Trinity published
unsigned messages). We sign what we publish and accept both: a message that carries a
signature must verify (REJECT otherwise), one without is judged on its content alone.
py-libp2p ties signing to requiring (`Pubsub(strict_signing=...)` does both), so
InteropPubsub runs the library unsigned and signs in its own `publish`.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Sequence

import trio
from contextlib import asynccontextmanager
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub, get_peer_and_seqno_msg_id
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX, signature_validator
from libp2p.tools.anyio_service import background_trio_service

from .constants import (
    ALL_TOPICS,
    GOSSIP_ADVERTISE,
    GOSSIP_D,
    GOSSIP_D_HIGH,
    GOSSIP_D_LAZY,
    GOSSIP_D_LOW,
    GOSSIP_FANOUT_TTL,
    GOSSIP_HEARTBEAT_INTERVAL,
    GOSSIP_HISTORY,
    GOSSIP_MAX_SIZE,
    MESHSUB_ID,
)
from .dialect import Dialects
from .host import P2PHost
from .interface import GossipVerdict

log = logging.getLogger(__name__)

# An RPC frame carries the message plus topic, from, seqno, signature, key and control
# data; leave room for that around one maximum-size `data` when *receiving*.
RPC_FRAME_OVERHEAD = 64 * 1024
# When *sending*, py-libp2p drops (with only a debug log) any RPC frame over 1 MiB
# (pubsub.py creates RpcQueue() with DefaultMaxMessageSize = 1 MiB, gossipsub.py
# send_rpc checks it), as go-libp2p-pubsub does. The envelope around `data` (topic,
# 8-byte seqno, 39-byte from, ~72-byte signature, 37-byte key, protobuf tags) is well
# under this reserve, so publish() refuses what would otherwise vanish silently.
PUBLISH_ENVELOPE_RESERVE = 512

Validator = Callable[[str, bytes], Awaitable[GossipVerdict]]
MessageHandler = Callable[[str, bytes, ID], Awaitable[None]]
InvalidReporter = Callable[[ID, str], None]
# Every verdict on a message from a peer (sync uses IGNOREd blocks to find missing parents).
VerdictObserver = Callable[[ID, str, bytes, GossipVerdict], None]


@dataclass(frozen=True)
class GossipConfig:
    d: int = GOSSIP_D
    d_low: int = GOSSIP_D_LOW
    d_high: int = GOSSIP_D_HIGH
    d_lazy: int = GOSSIP_D_LAZY
    fanout_ttl: int = GOSSIP_FANOUT_TTL
    gossip_advertise: int = GOSSIP_ADVERTISE
    gossip_history: int = GOSSIP_HISTORY
    heartbeat_interval: int = GOSSIP_HEARTBEAT_INTERVAL
    max_size: int = GOSSIP_MAX_SIZE
    topics: Sequence[str] = field(default_factory=lambda: list(ALL_TOPICS))
    # Sign what we publish (go peers of 2019 dropped unsigned messages), and accept
    # unsigned messages (Trinity sent them) unless require_signatures.
    sign_messages: bool = True
    require_signatures: bool = False


class InteropGossipSub(GossipSub):
    """GossipSub with D_lazy as the spec defines it: IHAVE goes to D_lazy peers."""

    d_lazy: int = GOSSIP_D_LAZY

    def _get_adaptive_gossip_peers_count(self, topic: str, total_peers: int) -> int:
        # Overrides gossipsub.py's max(6, 25% of peers) (a v1.1 "gossip factor").
        return min(self.d_lazy, max(total_peers, 0))


# Fail loudly if a library upgrade renames the hook we override.
assert hasattr(GossipSub, "_get_adaptive_gossip_peers_count"), "py-libp2p changed its gossip peer selection"


class InteropPubsub(Pubsub):
    """Pubsub that signs its own messages without requiring signatures on others'
    (the library's strict_signing does both; Gossip checks signatures that are present)."""

    def __init__(self, *args: object, sign_messages: bool = True, **kwargs: object) -> None:
        super().__init__(*args, strict_signing=False, **kwargs)  # type: ignore[arg-type]
        self.sign_messages = sign_messages

    async def publish(self, topic_id: str | list[str], data: bytes) -> None:
        msg = rpc_pb2.Message(
            data=data,
            topicIDs=[topic_id] if isinstance(topic_id, str) else list(topic_id),
            from_id=self.my_id.to_bytes(),
            seqno=self._next_seqno(),
        )
        if self.sign_messages:
            # The signed bytes are the message without key and signature (validators.py).
            payload = PUBSUB_SIGNING_PREFIX.encode() + msg.SerializeToString()
            msg.signature = self.host.get_private_key().sign(payload)
            msg.key = self.host.get_public_key().serialize()
        await self.push_msg(self.my_id, msg)


# Fail loudly if a library upgrade changes what InteropPubsub relies on.
assert hasattr(Pubsub, "_next_seqno") and hasattr(Pubsub, "push_msg"), "py-libp2p changed Pubsub"


def _signature_ok(msg: rpc_pb2.Message) -> bool:
    try:
        return bool(signature_validator(msg))
    except Exception:  # an undecodable key: as bad as a wrong signature
        return False


def make_router(cfg: GossipConfig) -> InteropGossipSub:
    router = InteropGossipSub(
        protocols=[TProtocol(MESHSUB_ID)],  # 1.0 only: no v1.1 scoring/PX/IDONTWANT on the wire
        degree=cfg.d,
        degree_low=cfg.d_low,
        degree_high=cfg.d_high,
        time_to_live=cfg.fanout_ttl,
        gossip_window=cfg.gossip_advertise,
        gossip_history=cfg.gossip_history,
        heartbeat_interval=cfg.heartbeat_interval,  # library default is 120 s
        do_px=False,
        adaptive_gossip_enabled=False,
        spam_protection_enabled=False,
        eclipse_protection_enabled=False,
    )
    router.d_lazy = cfg.d_lazy
    return router


class Gossip:
    """Subscribes to the interop topics, validates, delivers and publishes."""

    def __init__(
        self,
        host: P2PHost,
        validator: Validator,
        on_message: MessageHandler | None = None,
        on_invalid: InvalidReporter | None = None,
        config: GossipConfig | None = None,
        on_verdict: VerdictObserver | None = None,
        dialects: Dialects | None = None,
    ) -> None:
        self.host = host
        self.config = config or GossipConfig()
        self.validator = validator
        self.on_message = on_message
        self.on_invalid = on_invalid
        self.on_verdict = on_verdict
        self.dialects = dialects or Dialects()
        # Digests of our own payloads already validated by the caller (publish(...,
        # prevalidated=True)): py-libp2p runs validators on our publications too, and a
        # block we just imported would otherwise be IGNOREd as "seen" and never sent.
        self._prevalidated: set[bytes] = set()
        self.router = make_router(self.config)
        self.pubsub = InteropPubsub(
            host.libp2p,
            self.router,
            sign_messages=self.config.sign_messages,
            msg_id_constructor=get_peer_and_seqno_msg_id,
            max_inbound_rpc_size=self.config.max_size + RPC_FRAME_OVERHEAD,
            allowed_topics=None,
        )
        self.rejected: dict[str, int] = {}  # per topic, for metrics and tests
        self.unsigned = 0  # messages accepted without a signature (the Trinity dialect)
        self.delivered: dict[str, int] = {}
        for topic in self.config.topics:
            self.pubsub.set_topic_validator(topic, self._make_validator(topic), is_async_validator=True)

    def _make_validator(self, topic: str) -> Callable[[ID, rpc_pb2.Message], Awaitable[bool]]:
        async def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            own = forwarder == self.host.peer_id
            if own and hashlib.sha256(msg.data).digest() in self._prevalidated:
                return True
            if not own:
                signed = bool(msg.signature)
                self.dialects.of(ID(msg.from_id)).signs_gossip = signed
                if not signed:
                    self.unsigned += 1
            if not own and msg.signature and not _signature_ok(msg):
                log.debug("gossip on %s from %s: signature does not verify", topic, forwarder)
                verdict = GossipVerdict.REJECT
            elif not own and not msg.signature and self.config.require_signatures:
                verdict = GossipVerdict.IGNORE  # a dialect, not an offence: just not taken
            elif len(msg.data) > self.config.max_size:
                verdict = GossipVerdict.REJECT
            else:
                try:
                    verdict = await self.validator(topic, msg.data)
                except Exception:
                    # A crash in our own validation is not the peer's fault: drop quietly.
                    log.exception("gossip validator for %s failed", topic)
                    verdict = GossipVerdict.IGNORE
            if verdict is GossipVerdict.REJECT:
                self.rejected[topic] = self.rejected.get(topic, 0) + 1
                if not own and self.on_invalid is not None:
                    self.on_invalid(forwarder, topic)
                log.debug("rejected gossip on %s from %s", topic, forwarder)
            if not own and self.on_verdict is not None:
                try:
                    self.on_verdict(forwarder, topic, msg.data, verdict)
                except Exception:
                    log.exception("gossip verdict observer failed")
            return verdict is GossipVerdict.ACCEPT

        return validate

    @asynccontextmanager
    async def run(self) -> AsyncIterator["Gossip"]:
        async with background_trio_service(self.pubsub):
            async with background_trio_service(self.router):
                await self.pubsub.wait_until_ready()
                async with trio.open_nursery() as nursery:
                    for topic in self.config.topics:
                        subscription = await self.pubsub.subscribe(topic)
                        nursery.start_soon(self._deliver, topic, subscription)
                    try:
                        yield self
                    finally:
                        nursery.cancel_scope.cancel()

    async def _deliver(self, topic: str, subscription: object) -> None:
        # Only validated messages reach a subscription (pubsub.py push_msg).
        while True:
            msg: rpc_pb2.Message = await subscription.get()  # type: ignore[attr-defined]
            self.delivered[topic] = self.delivered.get(topic, 0) + 1
            if self.on_message is not None:
                try:
                    await self.on_message(topic, msg.data, ID(msg.from_id))
                except Exception:
                    log.exception("gossip handler for %s failed", topic)

    async def publish(self, topic: str, data: bytes, prevalidated: bool = False) -> None:
        """Publish SSZ bytes; the spec forbids emitting more than GOSSIP_MAX_SIZE, and
        the library cannot emit a frame over 1 MiB (see PUBLISH_ENVELOPE_RESERVE).
        `prevalidated`: the caller has validated (and imported) it; skip our validator."""
        if topic not in self.config.topics:
            raise ValueError(f"not an interop topic: {topic}")
        limit = self.config.max_size - PUBLISH_ENVELOPE_RESERVE
        if len(data) > limit:
            raise ValueError(f"gossip payload of {len(data)} bytes exceeds the publishable {limit}")
        digest = hashlib.sha256(data).digest()
        if prevalidated:
            self._prevalidated.add(digest)
        try:
            await self.pubsub.publish(topic, data)
        finally:
            self._prevalidated.discard(digest)

    def mesh_peers(self, topic: str) -> set[ID]:
        return set(self.router.mesh.get(topic, set()))

    def topic_peers(self, topic: str) -> set[ID]:
        return set(self.pubsub.peer_topics.get(topic, set()))
