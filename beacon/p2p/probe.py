"""`pybeacon probe MULTIADDR [--genesis g.ssz] [--timeout S]`: dial any interop client and
check each step of the wire protocol, printing PASS/FAIL per step.

Steps: TCP connect; multistream-select offering /secio/1.0.0 (raw bytes, on a separate
connection); SecIO handshake (peer id checked); mplex negotiated; Hello sent and the
peer's Hello received (its fields printed); BeaconBlocks for the last slots up to its
head; RecentBeaconBlocks for its head root; gossip: the peer subscribes to the interop
topics and some message arrives within one slot (+1 s for the mesh to form); Goodbye(1).
On failure the bytes seen (hex, truncated) and the error are printed. Exit status 0 only
if every step passes.

Without --genesis we do not know the network's fork version: our first Hello carries the
genesis fork version 0x00000000 and zero roots; if the peer answers with another fork
version (and hangs up), we reconnect and send a Hello that mirrors the peer's. The probe
says which it did.
"""
from __future__ import annotations

import argparse
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import trio

MULTISTREAM = b"/multistream/1.0.0\n"
HEX_LIMIT = 64  # bytes of raw data shown on a failure
GOSSIP_MARGIN = 1.0  # s on top of one slot: the mesh forms on the 1 s heartbeat


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("multiaddr", metavar="MULTIADDR", help="/ip4/<ip>/tcp/<port>/p2p/<peer id>")
    parser.add_argument("--genesis", metavar="FILE", help="genesis state (.ssz/.yaml): our Hello and the slot time come from it")
    parser.add_argument("--preset", default="minimal", help="constants preset for decoding blocks (default minimal)")
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML overrides of single constants (e.g. SECONDS_PER_SLOT)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="timeout per step in seconds (default 10)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show py-libp2p's own log messages")


def _hex(data: bytes) -> str:
    if not data:
        return "(no bytes)"
    shown = data[:HEX_LIMIT].hex()
    return f"{shown}{'...' if len(data) > HEX_LIMIT else ''} ({len(data)} bytes)"


class StepFailed(Exception):
    def __init__(self, message: str, seen: bytes | None = None) -> None:
        super().__init__(message)
        self.seen = seen


@dataclass
class Report:
    results: list[tuple[str, bool]] = field(default_factory=list)

    def passed(self, step: str, detail: str) -> None:
        self.results.append((step, True))
        print(f"PASS  {step:<22} {detail}", flush=True)

    def failed(self, step: str, error: str, seen: bytes | None = None) -> None:
        self.results.append((step, False))
        print(f"FAIL  {step:<22} {error}", flush=True)
        if seen is not None:
            print(f"      bytes seen: {_hex(seen)}", flush=True)

    def skipped(self, step: str, why: str) -> None:
        self.results.append((step, False))
        print(f"SKIP  {step:<22} {why}", flush=True)

    def note(self, text: str) -> None:
        print(f"      {text}", flush=True)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(ok for _, ok in self.results)


# -- raw multistream check -------------------------------------------------------------


def _varint(n: int) -> bytes:
    from .reqresp import encode_varint

    return encode_varint(n)


async def _read_ms_message(stream: trio.SocketStream, buf: bytearray) -> bytes:
    """One varint-length-prefixed multistream message (including its '\\n')."""
    while True:
        length, used = 0, 0
        for i, byte in enumerate(buf[:10]):
            length |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                used = i + 1
                break
        if used and len(buf) >= used + length:
            msg = bytes(buf[used:used + length])
            del buf[:used + length]
            return msg
        chunk = await stream.receive_some(4096)
        if not chunk:
            raise StepFailed("connection closed during multistream negotiation", bytes(buf))
        buf += chunk


async def check_multistream(ip: str, port: int, protocol: str, timeout: float) -> tuple[float, bytes]:
    """TCP connect, then multistream-select for `protocol`; returns (connect ms, bytes seen)."""
    t0 = time.perf_counter()
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream(ip, port)
    connect_ms = (time.perf_counter() - t0) * 1e3
    seen = bytearray()
    buf = bytearray()
    try:
        with trio.fail_after(timeout):
            proposal = (protocol + "\n").encode()
            await stream.send_all(_varint(len(MULTISTREAM)) + MULTISTREAM + _varint(len(proposal)) + proposal)
            header = await _read_ms_message(stream, buf)
            seen += header
            if header != MULTISTREAM:
                raise StepFailed(f"expected {MULTISTREAM!r}, got {header!r}", bytes(seen))
            answer = await _read_ms_message(stream, buf)
            seen += answer
            if answer != proposal:
                raise StepFailed(f"peer does not accept {protocol}: answered {answer!r}", bytes(seen))
    except trio.TooSlowError:
        raise StepFailed(f"no multistream answer within {timeout:.0f} s", bytes(seen + buf)) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
        raise StepFailed(f"connection failed during multistream negotiation: {e}", bytes(seen + buf)) from None
    finally:
        await stream.aclose()
    return connect_ms, bytes(seen)


# -- the probe ---------------------------------------------------------------------------


class Probe:
    def __init__(self, target: str, genesis: Any | None, cfg: Any, timeout: float) -> None:
        from beacon.types import get_types

        from .host import parse_peer_multiaddr

        self.target = target
        self.info = parse_peer_multiaddr(target)
        self.genesis = genesis
        self.cfg = cfg
        self.types = get_types(cfg)
        self.timeout = timeout
        self.report = Report()
        self.gossip_messages: list[tuple[str, int, float]] = []
        self.their_hello: Any = None

    def _ip_port(self) -> tuple[str, int]:
        addr = self.info.addrs[0]
        return addr.value_for_protocol("ip4"), int(addr.value_for_protocol("tcp"))

    async def step(self, name: str, fn: Callable[[], Awaitable[str]]) -> bool:
        try:
            with trio.fail_after(self.timeout):
                detail = await fn()
        except StepFailed as e:
            self.report.failed(name, str(e), e.seen if e.seen is not None else b"")
            return False
        except trio.TooSlowError:
            self.report.failed(name, f"timed out after {self.timeout:.0f} s")
            return False
        except Exception as e:
            from .host import _cause_chain

            seen = getattr(e, "seen", None)
            self.report.failed(name, _cause_chain(e), seen)
            return False
        self.report.passed(name, detail)
        return True

    def our_hello(self) -> Any:
        from . import messages as m

        if self.genesis is not None:
            genesis_root = self.types.BeaconBlock(state_root=self.genesis.hash_tree_root()).signing_root()
            return m.HelloMessage(bytes(self.genesis.fork.current_version), b"\x00" * 32, 0, genesis_root, 0)
        return m.HelloMessage(b"\x00" * 4, b"\x00" * 32, 0, b"\x00" * 32, 0)

    async def run(self) -> int:
        from libp2p.peer.id import ID

        from . import reqresp
        from .constants import MPLEX_ID, SECIO_ID, TOPIC_BEACON_BLOCK
        from .gossip import Gossip
        from .host import HostConfig, P2PHost, negotiated_protocols
        from .identity import key_pair_from_secret
        from .interface import GossipVerdict

        ip, port = self._ip_port()
        rep = self.report
        print(f"probing {self.target}", flush=True)
        if self.genesis is None:
            rep.note("no --genesis: our Hello starts with fork version 0x00000000 and zero roots; "
                     "the peer's Hello decides the rest")

        async def tcp() -> str:
            t0 = time.perf_counter()
            stream = await trio.open_tcp_stream(ip, port)
            ms = (time.perf_counter() - t0) * 1e3
            await stream.aclose()
            return f"{ip}:{port} in {ms:.1f} ms"

        if not await self.step("tcp connect", tcp):
            self._skip_rest("no connection")
            return 1

        async def multistream() -> str:
            _ms, seen = await check_multistream(ip, port, SECIO_ID, self.timeout)
            return f"{MULTISTREAM.decode().strip()} and {SECIO_ID} accepted (own connection): {_hex(seen)}"

        await self.step("multistream", multistream)

        host = P2PHost(key_pair_from_secret(secrets.token_bytes(32)), HostConfig(listen_address="127.0.0.1", port=0, dial_attempts=2))

        async def accept_all(topic: str, data: bytes) -> GossipVerdict:
            return GossipVerdict.ACCEPT

        started = time.monotonic()

        async def on_message(topic: str, data: bytes, origin: ID) -> None:
            self.gossip_messages.append((topic, len(data), time.monotonic() - started))

        gossip = Gossip(host, accept_all, on_message=on_message)
        async with host.run(), gossip.run():
            conn_box: list[Any] = []

            async def secio() -> str:
                conn_box.append(await host.dial(self.info))
                remote = conn_box[0].muxed_conn.peer_id
                if remote != self.info.peer_id:
                    raise StepFailed(f"peer id {remote} is not the one dialled")
                sec, _mux = negotiated_protocols(conn_box[0])
                if sec != SECIO_ID:
                    raise StepFailed(f"negotiated security {sec!r}, not {SECIO_ID}")
                return f"{SECIO_ID} with {remote}"

            if not await self.step("secio", secio):
                self._skip_rest("no secure channel")
                return 1

            async def mplex() -> str:
                _sec, mux = negotiated_protocols(conn_box[0])
                if mux != MPLEX_ID:
                    raise StepFailed(f"negotiated muxer {mux!r}, not {MPLEX_ID}")
                return MPLEX_ID

            await self.step("mplex", mplex)

            async def hello() -> str:
                ours = self.our_hello()
                theirs = await self._hello(host, ours)
                if self.genesis is None and theirs.fork_version != ours.fork_version:
                    rep.note(f"peer's fork version is 0x{theirs.fork_version.hex()}; reconnecting with a Hello "
                             "that mirrors the peer's")
                    await self._redial(host)
                    theirs = await self._hello(host, theirs)
                elif self.genesis is None:
                    rep.note("fork version 0x00000000 accepted; using the peer's Hello for the following steps")
                self.their_hello = theirs
                return ("fork_version=0x{} finalized_root=0x{} finalized_epoch={} head_root=0x{} head_slot={}"
                        .format(theirs.fork_version.hex(), theirs.finalized_root.hex(), theirs.finalized_epoch,
                                theirs.head_root.hex(), theirs.head_slot))

            if not await self.step("hello", hello):
                self._skip_rest("no Hello")
                return 1
            h = self.their_hello

            async def beacon_blocks() -> str:
                from . import messages as m
                from .constants import BLOCKS_BY_RANGE_IDS

                start = max(0, h.head_slot - 7)
                count = h.head_slot - start + 1
                req = m.BeaconBlocksRequest(h.head_root, start, count, 1)
                protocol, chunks, raw = await self._raw_request(host, BLOCKS_BY_RANGE_IDS, req.encode())
                blocks, how = self._decode_blocks(chunks, count, raw)
                slots = [int(b.slot) for b in blocks]
                if any(not start <= s < start + count for s in slots) or slots != sorted(set(slots)):
                    raise StepFailed(f"slots {slots} not increasing inside {start}..{start + count - 1}", raw)
                if h.head_slot > 0 and (not blocks or h.head_root not in self._names(blocks[-1])):
                    raise StepFailed("the answer does not end with the head block the peer's Hello names", raw)
                return f"{protocol.split('/')[-3]}, {how}, start_slot={start} count={count}: {len(blocks)} blocks, slots {slots}"

            await self.step("beacon_blocks", beacon_blocks)

            async def recent() -> str:
                from . import messages as m
                from .constants import BLOCKS_BY_ROOT_IDS

                bare = m.encode_recent_beacon_blocks_request([h.head_root])
                try:
                    protocol, chunks, raw = await self._raw_request(host, BLOCKS_BY_ROOT_IDS, bare)
                    wrapped_request = ""
                except StepFailed as e:
                    if e.seen:
                        raise
                    # No answer at all: some 2019 peers only read the request in a container.
                    protocol, chunks, raw = await self._raw_request(host, BLOCKS_BY_ROOT_IDS, m.wrap_single_field(bare))
                    wrapped_request = ", request sent wrapped in a container (the bare list got no answer)"
                blocks, how = self._decode_blocks(chunks, 1, raw)
                if len(blocks) != 1 or h.head_root not in self._names(blocks[0]):
                    raise StepFailed("expected exactly the head block", raw)
                return (f"{protocol.split('/')[-3]}, {how}{wrapped_request}: head block 0x{h.head_root.hex()[:16]} "
                        f"at slot {blocks[0].slot}")

            await self.step("recent_beacon_blocks", recent)

            async def subscription() -> str:
                while self.info.peer_id not in gossip.topic_peers(TOPIC_BEACON_BLOCK):
                    await trio.sleep(0.05)
                topics = [t for t in gossip.config.topics if self.info.peer_id in gossip.topic_peers(t)]
                return f"peer subscribed to {len(topics)} topics: {', '.join(topics)}"

            await self.step("gossip subscription", subscription)

            wait = self.cfg.SECONDS_PER_SLOT + GOSSIP_MARGIN

            async def message() -> str:
                t0 = time.monotonic()
                with trio.move_on_after(wait):
                    while not self.gossip_messages:
                        await trio.sleep(0.05)
                if not self.gossip_messages:
                    raise StepFailed(f"no gossip message within one slot ({self.cfg.SECONDS_PER_SLOT} s + {GOSSIP_MARGIN:.0f} s)")
                topic, size, _at = self.gossip_messages[0]
                return f"{topic}: {size} bytes after {time.monotonic() - t0:.1f} s of waiting"

            # this step has its own deadline (one slot), longer than --timeout may be
            saved, self.timeout = self.timeout, max(self.timeout, wait + 1)
            await self.step("gossip message", message)
            self.timeout = saved

            async def goodbye() -> str:
                from . import messages as m

                await reqresp.send_goodbye(host.libp2p, self.info.peer_id, m.GoodbyeReason.CLIENT_SHUTDOWN)
                with trio.move_on_after(3):
                    while host.is_connected(self.info.peer_id):
                        await trio.sleep(0.05)
                closed = not host.is_connected(self.info.peer_id)
                await host.disconnect(self.info.peer_id)
                return "reason 1 (client shutdown) sent; " + ("the peer closed the connection" if closed else "we closed the connection")

            await self.step("goodbye", goodbye)
        ok = rep.ok
        print(f"{'all steps passed' if ok else 'some steps failed'} ({sum(1 for _, p in rep.results if p)}/{len(rep.results)})", flush=True)
        return 0 if ok else 1

    def _skip_rest(self, why: str) -> None:
        for name in ("multistream", "secio", "mplex", "hello", "beacon_blocks", "recent_beacon_blocks", "gossip subscription",
                     "gossip message", "goodbye"):
            if name not in {n for n, _ in self.report.results}:
                self.report.skipped(name, why)
        print("some steps failed", flush=True)

    async def _hello(self, host: Any, ours: Any) -> Any:
        from . import messages as m
        from .constants import HELLO_IDS

        _protocol, chunks, raw = await self._raw_request(host, HELLO_IDS, ours.encode())
        try:
            return m.HelloMessage.decode(chunks[0])
        except m.DecodeError as e:
            raise StepFailed(f"Hello answer does not decode: {e}", raw) from None

    async def _redial(self, host: Any) -> None:
        with trio.move_on_after(3):  # the peer says Goodbye(2) and hangs up
            while host.is_connected(self.info.peer_id):
                await trio.sleep(0.05)
        if host.is_connected(self.info.peer_id):
            await host.disconnect(self.info.peer_id)
        await host.dial(self.info)

    async def _raw_request(self, host: Any, protocols: tuple[str, ...], payload: bytes) -> tuple[str, list[bytes], bytes]:
        """One request, offering every name of it; returns the protocol the peer chose,
        the payloads of its success chunks and every byte it sent, or raises StepFailed
        with those bytes (so a failure shows exactly what came back)."""
        from libp2p.custom_types import TProtocol
        from libp2p.network.stream.exceptions import StreamEOF, StreamError

        from . import messages as m
        from .constants import REQ_RESP_MAX_SIZE
        from .reqresp import decode_varint, frame

        try:
            stream = await host.libp2p.new_stream(self.info.peer_id, [TProtocol(p) for p in protocols])
        except Exception as e:
            raise StepFailed(f"none of {', '.join(protocols)} negotiated: {e}") from None
        protocol = str(stream.get_protocol() or protocols[0])
        data = bytearray()
        try:
            await stream.write(frame(payload))
            await stream.close_write()
            while len(data) <= REQ_RESP_MAX_SIZE + 16:
                try:
                    chunk = await stream.read(65536)
                except StreamEOF:
                    break
                except StreamError as e:
                    raise StepFailed(f"{protocol}: stream failed: {e!r}", bytes(data)) from None
                if not chunk:
                    break
                data += chunk
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await stream.close()
                except Exception:
                    pass
        raw = bytes(data)
        if not raw:
            raise StepFailed(f"{protocol}: no response bytes", raw)
        chunks, at = [], 0
        while at < len(raw):  # result | varint length | payload, once per response_chunk
            code = raw[at]
            try:
                length, used = decode_varint(raw[at + 1:])
            except Exception as e:
                raise StepFailed(f"{protocol}: result {code}, bad length prefix: {e}", raw) from None
            body = raw[at + 1 + used:at + 1 + used + length]
            if len(body) != length:
                raise StepFailed(f"{protocol}: declared {length} payload bytes, got {len(body)}", raw)
            if code != 0:
                raise StepFailed(f"{protocol}: result {code}: {m.decode_error_message(body)!r}", raw)
            chunks.append(body)
            at += 1 + used + length
        return protocol, chunks, raw

    def _names(self, block: Any) -> set[bytes]:
        """A block's signing_root (v0.8.3) and hash_tree_root (some peers' name for it)."""
        return {bytes(block.signing_root()), bytes(block.hash_tree_root())}

    def _decode_blocks(self, chunks: list[bytes], max_count: int, raw: bytes) -> tuple[list[Any], str]:
        """The blocks of a response however it was framed, and how it was framed."""
        from beacon.ssz import DecodeError, decode

        from . import messages as m

        def is_block(b: bytes) -> bool:
            try:
                decode(self.types.BeaconBlock, b)
                return True
            except DecodeError:
                return False

        items: list[bytes] = []
        wrapped = False
        try:
            for chunk in chunks:
                got, w = m.decode_block_payload(chunk, is_block, max_count)
                items += got
                wrapped = wrapped or w
            blocks = [decode(self.types.BeaconBlock, item) for item in items]
        except DecodeError as e:
            raise StepFailed(f"block list does not decode: {e}", raw) from None
        if len(chunks) > 1 or (chunks and len(items) == 1 and is_block(chunks[0])):
            how = f"{len(chunks)} chunks (one block each)"
        else:
            how = "one SSZ list in a container (not v0.8.3)" if wrapped else "one SSZ list"
        return blocks, how


def run(args: argparse.Namespace) -> int:
    import logging

    from beacon.cli import CliError

    from .host import parse_peer_multiaddr  # imports libp2p, which sets up its loggers

    # The report is the output; py-libp2p's own warnings about the same failures only
    # repeat it less clearly (shown with --verbose).
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("libp2p").setLevel(logging.CRITICAL)
        logging.getLogger("beacon.p2p").setLevel(logging.ERROR)
    from beacon.config import load_config

    try:
        parse_peer_multiaddr(args.multiaddr)
    except ValueError as e:
        raise CliError(str(e)) from None
    genesis = None
    try:
        cfg = load_config(args.preset, args.config)
    except Exception as e:
        raise CliError(str(e)) from None
    if args.genesis:
        from genesis.load import GenesisLoadError, load_genesis_state

        try:
            genesis = load_genesis_state(args.genesis, cfg)
        except GenesisLoadError as e:
            raise CliError(str(e)) from None
    probe = Probe(args.multiaddr, genesis, cfg, args.timeout)
    return trio.run(probe.run)


if __name__ == "__main__":
    from beacon.cli import main

    sys.exit(main(["probe", *sys.argv[1:]]))
