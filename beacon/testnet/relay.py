"""TCP relays on static-peer links: latency, jitter, bandwidth, connection resets and cuts.

Why a relay of our own: this kernel and CI's lack sch_netem, so `tc netem` cannot shape a link;
toxiproxy (the usual tool) is neither in Debian's archive nor on PyPI as a server, and Go is not
installed to build it. A relay needs no privileges either, so the same shaping works on
127.0.0.1 ports and between network namespaces. It works on the byte stream, not on packets:
it delays and paces bytes and can reset connections, but it cannot drop a packet (TCP would
retransmit it anyway); packet loss is nftables' job (beacon/testnet/faults.py).

A dialer is given the relay's address instead of the listener's. Each accepted connection gets
its own connection to the listener and two pumps, one per direction; a direction is shaped by
the sending node's link (like netem on the sender's egress). One asyncio loop in a daemon
thread carries every relay of a run; the harness controls it from its own thread.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import socket
import struct
import threading
from typing import Callable

log = logging.getLogger("beacon.testnet.relay")

CHUNK = 16384  # read size; also the bandwidth pacing unit
QUEUE_CHUNKS = 64  # per direction: at most ~1 MiB in flight inside the relay before it stops reading

Listener = Callable[[], socket.socket]  # makes the (bound, listening) socket the dialer reaches
Connector = Callable[[], socket.socket]  # opens a connection to the real listener


@dataclasses.dataclass(frozen=True)
class Shaping:
    """What one direction of a link undergoes (the sending node's `link:`)."""
    latency_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform in [-jitter, +jitter] around latency, never below 0
    bandwidth_kbps: float = 0.0  # kbit/s; 0 = unlimited
    resets_per_min: float = 0.0  # each connection is reset (RST) at this Poisson rate

    def delay(self, rng: random.Random) -> float:
        d = self.latency_ms + (rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0)
        return max(0.0, d) / 1000.0

    def active(self) -> bool:
        return bool(self.latency_ms or self.jitter_ms or self.bandwidth_kbps or self.resets_per_min)

    def describe(self) -> str:
        parts = []
        if self.latency_ms or self.jitter_ms:
            parts.append(f"delay {self.latency_ms:g} ms" + (f" ±{self.jitter_ms:g} ms" if self.jitter_ms else ""))
        if self.bandwidth_kbps:
            parts.append(f"{self.bandwidth_kbps:g} kbit/s")
        if self.resets_per_min:
            parts.append(f"{self.resets_per_min:g} resets/min")
        return ", ".join(parts) or "unshaped"


@dataclasses.dataclass
class RelayStats:
    accepted: int = 0
    refused: int = 0  # accepted while cut: reset at once
    resets: int = 0  # connections reset by the reset rate
    cut: int = 0  # connections reset when the link was cut
    bytes_up: int = 0  # dialer -> listener
    bytes_down: int = 0


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a middlebox dropping the connection would."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Relay:
    """One link: dialer -> relay -> listener. `up` shapes dialer->listener, `down` the reverse."""

    def __init__(self, name: str, listener: Listener, connector: Connector, up: Shaping, down: Shaping,
                 seed: int = 0) -> None:
        self.name = name
        self._make_listener = listener
        self._connect = connector
        self.up, self.down = up, down
        self.stats = RelayStats()
        self.cut = False
        self.port = 0
        self._rng = random.Random(seed)
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()

    async def start(self) -> None:
        sock = self._make_listener()
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._handle, sock=sock)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for a, b in list(self._conns):
            _abort(a)
            if b is not None:
                _abort(b)

    def set_cut(self, cut: bool) -> None:
        """Cut: every open connection is reset and new ones are reset on arrival (until healed)."""
        self.cut = cut
        if cut:
            for a, b in list(self._conns):
                self.stats.cut += 1
                _abort(a)
                if b is not None:
                    _abort(b)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # The hub is closing. Ending normally keeps asyncio's server callback from logging
            # the cancellation as an error.
            _abort(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            self.stats.refused += 1
            _abort(writer)
            return
        self.stats.accepted += 1
        entry: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._conns.add(entry)
        loop = asyncio.get_running_loop()
        try:
            sock = await loop.run_in_executor(None, self._connect)
        except OSError as e:
            log.debug("relay %s: listener unreachable: %s", self.name, e)
            self._conns.discard(entry)
            _abort(writer)
            return
        try:
            r2, w2 = await asyncio.open_connection(sock=sock)
        except OSError:
            sock.close()
            self._conns.discard(entry)
            _abort(writer)
            return
        self._conns.discard(entry)
        entry = (writer, w2)
        self._conns.add(entry)
        if self.cut:  # cut while we were connecting
            self._conns.discard(entry)
            _abort(writer)
            _abort(w2)
            return
        tasks = [asyncio.ensure_future(self._pump(reader, w2, self.up, "bytes_up")),
                 asyncio.ensure_future(self._pump(r2, writer, self.down, "bytes_down"))]
        rate = self.up.resets_per_min + self.down.resets_per_min
        if rate > 0:
            tasks.append(asyncio.ensure_future(self._reset_later(writer, w2, rate)))
        try:
            await asyncio.wait(tasks[:2], return_when=asyncio.ALL_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            self._conns.discard(entry)
            writer.close()
            w2.close()

    async def _reset_later(self, a: asyncio.StreamWriter, b: asyncio.StreamWriter, per_min: float) -> None:
        await asyncio.sleep(self._rng.expovariate(per_min / 60.0))
        self.stats.resets += 1
        _abort(a)
        _abort(b)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, shaping: Shaping,
                    counter: str) -> None:
        """Bytes in, each chunk due at arrival + its delay (never before the previous one: TCP keeps
        order), paced by a token bucket, out. EOF is passed on as a half-close."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)

        async def read_side() -> None:
            last_due = 0.0
            try:
                while data := await reader.read(CHUNK):
                    due = max(loop.time() + shaping.delay(self._rng), last_due)
                    last_due = due
                    await queue.put((due, data))
            except OSError:
                pass
            await queue.put(None)

        async def write_side() -> None:
            rate = shaping.bandwidth_kbps * 1000 / 8  # bytes per second
            burst = max(4096.0, rate * 0.02)  # a 20 ms burst at most
            tokens, stamp = burst, loop.time()
            try:
                while (item := await queue.get()) is not None:
                    due, data = item
                    if (wait := due - loop.time()) > 0:
                        await asyncio.sleep(wait)
                    if rate <= 0:
                        writer.write(data)
                    else:
                        for i in range(0, len(data), 4096):
                            piece = data[i:i + 4096]
                            now = loop.time()
                            tokens, stamp = min(burst, tokens + (now - stamp) * rate), now
                            if tokens < len(piece):
                                await asyncio.sleep((len(piece) - tokens) / rate)
                                now = loop.time()
                                tokens, stamp = min(burst, tokens + (now - stamp) * rate), now
                            tokens -= len(piece)
                            writer.write(piece)
                            await writer.drain()
                    setattr(self.stats, counter, getattr(self.stats, counter) + len(data))
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, RuntimeError):
                pass  # the other side went away (or was reset): the connection ends

        await asyncio.gather(read_side(), write_side())


class RelayHub:
    """Every relay of one run on one asyncio loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.relays: dict[str, Relay] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="testnet-relays", daemon=True)
        self._thread.start()

    def _call(self, coro, timeout: float = 30.0):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add(self, relay: Relay) -> int:
        """Start a relay; returns the port it listens on."""
        self._call(relay.start())
        self.relays[relay.name] = relay
        return relay.port

    def set_cut(self, names: set[str], cut: bool) -> None:
        async def apply() -> None:
            for name in names:
                self.relays[name].set_cut(cut)
        self._call(apply())

    def close(self) -> None:
        if not self.loop.is_running():
            return

        async def stop_all() -> None:
            for r in self.relays.values():
                await r.stop()
            # Let the aborted connections' handlers end, so that no task dies pending with the loop.
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        try:
            self._call(stop_all(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


def loopback_listener(avoid: frozenset[int] = frozenset()) -> socket.socket:
    """A listening socket on a free 127.0.0.1 port, none of `avoid` (ports handed out to nodes
    that may not have bound them yet)."""
    for _ in range(100):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        if sock.getsockname()[1] not in avoid:
            sock.listen(64)
            return sock
        sock.close()
    raise OSError("no free 127.0.0.1 port outside the nodes' ports")


def tcp_connector(host: str, port: int, timeout: float = 5.0) -> Connector:
    return lambda: socket.create_connection((host, port), timeout=timeout)
