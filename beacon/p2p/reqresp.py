"""Req/Resp framing and handlers (eth2.0-specs v0.8.3 p2p-interface.md, "The Req/Resp
domain", `ssz` encoding).

One stream per request. Request:  varint(len) | payload, then the requester closes its
write side. Response: result byte | varint(len) | payload, then the responder closes.
Lengths are unsigned protobuf varints. A declared length above the limit for that
message is rejected as soon as the varint is read, before any payload byte is read or
buffer allocated for it; the stream is then reset (the spec's SHOULD).

Payloads cross into this module as raw SSZ bytes; `beacon.p2p.messages` encodes the
small request types, and block payloads go to and from the chain untouched.

Half-close on py-libp2p 0.8.1 mplex: `NetStream.close_write()` calls
`MplexStream.close()`, which sends mplex CloseInitiator/CloseReceiver (a half-close: the
read side stays open, mplex_stream.py `close`). `NetStream.close()` sends the same
frame but also marks the stream CLOSE_BOTH and unregisters it, so a requester must use
close_write() and keep reading. A read after the remote's Close raises StreamEOF.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol, Sequence

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF, StreamError
from libp2p.peer.id import ID

from . import messages as m
from .constants import (
    BLOCKS_BY_RANGE_IDS,
    BLOCKS_BY_ROOT_IDS,
    CHUNKED_RESPONSE_IDS,
    GOODBYE_ID,
    HELLO_IDS,
    MAX_ERROR_MESSAGE_SIZE,
    MAX_REQUEST_BLOCKS,
    REQ_RESP_MAX_SIZE,
    RESP_TIMEOUT,
    RESULT_INVALID_REQUEST,
    RESULT_SERVER_ERROR,
    RESULT_SUCCESS,
    TTFB_TIMEOUT,
)
from .dialect import Dialect, Dialects
from .interface import ChainView

log = logging.getLogger(__name__)

MAX_VARINT_BYTES = 10  # a uint64 needs at most 10 groups of 7 bits
# How long a responder waits for the requester's half-close after the declared payload.
# Strictly the spec wants EOF there; we wait briefly and then answer anyway so a peer
# that forgets to half-close still gets served (and one that sends extra bytes does not).
EOF_GRACE = 1.0
# Bound on the ErrorMessage we accept: it is only logged.
MAX_ERROR_READ_SIZE = 64 * 1024

# Largest acceptable request payload per protocol: known exactly for the fixed-size ones.
MAX_REQUEST_SIZE: dict[str, int] = {
    GOODBYE_ID: m.GOODBYE_SSZ_SIZE,
    **{p: m.HelloMessage.SSZ_SIZE for p in HELLO_IDS},
    **{p: m.BeaconBlocksRequest.SSZ_SIZE for p in BLOCKS_BY_RANGE_IDS},
    # + one offset: some peers wrap the root list in a container (messages.decode_root_list)
    **{p: 32 * MAX_REQUEST_BLOCKS + m.BYTES_PER_LENGTH_OFFSET for p in BLOCKS_BY_ROOT_IDS},
}


# -- errors ---------------------------------------------------------------------------


class ReqRespError(Exception):
    """A req/resp interaction failed (ProtocolError family of the p2p layer)."""


class RequestTimeout(ReqRespError):
    pass


class InvalidResponse(ReqRespError):
    """The peer's bytes broke the framing or the message schema."""


class PayloadTooLarge(ReqRespError):
    def __init__(self, declared: int, limit: int) -> None:
        super().__init__(f"declared payload of {declared} bytes exceeds the limit of {limit}")
        self.declared = declared
        self.limit = limit


class ErrorResponse(ReqRespError):
    """The peer answered with a non-zero result code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"peer answered result {code}: {message!r}")
        self.code = code
        self.message = message


class InvalidRequest(Exception):
    """Raised by a handler: answered with result 1 and the message as ErrorMessage."""


# -- varint and bounded reads ----------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """Unsigned protobuf varint (LEB128)."""
    if value < 0:
        raise ValueError("varint must be unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes) -> tuple[int, int]:
    """(value, bytes used) from the front of `data`; for tests and tools."""
    value = 0
    for i, byte in enumerate(data[:MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise InvalidResponse("unterminated or over-long varint")


class StreamReader:
    """Buffered reads from a libp2p stream with explicit bounds.

    The buffer only ever holds bytes that actually arrived, so a peer that claims a
    huge length cannot make us allocate it; and read_length_prefix checks the claim
    against the limit before any payload is read.
    """

    def __init__(self, stream: INetStream) -> None:
        self._stream = stream
        self._buf = bytearray()
        self._eof = False

    async def _fill(self) -> bool:
        """Read one chunk into the buffer; False at EOF."""
        if self._eof:
            return False
        try:
            chunk = await self._stream.read(64 * 1024)
        except StreamEOF:
            self._eof = True
            return False
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def read_byte(self) -> int:
        while not self._buf:
            if not await self._fill():
                raise InvalidResponse("stream ended before the expected byte")
        b = self._buf[0]
        del self._buf[0]
        return b

    async def read_length_prefix(self, limit: int) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            byte = await self.read_byte()
            value |= (byte & 0x7F) << (7 * i)
            if value > limit:
                # Reject as soon as the claim is known to be too big: no payload read.
                raise PayloadTooLarge(value, limit)
            if not byte & 0x80:
                return value
        raise InvalidResponse("over-long varint length prefix")

    async def read_exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._fill():
                raise InvalidResponse(f"stream ended after {len(self._buf)} of {n} payload bytes")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def at_eof(self) -> bool:
        """True if the peer has closed its write side and nothing is left unread."""
        if self._buf:
            return False
        return not await self._fill()

    async def read_payload(self, limit: int) -> bytes:
        return await self.read_exactly(await self.read_length_prefix(limit))


def frame(payload: bytes) -> bytes:
    return encode_varint(len(payload)) + payload


# -- requesting side --------------------------------------------------------------------


class ProtocolUnsupported(ReqRespError):
    """The peer answered `na` to every name of the request: a capability, not a fault."""


def _is_all_refused(error: BaseException) -> bool:
    # py-libp2p raises StreamFailure from a MultiselectClientError("protocols not
    # supported: ...") when every offered protocol got `na` (multiselect_client.py).
    cause = error.__cause__
    return cause is not None and str(cause).startswith("protocols not supported")


async def _reset_quietly(stream: INetStream) -> None:
    with trio.CancelScope(shield=True):
        try:
            await stream.reset()
        except Exception:  # the connection may already be gone
            pass


async def open_stream(host: IHost, peer_id: ID, protocols: str | Sequence[str],
                      dialect: Dialect | None = None) -> tuple[INetStream, str]:
    """A stream to `peer_id` on the first of `protocols` it accepts (multistream-select
    falls through `na` answers in order), and the protocol chosen. The peer's answers are
    remembered in `dialect`, which also orders the offer."""
    offered = [protocols] if isinstance(protocols, str) else list(protocols)
    if dialect is not None:
        offered = dialect.order(offered)
    try:
        stream = await host.new_stream(peer_id, [TProtocol(p) for p in offered])
    except Exception as e:
        if _is_all_refused(e):
            if dialect is not None:
                dialect.refused_all(offered)
            raise ProtocolUnsupported(f"{peer_id} supports none of {', '.join(offered)}") from e
        raise ReqRespError(f"cannot open {offered[0]} to {peer_id}: {e}") from e
    chosen = str(stream.get_protocol() or offered[0])
    if dialect is not None:
        dialect.negotiated(offered, chosen)
    return stream, chosen


async def request_chunks(
    host: IHost,
    peer_id: ID,
    protocols: str | Sequence[str],
    payload: bytes,
    max_chunk_size: int,
    max_chunks: int = 1,
    expect_response: bool = True,
    ttfb_timeout: float = TTFB_TIMEOUT,
    resp_timeout: float = RESP_TIMEOUT,
    dialect: Dialect | None = None,
    more: Callable[[str, list[bytes]], bool] | None = None,
) -> tuple[str, list[bytes]]:
    """Send one request on a fresh stream; return the protocol used and the payloads of
    the success chunks: one, unless `more(protocol, chunks so far)` says further chunks
    may follow (v0.8.4 block responses: one chunk per block); then read until the
    responder closes, at most `max_chunks`. A responder that neither sends another chunk
    nor closes within RESP_TIMEOUT has ended its response (some 2019 peers never closed).

    Raises ErrorResponse for a non-zero result before any success chunk (one after some
    ends the response, as v0.8.4 says), ProtocolUnsupported, RequestTimeout,
    InvalidResponse, PayloadTooLarge, or ReqRespError if the stream cannot be opened or breaks.
    """
    stream, protocol = await open_stream(host, peer_id, protocols, dialect)
    reader = StreamReader(stream)
    chunks: list[bytes] = []
    try:
        await stream.write(frame(payload))
        await stream.close_write()  # half-close: the spec's end-of-request marker
        if not expect_response:
            # Goodbye: nothing to wait for; the caller disconnects next.
            return protocol, chunks
        while len(chunks) < max_chunks:
            if chunks and not (more is not None and more(protocol, chunks)):
                break
            with trio.move_on_after(resp_timeout if chunks else ttfb_timeout) as waiting:
                at_end = await reader.at_eof()
            if waiting.cancelled_caught:
                if chunks:
                    break  # no further chunk and no close: take the response as ended
                raise trio.TooSlowError
            if at_end:
                if chunks or protocol in CHUNKED_RESPONSE_IDS:
                    break  # closed after its last chunk (v0.8.4: zero chunks is "no blocks")
                raise InvalidResponse(f"{protocol}: stream closed without a result byte")
            result = await reader.read_byte()  # at_eof buffered it
            with trio.fail_after(resp_timeout):
                if result != RESULT_SUCCESS:
                    msg = m.decode_error_message(await reader.read_payload(MAX_ERROR_READ_SIZE))
                    if chunks:
                        log.debug("%s from %s ended with result %d after %d chunks: %s",
                                  protocol, peer_id, result, len(chunks), msg)
                        break
                    raise ErrorResponse(result, msg)
                chunks.append(await reader.read_payload(max_chunk_size))
        return protocol, chunks
    except trio.TooSlowError as e:
        await _reset_quietly(stream)
        raise RequestTimeout(f"{protocol} to {peer_id} timed out") from e
    except (PayloadTooLarge, InvalidResponse):
        await _reset_quietly(stream)
        raise
    except StreamError as e:
        raise ReqRespError(f"{protocol} to {peer_id}: stream failed: {e!r}") from e
    except RuntimeError as e:
        # py-libp2p's MplexStream.close raises a bare RuntimeError ("Failed to send close
        # message and Mplex isn't shutting down") when the connection died under the
        # stream; uncaught it ended the task that asked - Goodbye to a dropped peer ended
        # the peer manager and the node (found by chaos peer --attack oversized-frame).
        raise ReqRespError(f"{protocol} to {peer_id}: connection gone: {e}") from e
    finally:
        # Leave nothing half-open: after the response (or error) we are done reading.
        with trio.CancelScope(shield=True):
            try:
                await stream.close()
            except Exception:
                pass


async def request(
    host: IHost,
    peer_id: ID,
    protocol: str | Sequence[str],
    payload: bytes,
    max_response_size: int,
    expect_response: bool = True,
    ttfb_timeout: float = TTFB_TIMEOUT,
    resp_timeout: float = RESP_TIMEOUT,
    dialect: Dialect | None = None,
) -> bytes:
    """A single-chunk request: the success payload (b"" for Goodbye)."""
    _, chunks = await request_chunks(host, peer_id, protocol, payload, max_response_size, 1, expect_response,
                                     ttfb_timeout, resp_timeout, dialect)
    if expect_response and not chunks:
        raise InvalidResponse(f"{protocol}: no response")
    return chunks[0] if chunks else b""


# -- typed client calls -------------------------------------------------------------------

IsBlock = Callable[[bytes], bool]


async def send_hello(host: IHost, peer_id: ID, hello: m.HelloMessage, dialect: Dialect | None = None) -> m.HelloMessage:
    data = await request(host, peer_id, HELLO_IDS, hello.encode(), m.HelloMessage.SSZ_SIZE, dialect=dialect)
    try:
        return m.HelloMessage.decode(data)
    except m.DecodeError as e:
        raise InvalidResponse(f"hello: {e}") from e


async def send_goodbye(host: IHost, peer_id: ID, reason: int) -> None:
    await request(host, peer_id, GOODBYE_ID, m.encode_goodbye(reason), 0, expect_response=False)


def _more_blocks(is_block: IsBlock) -> Callable[[str, list[bytes]], bool]:
    """More chunks may follow a v0.8.4 chunk, or a single block sent under a v0.8.3 name
    (chunked framing there); a whole list (v0.8.3) is the entire response."""
    def more(protocol: str, chunks: list[bytes]) -> bool:
        return protocol in CHUNKED_RESPONSE_IDS or is_block(chunks[-1])

    return more


def _blocks_from_chunks(protocol: str, chunks: list[bytes], is_block: IsBlock, max_count: int,
                        dialect: Dialect | None) -> list[bytes]:
    blocks: list[bytes] = []
    for chunk in chunks:
        try:
            items, wrapped = m.decode_block_payload(chunk, is_block, max_count - len(blocks))
        except m.DecodeError as e:
            raise InvalidResponse(f"{protocol}: {e}") from e
        if wrapped and dialect is not None:
            dialect.wraps_single_field = True
        blocks.extend(items)
    if len(blocks) > max_count:
        raise InvalidResponse(f"{protocol}: {len(blocks)} blocks for a request of {max_count}")
    return blocks


async def request_beacon_blocks(host: IHost, peer_id: ID, req: m.BeaconBlocksRequest, is_block: IsBlock,
                                dialect: Dialect | None = None) -> list[bytes]:
    """BeaconBlocks (v0.8.3) or BeaconBlocksByRange (v0.8.4), whichever the peer speaks;
    the answer in any framing of 2019 (see messages.decode_block_payload)."""
    count = min(req.count, MAX_REQUEST_BLOCKS)
    protocol, chunks = await request_chunks(host, peer_id, BLOCKS_BY_RANGE_IDS, req.encode(), REQ_RESP_MAX_SIZE,
                                            max_chunks=count, dialect=dialect, more=_more_blocks(is_block))
    return _blocks_from_chunks(protocol, chunks, is_block, count, dialect)


async def request_recent_beacon_blocks(host: IHost, peer_id: ID, roots: Sequence[bytes], is_block: IsBlock,
                                       dialect: Dialect | None = None) -> list[bytes]:
    """RecentBeaconBlocks (v0.8.3) or BeaconBlocksByRoot (v0.8.4). The roots go bare, as
    v0.8.3 says, unless the peer is known to read them wrapped in a container; a peer of
    unknown dialect that drops the bare form without answering is asked once more wrapped.
    A v0.8.3 answer may hold null blocks for roots the peer lacks; a v0.8.4 one omits them."""
    wrapped = dialect is not None and dialect.wraps_single_field is True
    payload = m.encode_recent_beacon_blocks_request(roots)
    try:
        protocol, chunks = await request_chunks(host, peer_id, BLOCKS_BY_ROOT_IDS,
                                                m.wrap_single_field(payload) if wrapped else payload,
                                                REQ_RESP_MAX_SIZE, max_chunks=len(roots), dialect=dialect,
                                                more=_more_blocks(is_block))
    except (ProtocolUnsupported, ErrorResponse, PayloadTooLarge):
        raise
    except ReqRespError as e:  # no answer at all: it may not have read the bare form
        if dialect is None or dialect.wraps_single_field is not None:
            raise
        log.debug("%s dropped a bare by-root request (%s); asking with a wrapped one", peer_id, e)
        protocol, chunks = await request_chunks(host, peer_id, BLOCKS_BY_ROOT_IDS, m.wrap_single_field(payload),
                                                REQ_RESP_MAX_SIZE, max_chunks=len(roots), dialect=dialect,
                                                more=_more_blocks(is_block))
        dialect.wraps_single_field = True
    return _blocks_from_chunks(protocol, chunks, is_block, len(roots), dialect)


# -- responding side ----------------------------------------------------------------------


class PeerEvents(Protocol):
    """What the server side reports to the peer manager (implemented in peers.py)."""

    async def on_hello(self, peer_id: ID, hello: m.HelloMessage) -> None: ...

    async def on_goodbye(self, peer_id: ID, reason: int) -> None: ...

    def on_bad_request(self, peer_id: ID, protocol: str, reason: str) -> None: ...

    def local_hello(self) -> m.HelloMessage: ...


# A handler returns the success chunks' payloads (None: send nothing, as for Goodbye) and
# an optional follow-up that runs after the response has been written and closed.
FollowUp = Callable[[], Awaitable[None]]
Handler = Callable[[ID, str, bytes], Awaitable[tuple[list[bytes] | None, FollowUp | None]]]


@dataclass
class ServerStats:
    served: int = 0
    invalid: int = 0
    server_errors: int = 0
    oversized: int = 0
    timeouts: int = 0


class ReqRespServer:
    """Registers every name of the four requests on a host and answers them from a
    ChainView, each in the framing its name calls for and in the peer's dialect."""

    def __init__(self, host: IHost, chain: ChainView, events: PeerEvents, dialects: Dialects | None = None) -> None:
        self.host = host
        self.chain = chain
        self.events = events
        self.dialects = dialects or Dialects()
        self.stats = ServerStats()
        self.handlers: dict[str, Handler] = {GOODBYE_ID: self._goodbye}
        for protocol in HELLO_IDS:
            self.handlers[protocol] = self._hello
        for protocol in BLOCKS_BY_RANGE_IDS:
            self.handlers[protocol] = self._blocks_by_range
        for protocol in BLOCKS_BY_ROOT_IDS:
            self.handlers[protocol] = self._blocks_by_root

    def register(self) -> None:
        for protocol in self.handlers:
            self.host.set_stream_handler(TProtocol(protocol), self._make_stream_handler(protocol))

    def _make_stream_handler(self, protocol: str) -> Callable[[INetStream], Awaitable[None]]:
        async def handle(stream: INetStream) -> None:
            await self.serve_stream(protocol, stream)

        return handle

    async def serve_stream(self, protocol: str, stream: INetStream) -> None:
        peer_id: ID = stream.muxed_conn.peer_id
        self.dialects.of(peer_id).supported.add(protocol)
        reader = StreamReader(stream)
        handler = self.handlers[protocol]
        try:
            with trio.fail_after(RESP_TIMEOUT):  # the whole request must arrive in time
                payload = await reader.read_payload(MAX_REQUEST_SIZE[protocol])
                with trio.move_on_after(EOF_GRACE) as grace:
                    clean_end = await reader.at_eof()
                if not grace.cancelled_caught and not clean_end:
                    raise InvalidRequest("bytes after the declared payload")
        except PayloadTooLarge as e:
            self.stats.oversized += 1
            self.events.on_bad_request(peer_id, protocol, str(e))
            log.debug("%s from %s: %s; resetting", protocol, peer_id, e)
            await _reset_quietly(stream)
            return
        except trio.TooSlowError:
            self.stats.timeouts += 1
            self.events.on_bad_request(peer_id, protocol, "request not received in time")
            await _reset_quietly(stream)
            return
        except (InvalidResponse, InvalidRequest) as e:
            # Framing broken (truncated payload, bad varint, trailing bytes): result 1.
            await self._answer_error(stream, peer_id, protocol, RESULT_INVALID_REQUEST, str(e))
            return
        except StreamError as e:
            log.debug("%s from %s: stream failed while reading: %r", protocol, peer_id, e)
            await _reset_quietly(stream)
            return

        try:
            chunks, follow_up = await handler(peer_id, protocol, payload)
        except (m.DecodeError, InvalidRequest) as e:
            await self._answer_error(stream, peer_id, protocol, RESULT_INVALID_REQUEST, str(e))
            return
        except Exception as e:  # the chain failed us; not the peer's fault
            log.exception("%s handler failed for %s", protocol, peer_id)
            self.stats.server_errors += 1
            await self._write_and_close(stream, bytes([RESULT_SERVER_ERROR]) + frame(m.encode_error_message(f"server error: {type(e).__name__}", MAX_ERROR_MESSAGE_SIZE)))
            return

        self.stats.served += 1
        # Goodbye (None) has no response: just close our side.
        await self._write_and_close(stream, b"".join(bytes([RESULT_SUCCESS]) + frame(c) for c in chunks or ()))
        if follow_up is not None:
            await follow_up()

    async def _answer_error(self, stream: INetStream, peer_id: ID, protocol: str, code: int, reason: str) -> None:
        self.stats.invalid += 1
        self.events.on_bad_request(peer_id, protocol, reason)
        log.debug("%s from %s invalid: %s", protocol, peer_id, reason)
        await self._write_and_close(stream, bytes([code]) + frame(m.encode_error_message(reason, MAX_ERROR_MESSAGE_SIZE)))

    async def _write_and_close(self, stream: INetStream, data: bytes) -> None:
        try:
            with trio.fail_after(RESP_TIMEOUT):
                if data:
                    await stream.write(data)
                await stream.close_write()
        except (trio.TooSlowError, StreamError, RuntimeError) as e:  # RuntimeError: see request_chunks
            log.debug("could not deliver response: %r", e)
            await _reset_quietly(stream)

    # -- the four requests ----------------------------------------------------------

    async def _hello(self, peer_id: ID, protocol: str, payload: bytes) -> tuple[list[bytes], FollowUp]:
        theirs = m.HelloMessage.decode(payload)
        self.dialects.of(peer_id).sends_hello = True

        # Answer first (both sides must learn each other's status, even when the
        # verdict is Goodbye); the peer manager judges their hello afterwards.
        async def judge() -> None:
            await self.events.on_hello(peer_id, theirs)

        return [self.events.local_hello().encode()], judge

    async def _goodbye(self, peer_id: ID, protocol: str, payload: bytes) -> tuple[None, FollowUp]:
        reason = m.decode_goodbye(payload)

        async def leave() -> None:
            await self.events.on_goodbye(peer_id, reason)

        return None, leave

    def _block_response(self, peer_id: ID, protocol: str, blocks: list[bytes]) -> list[bytes]:
        """v0.8.4 names: a chunk per block. v0.8.3 names: one SSZ list, bare as v0.8.3
        says, or in a container for a peer that sends (so reads) that form."""
        if protocol in CHUNKED_RESPONSE_IDS:
            return blocks
        listed = _bounded_block_list(blocks)
        return [m.wrap_single_field(listed) if self.dialects.of(peer_id).wraps_single_field else listed]

    async def _blocks_by_range(self, peer_id: ID, protocol: str, payload: bytes) -> tuple[list[bytes], None]:
        req = m.BeaconBlocksRequest.decode(payload)
        if req.step == 0:
            raise InvalidRequest("step must be at least 1")
        count = min(req.count, MAX_REQUEST_BLOCKS)  # answer fewer rather than refuse
        blocks = await self.chain.blocks_by_range(req.head_block_root, req.start_slot, count, req.step)
        if blocks is None:
            raise InvalidRequest("unknown head_block_root")
        return self._block_response(peer_id, protocol, [b.ssz for b in blocks]), None

    async def _blocks_by_root(self, peer_id: ID, protocol: str, payload: bytes) -> tuple[list[bytes], None]:
        roots, wrapped = m.decode_root_list(payload, MAX_REQUEST_BLOCKS)
        if wrapped:
            self.dialects.of(peer_id).wraps_single_field = True
        found = await self.chain.blocks_by_root(roots)
        if len(found) != len(roots):
            raise RuntimeError("chain returned a different number of answers than roots asked")
        if protocol in CHUNKED_RESPONSE_IDS:  # v0.8.4: only the blocks we have
            return [b for b in found if b is not None], None
        null = self.chain.null_block()  # v0.8.3: same length, the SSZ null block where unknown
        return self._block_response(peer_id, protocol, [null if b is None else b for b in found]), None


def _bounded_block_list(blocks: list[bytes]) -> bytes:
    """Encode, dropping blocks from the end until the answer fits REQ_RESP_MAX_SIZE."""
    blocks = list(blocks)
    total = sum(len(b) + m.BYTES_PER_LENGTH_OFFSET for b in blocks)
    while blocks and total > REQ_RESP_MAX_SIZE:
        total -= len(blocks.pop()) + m.BYTES_PER_LENGTH_OFFSET
    return m.encode_block_list(blocks)
