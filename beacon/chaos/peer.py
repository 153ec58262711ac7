"""`pybeacon chaos peer MULTIADDR --attack NAME --rate R --seconds S`: a real libp2p peer
(SecIO, mplex, Hello, gossipsub: beacon.p2p.host and reqresp) that misbehaves on purpose.

Every loop is bounded (rate x seconds actions, at most MAX_ACTIONS, plus a fixed cap on
concurrent work) and only loopback targets are accepted. At the end one JSON line says what
was sent and what the node did about it (Goodbye reasons received, when we were
disconnected, whether redials were refused: a ban).
"""
from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable

import trio

# name -> (what it does, is it an offence the node should punish)
ATTACKS: dict[str, tuple[str, bool]] = {
    "bad-signature-block": ("gossip blocks (valid SSZ, known parent, current slots) whose proposer signature is wrong", True),
    "bad-state-root-block": ("gossip blocks correctly signed by the slot's proposer (interop keys) with a wrong state root", True),
    "invalid-attestation": ("gossip attestations for known blocks with committee bits or signature wrong", True),
    "unknown-root-attestation": ("gossip attestations voting for blocks nobody has (valid but useless: held, never judged)", False),
    "useless-gossip": ("re-gossip old (finalized) and duplicate blocks under fresh message ids", False),
    "oversized-frame": ("req/resp requests declaring a 1 GiB payload", True),
    "garbage-stream": ("random bytes on a negotiated beacon_blocks stream", True),
    "garbage-mplex": ("random bytes on a fresh mplex stream, before multistream-select", True),
    "slow-loris": ("open request streams and trickle one byte per second", True),
    "many-streams": ("open request streams and never write (hundreds at once)", True),
    "million-blocks": ("BeaconBlocks requests for a million blocks from slot 0", False),
}
MAX_ACTIONS = 100_000  # per run, whatever rate x seconds says
MAX_IN_FLIGHT = 512  # concurrent streams/requests we keep open
ONE_GIB = 1 << 30
BAN_CLOSE_WITHIN = 3.0  # a banned peer's reconnect gets Goodbye and is closed well within this

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="chaos_command", metavar="TOOL", required=True)
    p = sub.add_parser("peer", help="connect to a node as an attacker peer",
                       description="connect to a node (loopback only) and misbehave at a given rate")
    p.add_argument("multiaddr", metavar="MULTIADDR", help="/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>")
    p.add_argument("--attack", required=True, choices=sorted(ATTACKS), help="what to do")
    p.add_argument("--rate", type=float, default=1.0, help="actions per second (default 1)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long (default 10)")
    p.add_argument("--genesis", metavar="FILE", required=True, help="the network's genesis state (.ssz/.yaml)")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML overrides of single constants (SECONDS_PER_SLOT)")
    p.add_argument("--preset", default="minimal")


@dataclass
class Outcome:
    attack: str
    rate: float
    seconds: float
    offence: bool
    sent: int = 0  # actions completed (messages published, streams opened, requests answered)
    failed: int = 0  # actions that could not be done (stream refused, connection gone)
    answered: int = 0  # req/resp answers received
    goodbyes: list[int] = field(default_factory=list)  # reasons the node sent us
    disconnected_after: float | None = None  # seconds into the attack
    redials: int = 0  # connections we got again after the first drop (ours or the attack's own dials)
    longest_reconnect: float = 0.0  # seconds the longest of them lasted
    notes: list[str] = field(default_factory=list)

    @property
    def banned(self) -> bool:
        """Dropped, and every reconnect closed again within BAN_CLOSE_WITHIN seconds."""
        return self.disconnected_after is not None and self.longest_reconnect < BAN_CLOSE_WITHIN


def _check_loopback(text: str) -> Any:
    from beacon.p2p.host import parse_peer_multiaddr

    info = parse_peer_multiaddr(text)
    ip = info.addrs[0].value_for_protocol("ip4")
    if not ip.startswith("127."):
        raise ValueError(f"chaos peer only attacks loopback targets (127.0.0.0/8), not {ip}")
    return info


class Attacker:
    def __init__(self, target: str, attack: str, rate: float, seconds: float, genesis: Any, cfg: Any) -> None:
        from beacon.types import get_types

        self.info = _check_loopback(target)
        self.attack = attack
        self.rate = rate
        self.seconds = seconds
        self.genesis = genesis
        self.cfg = cfg
        self.types = get_types(cfg)
        self.outcome = Outcome(attack, rate, seconds, ATTACKS[attack][1])
        self.t0 = 0.0
        self.their_hello: Any = None
        self._lost = trio.Event()

    # -- plumbing ----------------------------------------------------------------------------

    def _genesis_root(self) -> bytes:
        return self.types.BeaconBlock(state_root=self.genesis.hash_tree_root()).signing_root()

    def _hello(self) -> Any:
        from beacon.p2p import messages as m

        if self.their_hello is not None:  # mirror the node: we claim to be exactly as far as it is
            h = self.their_hello
            return m.HelloMessage(h.fork_version, h.finalized_root, h.finalized_epoch, h.head_root, h.head_slot)
        return m.HelloMessage(bytes(self.genesis.fork.current_version), b"\x00" * 32, 0, self._genesis_root(), 0)

    def _install_handlers(self, host: Any) -> None:
        """Answer the node's Hello (re-status) and record its Goodbye, as an honest peer would."""
        from libp2p.custom_types import TProtocol

        from beacon.p2p import messages as m
        from beacon.p2p.constants import GOODBYE_ID, HELLO_IDS
        from beacon.p2p.reqresp import StreamReader, frame

        async def on_hello(stream: Any) -> None:
            try:
                with trio.fail_after(5):
                    await StreamReader(stream).read_payload(m.HelloMessage.SSZ_SIZE)
                    await stream.write(b"\x00" + frame(self._hello().encode()))
                    await stream.close_write()
            except Exception:
                pass

        async def on_goodbye(stream: Any) -> None:
            try:
                with trio.fail_after(5):
                    reason = m.decode_goodbye(await StreamReader(stream).read_payload(8))
                self.outcome.goodbyes.append(reason)
            except Exception:
                self.outcome.goodbyes.append(-1)  # a Goodbye we could not read

        for p in HELLO_IDS:
            host.libp2p.set_stream_handler(TProtocol(p), on_hello)
        host.libp2p.set_stream_handler(TProtocol(GOODBYE_ID), on_goodbye)

    async def _connect(self, host: Any) -> None:
        from beacon.p2p import reqresp

        await host.dial(self.info)
        self.their_hello = await reqresp.send_hello(host.libp2p, self.info.peer_id, self._hello())

    async def _watch(self, host: Any) -> None:
        """Note the moment the node drops us; then keep redialling (once a second) and
        measure how long any later connection survives: a ban closes each at once."""
        while host.is_connected(self.info.peer_id):
            await trio.sleep(0.05)
        if self.outcome.disconnected_after is None:
            self.outcome.disconnected_after = round(time.monotonic() - self.t0, 2)
        self._lost.set()
        since: float | None = None
        last_dial = 0.0

        async def redial() -> None:
            try:
                with trio.move_on_after(3):
                    await host.dial(self.info, attempts=1)
            except Exception:
                pass

        async with trio.open_nursery() as nursery:
            while time.monotonic() - self.t0 < self.seconds:
                now = time.monotonic()
                if host.is_connected(self.info.peer_id):
                    if since is None:
                        since = now
                        self.outcome.redials += 1
                else:
                    if since is not None:
                        self.outcome.longest_reconnect = round(max(self.outcome.longest_reconnect, now - since), 2)
                        since = None
                    if now - last_dial >= 1.0:
                        last_dial = now
                        nursery.start_soon(redial)
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        if since is not None:
            self.outcome.longest_reconnect = round(max(self.outcome.longest_reconnect, time.monotonic() - since), 2)

    async def _paced(self, action: Callable[[int], Awaitable[None]], nursery: trio.Nursery,
                     limit: trio.CapacityLimiter, concurrent: bool) -> None:
        n = min(int(self.rate * self.seconds), MAX_ACTIONS)

        async def one(i: int) -> None:
            async with limit:
                try:
                    await action(i)
                    self.outcome.sent += 1
                except Exception as e:  # the node may have closed on us: count, carry on
                    self.outcome.failed += 1
                    if len(self.outcome.notes) < 5:
                        self.outcome.notes.append(f"{type(e).__name__}: {str(e)[:120]}")

        for i in range(n):
            due = self.t0 + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await trio.sleep(delay)
            if time.monotonic() - self.t0 > self.seconds:
                break
            if concurrent:
                nursery.start_soon(one, i)
            else:
                await one(i)

    # -- payloads ----------------------------------------------------------------------------

    def _is_block(self, data: bytes) -> bool:
        from beacon.ssz import DecodeError, decode

        try:
            decode(self.types.BeaconBlock, data)
            return True
        except DecodeError:
            return False

    async def _blocks(self, host: Any, start: int, count: int) -> list[Any]:
        from beacon.p2p import messages as m
        from beacon.p2p import reqresp
        from beacon.ssz import decode

        h = self.their_hello
        req = m.BeaconBlocksRequest(h.head_root, start, count, 1)
        raw = await reqresp.request_beacon_blocks(host.libp2p, self.info.peer_id, req, self._is_block)
        return [decode(self.types.BeaconBlock, b) for b in raw]

    def _find_proposer(self, block: Any) -> int | None:
        from beacon.crypto import bls
        from beacon.state.misc import compute_domain

        domain = compute_domain(self.cfg.DOMAIN_BEACON_PROPOSER, bytes(self.genesis.fork.current_version))
        root = block.signing_root()
        for i, v in enumerate(self.genesis.validators):
            if bls.verify(bytes(v.pubkey), root, bytes(block.signature), domain):
                return i
        return None

    async def _bad_blocks(self, host: Any, signed: bool, count: int) -> list[bytes]:
        """Siblings of the node's head block: same slot and parent, another state root and
        graffiti (so each is new). Unsigned ones keep the head's signature (a valid point
        over other bytes); signed ones are signed by the head's proposer, whose key is an
        interop key: the node must run the whole transition to find the state root wrong."""
        from beacon.crypto import bls
        from beacon.ssz import encode
        from beacon.state.misc import compute_domain

        head = (await self._blocks(host, self.their_hello.head_slot, 1))[-1]
        privkey = None
        if signed:
            from genesis.keys import interop_privkeys

            proposer = self._find_proposer(head)
            if proposer is None:
                raise RuntimeError("the head block is not signed by an interop key")
            privkey = interop_privkeys(proposer + 1)[proposer]
        domain = compute_domain(self.cfg.DOMAIN_BEACON_PROPOSER, bytes(self.genesis.fork.current_version))
        out = []
        for _ in range(count):
            b = head.copy()
            b.state_root = secrets.token_bytes(32)
            b.body.graffiti = secrets.token_bytes(32)
            if privkey is not None:
                b.signature = bls.sign(b.signing_root(), privkey, domain)
            out.append(encode(b))
        return out

    def _attestation(self, vote: bytes, target_root: bytes, signature: bytes) -> bytes:
        from beacon.ssz import encode

        t = self.types
        spe = self.cfg.SLOTS_PER_EPOCH
        epoch = self.their_hello.head_slot // spe
        bits = [secrets.randbelow(2) == 1 for _ in range(1 + secrets.randbelow(4))]
        att = t.Attestation(
            aggregation_bits=bits,
            data=t.AttestationData(
                beacon_block_root=vote,
                source=t.Checkpoint(epoch=self.their_hello.finalized_epoch, root=self.their_hello.finalized_root),
                target=t.Checkpoint(epoch=epoch, root=target_root),
                crosslink=t.Crosslink(shard=secrets.randbelow(self.cfg.SHARD_COUNT), parent_root=b"\x00" * 32,
                                      start_epoch=0, end_epoch=epoch, data_root=b"\x00" * 32),
            ),
            custody_bits=[False] * len(bits),
            signature=signature,
        )
        return encode(att)

    # -- the attacks ---------------------------------------------------------------------------

    async def run(self) -> Outcome:
        from beacon.p2p.constants import TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK
        from beacon.p2p.gossip import Gossip
        from beacon.p2p.host import HostConfig, P2PHost
        from beacon.p2p.identity import key_pair_from_secret
        from beacon.p2p.interface import GossipVerdict

        host = P2PHost(key_pair_from_secret(secrets.token_bytes(32)),
                       HostConfig(listen_address="127.0.0.1", port=0, dial_attempts=3))
        self._install_handlers(host)

        async def accept_all(topic: str, data: bytes) -> GossipVerdict:
            return GossipVerdict.ACCEPT

        gossip = Gossip(host, accept_all)
        limit = trio.CapacityLimiter(MAX_IN_FLIGHT)
        async with host.run(), gossip.run():
            await self._connect(host)
            action, concurrent = await self._prepare(host, gossip)
            if self.attack in ("bad-signature-block", "bad-state-root-block", "invalid-attestation",
                               "unknown-root-attestation", "useless-gossip"):
                topic = TOPIC_BEACON_ATTESTATION if "attestation" in self.attack else TOPIC_BEACON_BLOCK
                with trio.move_on_after(5):  # the node's subscription must reach us first
                    while self.info.peer_id not in gossip.topic_peers(topic):
                        await trio.sleep(0.1)
                await trio.sleep(1.5)  # a heartbeat: the mesh forms
            self.t0 = time.monotonic()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, host)
                await self._paced(action, nursery, limit, concurrent)
                # Let the last streams run out (slow-loris, many-streams), bounded by the run.
                with trio.move_on_after(max(0.0, self.seconds - (time.monotonic() - self.t0))):
                    await self._lost.wait()
                nursery.cancel_scope.cancel()
        return self.outcome

    async def _prepare(self, host: Any, gossip: Any) -> tuple[Callable[[int], Awaitable[None]], bool]:
        """The action for action number i, and whether actions overlap in time."""
        from libp2p.custom_types import TProtocol

        from beacon.p2p import messages as m
        from beacon.p2p import reqresp
        from beacon.p2p.constants import BEACON_BLOCKS_ID, TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK

        peer = self.info.peer_id
        attack = self.attack
        n = min(int(self.rate * self.seconds), MAX_ACTIONS)

        if attack in ("bad-signature-block", "bad-state-root-block"):
            # BLS signing is slow in Python: a bounded pool, cycled (repeats are cheap to refuse).
            pool = await self._bad_blocks(host, attack == "bad-state-root-block", min(n, 64))

            async def publish_block(i: int) -> None:
                await gossip.publish(TOPIC_BEACON_BLOCK, pool[i % len(pool)])
            return publish_block, False

        if attack in ("invalid-attestation", "unknown-root-attestation"):
            head = (await self._blocks(host, self.their_hello.head_slot, 1))[-1]
            sig = bytes(head.signature)  # a valid G2 point that signs something else
            known = self.their_hello.head_root

            async def publish_att(i: int) -> None:
                if attack == "invalid-attestation":
                    data = self._attestation(known, known, sig)
                else:
                    data = self._attestation(secrets.token_bytes(32), secrets.token_bytes(32), sig)
                await gossip.publish(TOPIC_BEACON_ATTESTATION, data)
            return publish_att, False

        if attack == "useless-gossip":
            from beacon.ssz import encode

            old = [encode(b) for b in await self._blocks(host, 1, 32)]
            if not old:
                raise RuntimeError("the node has no blocks to repeat yet")

            async def publish_old(i: int) -> None:
                await gossip.publish(TOPIC_BEACON_BLOCK, old[i % len(old)])
            return publish_old, False

        async def open_raw(protocol: str) -> Any:
            return await host.libp2p.new_stream(peer, [TProtocol(protocol)])

        if attack == "oversized-frame":
            async def oversized(i: int) -> None:
                stream = await open_raw(BEACON_BLOCKS_ID)
                await stream.write(reqresp.encode_varint(ONE_GIB) + secrets.token_bytes(1024))
                with trio.move_on_after(2):
                    await stream.read(1)
                await stream.reset()
            return oversized, True

        if attack == "garbage-stream":
            async def garbage(i: int) -> None:
                stream = await open_raw(BEACON_BLOCKS_ID)
                await stream.write(secrets.token_bytes(64 + secrets.randbelow(4096)))
                await stream.close_write()
                with trio.move_on_after(2):
                    await stream.read(1)
                await stream.reset()
            return garbage, True

        if attack == "garbage-mplex":
            async def garbage_mplex(i: int) -> None:
                conn = host.connection_to(peer)
                if conn is None:
                    raise ConnectionError("not connected")
                stream = await conn.muxed_conn.open_stream()  # no multistream-select at all
                await stream.write(secrets.token_bytes(64 + secrets.randbelow(4096)))
                with trio.move_on_after(2):
                    await stream.read(1)
                await stream.reset()
            return garbage_mplex, True

        if attack == "slow-loris":
            async def trickle(i: int) -> None:
                stream = await open_raw(BEACON_BLOCKS_ID)
                req = m.BeaconBlocksRequest(self.their_hello.head_root, 0, 1, 1).encode()
                data = reqresp.frame(req)
                for b in data:  # one byte a second: ~57 s for the request
                    await stream.write(bytes([b]))
                    await trio.sleep(1.0)
                    if time.monotonic() - self.t0 > self.seconds:
                        break
                await stream.reset()
            return trickle, True

        if attack == "many-streams":
            async def idle(i: int) -> None:
                stream = await open_raw(BEACON_BLOCKS_ID)
                await trio.sleep(max(0.0, self.seconds - (time.monotonic() - self.t0)))
                await stream.reset()
            return idle, True

        if attack == "million-blocks":
            async def million(i: int) -> None:
                req = m.BeaconBlocksRequest(self.their_hello.head_root, 0, 1_000_000, 1)
                blocks = await reqresp.request_beacon_blocks(host.libp2p, peer, req, self._is_block)
                self.outcome.answered += 1
                if i == 0:
                    self.outcome.notes.append(f"first answer: {len(blocks)} blocks")
            return million, True

        raise ValueError(f"unknown attack {attack}")


def run(args: argparse.Namespace) -> int:
    from beacon.cli import CliError
    from beacon.config import load_config

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    logging.getLogger("beacon.p2p").setLevel(logging.ERROR)
    if args.rate <= 0 or args.seconds <= 0:
        raise CliError("--rate and --seconds must be positive")
    try:
        _check_loopback(args.multiaddr)
    except ValueError as e:
        raise CliError(str(e)) from None
    try:
        cfg = load_config(args.preset, args.config)
    except Exception as e:
        raise CliError(str(e)) from None
    from genesis.load import GenesisLoadError, load_genesis_state

    try:
        genesis = load_genesis_state(args.genesis, cfg)
    except GenesisLoadError as e:
        raise CliError(str(e)) from None
    attacker = Attacker(args.multiaddr, args.attack, args.rate, args.seconds, genesis, cfg)
    try:
        outcome = trio.run(attacker.run)
    except Exception as e:  # could not even start (node unreachable, refused our Hello)
        leaf: BaseException = e
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:  # noqa: F821 - builtin on 3.11
            leaf = leaf.exceptions[0]
        print(json.dumps({"attack": args.attack, "error": f"{type(leaf).__name__}: {leaf}"}), flush=True)
        return 1
    doc = asdict(outcome)
    doc["banned"] = outcome.banned
    print(json.dumps(doc), flush=True)
    return 0


if __name__ == "__main__":
    from beacon.cli import main

    sys.exit(main(["chaos", *sys.argv[1:]]))
