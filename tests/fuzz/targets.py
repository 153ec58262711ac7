"""The fuzz targets: each takes arbitrary bytes and may only fail with its documented errors.

A target is a name, a setup (run once per process: builds whatever the input needs, such as
a chain on a temporary datadir), the function called per input, the exception types that
count as a clean refusal, and its seeds. Everything else that escapes is a crash.

The same definitions serve atheris (coverage-guided, tests/fuzz/campaign.py), the regression
corpus replay and the Hypothesis tests (tests/fuzz/test_fuzz.py).

Targets on code under beacon/p2p only *call* that code (another engineer owns it); what
crashes there is reported, not fixed here.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

Fn = Callable[[bytes], None]

# Seeds from the official vectors: at most this many cases per container and case kind.
SEEDS_PER_KIND = 2
SSZ_CASE_KINDS = ("ssz_zero", "ssz_one", "ssz_nil", "ssz_max", "ssz_random", "ssz_lengthy", "ssz_random_chaos")


@dataclass
class Target:
    name: str
    what: str  # one line for the report
    setup: Callable[[], Fn]
    allowed: Callable[[], tuple[type[BaseException], ...]]
    seeds: Callable[[], list[bytes]] = lambda: []
    # Share of a campaign's inputs (per million). Inputs cost from ~30 us (framing) to ~30 ms
    # (reopening a datadir); the shares give each target minutes, not seconds or hours.
    weight: float = 1.0
    tags: Sequence[str] = field(default_factory=tuple)


def _cfg() -> Any:
    from beacon.config import load_config

    return load_config("minimal")


def _vectors() -> Path | None:
    from spectests import vectors_root

    root = vectors_root() / "tests" / "minimal" / "phase0"
    return root if root.is_dir() else None


def _vector_files(rel: str, pattern: str, limit: int) -> list[bytes]:
    root = _vectors()
    if root is None:
        return []
    out = []
    for p in sorted((root / rel).glob(pattern))[:limit]:
        out.append(p.read_bytes())
    return out


# --- SSZ containers ------------------------------------------------------------------------

def container_names() -> list[str]:
    from beacon.types import get_types

    return [n for n in get_types(_cfg()).names if n != "BeaconState"]


def _ssz_seeds(name: str) -> list[bytes]:
    out = []
    for kind in SSZ_CASE_KINDS:
        out += _vector_files(f"ssz_static/{name}/{kind}", "case_*/serialized.ssz", SEEDS_PER_KIND)
    return out


def _check_roundtrip(typ: Any, data: bytes) -> None:
    """What decodes must re-encode to the same bytes (SSZ encodings are canonical) and hash."""
    from beacon.ssz import decode

    value = decode(typ, data)
    again = value.serialize()
    if again != data:
        raise AssertionError(f"{typ.name}: decoded {len(data)} bytes re-encode to {len(again)} different bytes")
    value.hash_tree_root()
    typ.from_obj(typ.to_obj(value))


def _setup_ssz() -> Fn:
    """First byte picks the container (all of phase 0 but BeaconState); the rest is its SSZ."""
    from beacon.types import get_types

    t = get_types(_cfg())
    types = [t.by_name(n) for n in container_names()]

    def one(data: bytes) -> None:
        if not data:
            return
        _check_roundtrip(types[data[0] % len(types)], data[1:])

    return one


def _seeds_ssz() -> list[bytes]:
    out = []
    for i, name in enumerate(container_names()):
        out += [bytes([i]) + s for s in _ssz_seeds(name)]
    return out


def _setup_ssz_state() -> Fn:
    from beacon.types import get_types

    typ = get_types(_cfg()).BeaconState

    def one(data: bytes) -> None:
        _check_roundtrip(typ, data)

    return one


# py-ssz 0.6 cannot hash a List with limit 0 (BeaconBlockBody.transfers: MAX_TRANSFERS is 0),
# so the blocks are left out of the differential target; the other containers are compared.
_PYSSZ_SKIP = ("BeaconBlock", "BeaconBlockBody")


def _pyssz_names() -> list[str]:
    return [n for n in container_names() if n not in _PYSSZ_SKIP]


def _setup_ssz_pyssz() -> Fn:
    """Differential: our decoder against py-ssz's on the same bytes (byte 0 picks the container).
    Both accept and agree on the root, or both refuse; where only py-ssz accepts, it must be
    because py-ssz took a non-canonical encoding (it re-encodes differently)."""
    import ssz as pyssz

    from beacon.ssz import DecodeError, decode
    from beacon.ssz.pyssz import sedes_of
    from beacon.types import get_types

    t = get_types(_cfg())
    pairs = [(t.by_name(n), sedes_of(t.by_name(n))) for n in _pyssz_names()]

    def one(data: bytes) -> None:
        if not data:
            return
        typ, sedes = pairs[data[0] % len(pairs)]
        data = data[1:]
        try:
            ours = decode(typ, data)
        except DecodeError as e:
            ours, why = None, str(e)
        try:
            theirs = pyssz.decode(data, sedes)
        except Exception:  # noqa: BLE001 - py-ssz has no single error type
            theirs = None
        if ours is None and theirs is None:
            return
        if ours is None:
            if pyssz.encode(theirs, sedes) == data:
                raise AssertionError(f"{typ.name}: py-ssz accepts a canonical encoding we refuse ({why})")
            return
        if theirs is None:
            raise AssertionError(f"{typ.name}: we accept {len(data)} bytes py-ssz refuses")
        if pyssz.get_hash_tree_root(theirs, sedes) != ours.hash_tree_root():
            raise AssertionError(f"{typ.name}: roots differ from py-ssz's")

    return one


def _seeds_ssz_pyssz() -> list[bytes]:
    out = []
    for i, name in enumerate(_pyssz_names()):
        out += [bytes([i]) + s for s in _ssz_seeds(name)]
    return out


def _decode_errors() -> tuple[type[BaseException], ...]:
    from beacon.ssz import DecodeError

    return (DecodeError,)


# --- genesis and config loading --------------------------------------------------------------

def _setup_genesis() -> Fn:
    """First byte even: the rest is a genesis .ssz; odd: a genesis .yaml (through the file reader)."""
    from genesis.load import load_genesis_state

    cfg = _cfg()
    d = Path(tempfile.mkdtemp(prefix="fuzz-genesis-"))

    def one(data: bytes) -> None:
        if not data:
            return
        path = d / ("genesis.ssz" if data[0] % 2 == 0 else "genesis.yaml")
        path.write_bytes(data[1:])
        load_genesis_state(path, cfg)

    return one


def _genesis_errors() -> tuple[type[BaseException], ...]:
    from genesis.load import GenesisLoadError

    return (GenesisLoadError,)


_GENESIS_YAML = b"""genesis_time: 1567777777
slot: 0
fork: {previous_version: '0x00000000', current_version: '0x00000000', epoch: 0}
eth1_data: {deposit_root: '0x""" + b"42" * 32 + b"""', deposit_count: 1, block_hash: '0x""" + b"42" * 32 + b"""'}
balances: [32000000000]
validators:
- {pubkey: '0x""" + b"a0" * 48 + b"""', withdrawal_credentials: '0x""" + b"00" * 32 + b"""', effective_balance: 32000000000,
   slashed: false, activation_eligibility_epoch: 0, activation_epoch: 0, exit_epoch: 18446744073709551615,
   withdrawable_epoch: 18446744073709551615}
justification_bits: '0x00'
"""


def _seeds_genesis() -> list[bytes]:
    out = [b"\x00" + s for s in _vector_files("ssz_static/BeaconState/ssz_random", "case_*/serialized.ssz", 2)]
    out += [b"\x00" + s for s in _vector_files("genesis/initialization/pyspec_tests", "*/state.ssz", 1)]
    out.append(b"\x01" + _GENESIS_YAML)
    out.append(b"\x01[1, 2, {a: b}]")
    return out


_CONFIG_SEED = b"""SECONDS_PER_SLOT: 2
SLOTS_PER_EPOCH: 8
SHARD_COUNT: 8
DOMAIN_RANDAO: 0x01000000
MIN_GENESIS_ACTIVE_VALIDATOR_COUNT: 64
"""


def _setup_config() -> Fn:
    """An override file for the minimal preset, then the containers built from the result."""
    from beacon.config import load_config
    from beacon.types import get_types

    d = Path(tempfile.mkdtemp(prefix="fuzz-config-"))
    path = d / "config.yaml"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        get_types(load_config("minimal", path))

    return one


def _config_errors() -> tuple[type[BaseException], ...]:
    from beacon.config import ConfigError

    return (ConfigError,)


# --- node key and datadirs -------------------------------------------------------------------

def _setup_node_key() -> Fn:
    from beacon.p2p.identity import load_node_key

    d = Path(tempfile.mkdtemp(prefix="fuzz-nodekey-"))
    path = d / "node_key"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        os.chmod(path, 0o600)
        load_node_key(path)

    return one


def _node_key_errors() -> tuple[type[BaseException], ...]:
    from beacon.p2p.identity import NodeKeyError

    return (NodeKeyError,)


def _seeds_node_key() -> list[bytes]:
    return [b"11" * 32 + b"\n", b"ff" * 32, b"00" * 32, b"zz" * 32, b"\xff\xfe"]


# Record kinds of the beacon datadir a fuzz input may overwrite (key prefix, fixed key or None).
_DB_RECORDS = [b"m:schema", b"m:genesis", b"m:preset", b"f:head", b"f:justified", b"f:finalized",
               b"i:", b"b:", b"s:", b"h:", b"c:", b"v:"]


class _Datadir:
    """A real datadir with a short chain; each input damages one record, then the node's opening
    path (BeaconDB + fork-choice restore) reads it, then the record is put back."""

    def __init__(self) -> None:
        import plyvel

        from beacon.chain import Chain

        self.genesis = _genesis16()
        self.dir = Path(tempfile.mkdtemp(prefix="fuzz-datadir-"))
        builder = _builder()
        chain = Chain.open(self.dir, self.genesis, clock=lambda: _NOW)
        for root in builder.order:
            chain.import_block(builder.blocks[root])
        chain.close()
        db = plyvel.DB(str(self.dir / "beacon.ldb"))
        self.keys = {k: v for k, v in db.iterator()}
        db.close()
        self.open = Chain.open

    def one(self, data: bytes) -> None:
        import plyvel

        if len(data) < 2:
            return
        kind = _DB_RECORDS[data[0] % len(_DB_RECORDS)]
        matching = sorted(k for k in self.keys if k.startswith(kind))
        key = matching[data[1] % len(matching)] if matching else kind
        value = data[2:]
        db = plyvel.DB(str(self.dir / "beacon.ldb"))
        try:
            if value == b"\xde\x1e\x7e":  # a marker: delete the record instead
                db.delete(key)
            else:
                db.put(key, value)
        finally:
            db.close()
        try:
            chain = self.open(self.dir, self.genesis, clock=lambda: _NOW)
            chain.close()
        finally:
            db = plyvel.DB(str(self.dir / "beacon.ldb"))
            if key in self.keys:
                db.put(key, self.keys[key])
            else:
                db.delete(key)
            db.close()


def _setup_datadir() -> Fn:
    return _Datadir().one


def _store_errors() -> tuple[type[BaseException], ...]:
    from beacon.db.store import StoreError

    return (StoreError,)


def _seeds_datadir() -> list[bytes]:
    out = []
    for i in range(len(_DB_RECORDS)):
        out += [bytes([i, 0]) + b"\x01\x00\x00\x00", bytes([i, 1]) + b"\xde\x1e\x7e", bytes([i, 2]) + b"\x00" * 40]
    return out


def _setup_protection() -> Fn:
    """A slashing-protection DB with one fuzzed record (key and value), opened as the validator does."""
    import plyvel

    from beacon.validator.protection import SlashingProtection

    d = Path(tempfile.mkdtemp(prefix="fuzz-protection-"))
    genesis_root = b"\x11" * 32
    sp = SlashingProtection(d, genesis_root)
    sp.record_proposal(3, 1, 9, b"\x22" * 32)
    sp.close()

    def one(data: bytes) -> None:
        if len(data) < 1:
            return
        klen = data[0] % 24
        key, value = data[1:1 + klen], data[1 + klen:]
        if not key:
            return
        db = plyvel.DB(str(d / "slashing_protection.ldb"))
        old = db.get(key)
        db.put(key, value)
        db.close()
        try:
            p = SlashingProtection(d, genesis_root)
            try:
                p.check_proposal(3, 2, 17, b"\x33" * 32)
                p.check_attestation(3, 1, 2, b"\x44" * 32)
            finally:
                p.close()
        finally:
            db = plyvel.DB(str(d / "slashing_protection.ldb"))
            if old is None:
                db.delete(key)
            else:
                db.put(key, old)
            db.close()

    return one


def _protection_errors() -> tuple[type[BaseException], ...]:
    from beacon.validator.protection import ProtectionError

    return (ProtectionError,)


def _seeds_protection() -> list[bytes]:
    return [bytes([10]) + b"p:" + (3).to_bytes(8, "big") + b"\x01" * 48,
            bytes([18]) + b"a:" + (3).to_bytes(8, "big") + (5).to_bytes(8, "big") + b"\x02" * 40,
            bytes([9]) + b"m:genesis" + b"\x12" * 32,
            bytes([10]) + b"p:" + (3).to_bytes(8, "big") + b"\x01" * 7]


# --- req/resp framing and handlers (beacon/p2p: called, not changed) -------------------------

class _BytesStream:
    """The read side of a libp2p stream, over bytes delivered in chunks; never blocks."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data = data
        self.pos = 0
        self.chunk = chunk

    async def read(self, n: int | None = None) -> bytes:
        from libp2p.network.stream.exceptions import StreamEOF

        if self.pos >= len(self.data):
            raise StreamEOF()
        size = min(self.chunk, n or self.chunk)
        out = self.data[self.pos:self.pos + size]
        self.pos += len(out)
        return out


def _drive(coro: Any) -> Any:
    """Run a coroutine that never really suspends (our stream never blocks) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("the coroutine suspended: the target awaited something real")


def _setup_reqresp() -> Fn:
    """Byte 0: side and protocol; byte 1: chunk size the bytes arrive in; the rest: the stream.

    Request side: what ReqRespServer.serve_stream reads (varint-framed payload, then EOF),
    decoded as that protocol's request. Response side: what `request` reads (result byte,
    framed payload) and the typed client's decoding of it."""
    from beacon.config import load_config
    from beacon.p2p import messages as m
    from beacon.p2p import reqresp as rr
    from beacon.p2p.constants import (
        BEACON_BLOCKS_BY_RANGE_ID, BEACON_BLOCKS_BY_ROOT_ID, BEACON_BLOCKS_ID, GOODBYE_ID, HELLO_ID,
        MAX_REQUEST_BLOCKS, RECENT_BEACON_BLOCKS_ID, REQ_RESP_MAX_SIZE, RESULT_SUCCESS, STATUS_ID,
    )
    from beacon.types import get_types

    # A BeaconBlock's layout (what ChainAdapter.block_slot checks): its one offset points
    # right behind its fixed part.
    fixed = get_types(load_config("minimal")).BeaconBlock.min_size()

    def is_block(b: bytes) -> bool:
        return len(b) >= fixed and int.from_bytes(b[72:76], "little") == fixed

    protocols = [HELLO_ID, GOODBYE_ID, BEACON_BLOCKS_ID, RECENT_BEACON_BLOCKS_ID, STATUS_ID,
                 BEACON_BLOCKS_BY_RANGE_ID, BEACON_BLOCKS_BY_ROOT_ID]
    roots = lambda b: m.decode_root_list(b, MAX_REQUEST_BLOCKS)  # noqa: E731
    blocks = lambda b: m.decode_block_payload(b, is_block, MAX_REQUEST_BLOCKS)  # noqa: E731
    request_decoders = {
        HELLO_ID: m.HelloMessage.decode, STATUS_ID: m.HelloMessage.decode,
        GOODBYE_ID: m.decode_goodbye,
        BEACON_BLOCKS_ID: m.BeaconBlocksRequest.decode, BEACON_BLOCKS_BY_RANGE_ID: m.BeaconBlocksRequest.decode,
        RECENT_BEACON_BLOCKS_ID: roots, BEACON_BLOCKS_BY_ROOT_ID: roots,
    }
    response_limits = {HELLO_ID: m.HelloMessage.SSZ_SIZE, BEACON_BLOCKS_ID: REQ_RESP_MAX_SIZE,
                       RECENT_BEACON_BLOCKS_ID: REQ_RESP_MAX_SIZE}
    # Every framing a 2019 peer used (bare list, wrapped list, one block per chunk).
    response_decoders = {HELLO_ID: m.HelloMessage.decode, BEACON_BLOCKS_ID: blocks, RECENT_BEACON_BLOCKS_ID: blocks}

    async def serve(reader: Any, protocol: str) -> None:
        payload = await reader.read_payload(rr.MAX_REQUEST_SIZE[protocol])
        if not await reader.at_eof():
            raise rr.InvalidRequest("bytes after the declared payload")
        request_decoders[protocol](payload)

    async def ask(reader: Any, protocol: str) -> None:
        result = await reader.read_byte()
        if result == RESULT_SUCCESS:
            response_decoders[protocol](await reader.read_payload(response_limits[protocol]))
        else:
            m.decode_error_message(await reader.read_payload(rr.MAX_ERROR_READ_SIZE))

    def one(data: bytes) -> None:
        if len(data) < 2:
            rr.decode_varint(data)
            return
        rr.decode_varint(data[2:])
        reader = rr.StreamReader(_BytesStream(data[2:], 1 + data[1] % 64 * 97))
        if data[0] & 4:
            _drive(ask(reader, [HELLO_ID, BEACON_BLOCKS_ID, RECENT_BEACON_BLOCKS_ID][data[0] % 3]))
        else:
            _drive(serve(reader, protocols[data[0] % 7]))

    return one


def _reqresp_errors() -> tuple[type[BaseException], ...]:
    from beacon.p2p import reqresp as rr
    from beacon.ssz import DecodeError

    return (rr.InvalidResponse, rr.PayloadTooLarge, rr.InvalidRequest, DecodeError)


def _seeds_reqresp() -> list[bytes]:
    from beacon.p2p.reqresp import encode_varint

    def framed(p: bytes) -> bytes:
        return encode_varint(len(p)) + p

    hello = b"\x00" * 4 + b"\x01" * 32 + b"\x02" * 8 + b"\x03" * 32 + b"\x05" * 8
    blocks_req = b"\x07" * 32 + (1).to_bytes(8, "little") + (10).to_bytes(8, "little") + (1).to_bytes(8, "little")
    return [
        b"\x00\x05" + framed(hello), b"\x01\x05" + framed((1).to_bytes(8, "little")),
        b"\x02\x00" + framed(blocks_req), b"\x03\x10" + framed(b"\x09" * 64),
        b"\x04\x03" + b"\x00" + framed(hello), b"\x05\x03" + b"\x00" + framed(b"\x08\x00\x00\x00\x0a\x00\x00\x00ab"),
        b"\x06\x01" + b"\x01" + framed(b"bad request"), b"\x04\x00" + b"\x00\xff\xff\xff\xff\x0f",
    ]


def _setup_reqresp_handlers() -> Fn:
    """ReqRespServer's handlers, every name of the four requests, on a real chain (16
    validators, a few blocks): byte 0 picks."""
    from libp2p.peer.id import ID

    from beacon.p2p.constants import (
        BEACON_BLOCKS_BY_RANGE_ID, BEACON_BLOCKS_BY_ROOT_ID, BEACON_BLOCKS_ID, GOODBYE_ID, HELLO_ID,
        RECENT_BEACON_BLOCKS_ID, STATUS_ID,
    )
    from beacon.p2p.reqresp import ReqRespServer

    adapter = _adapter()

    class Events:
        async def on_hello(self, peer_id: Any, hello: Any) -> None: ...
        async def on_goodbye(self, peer_id: Any, reason: int) -> None: ...
        def on_bad_request(self, peer_id: Any, protocol: str, reason: str) -> None: ...
        def local_hello(self) -> Any:
            from beacon.p2p.messages import HelloMessage

            return HelloMessage(b"\x00" * 4, b"\x00" * 32, 0, b"\x00" * 32, 0)

    server = ReqRespServer(None, adapter, Events())  # type: ignore[arg-type]  # no host: handlers only
    # Byte 0 picks the request: both names of each (v0.8.3 first, as the seeds expect).
    protocols = [HELLO_ID, GOODBYE_ID, BEACON_BLOCKS_ID, RECENT_BEACON_BLOCKS_ID, STATUS_ID,
                 BEACON_BLOCKS_BY_RANGE_ID, BEACON_BLOCKS_BY_ROOT_ID]
    peer = ID(b"\x00\x25" + b"\x01" * 37)
    head_root = _builder().order[-1]

    def one(data: bytes) -> None:
        if not data:
            return
        payload = data[1:]
        protocol = protocols[data[0] % 7]
        if protocol in (BEACON_BLOCKS_ID, BEACON_BLOCKS_BY_RANGE_ID) and len(payload) >= 32 and payload[:1] == b"\xaa":
            payload = head_root + payload[32:]  # reach the served path with a known head
        response, follow_up = _drive(server.handlers[protocol](peer, protocol, payload))
        if follow_up is not None:
            _drive(follow_up())

    return one


def _handler_errors() -> tuple[type[BaseException], ...]:
    from beacon.p2p.reqresp import InvalidRequest
    from beacon.ssz import DecodeError

    return (InvalidRequest, DecodeError)


def _seeds_handlers() -> list[bytes]:
    req = (b"\xaa" + b"\x00" * 31 + (0).to_bytes(8, "little") + (64).to_bytes(8, "little")
           + (1).to_bytes(8, "little"))
    return [b"\x00" + b"\x00" * 84, b"\x01" + (1).to_bytes(8, "little"), b"\x02" + req,
            b"\x02" + req[:40] + (2**64 - 1).to_bytes(8, "little") + (2**63).to_bytes(8, "little"),
            b"\x03" + b"\x00" * 64]


# --- gossip validation through the chain (ChainAdapter, beacon/p2p/chain_view.py) -------------

_GENESIS_TIME = 1567777777
# The fuzzed node's clock: slot 12 of the minimal preset (6 s slots).
_NOW = _GENESIS_TIME + 12 * 6 + 1
_cache: dict[str, Any] = {}


def _genesis16() -> Any:
    if "genesis" not in _cache:
        os.environ.setdefault("PYBEACON_CACHE_DIR", tempfile.mkdtemp(prefix="fuzz-keys-"))
        from genesis.state import create_interop_genesis_state

        _cache["genesis"] = create_interop_genesis_state(_cfg(), 16, _GENESIS_TIME)
    return _cache["genesis"]


class _Built:
    def __init__(self) -> None:
        from beacon.chain.testing import ChainBuilder, make_attestations

        b = ChainBuilder(_genesis16())
        self.order = b.extend(b.genesis_root, 1, 10)
        self.blocks = b.blocks
        self.genesis_root = b.genesis_root
        head = self.order[-1]
        # Not imported into the fuzzed chain: a valid next block and valid votes for the head.
        self.next_block = b.blocks[b.build(head, 11, attest_slots=[9])]
        self.attestations = make_attestations(b.states[head], head, 10)
        self.operations = _valid_slashings(b, head)


def _valid_slashings(b: Any, head: bytes) -> list[tuple[int, Any]]:
    """A proposer slashing (two signed headers of slot 9) and an attester slashing (a double
    vote in slot 10) that the fuzzed chain ACCEPTs: seeds that reach the end of process_*."""
    from beacon.chain.testing import KEYS, make_attestations, state_at_slot
    from beacon.crypto import bls
    from beacon.state import get_beacon_proposer_index, get_domain, get_indexed_attestation

    state = b.states[head]
    t = state.types
    cfg = state.config
    block = b.blocks[head]
    proposer = get_beacon_proposer_index(state)
    headers = []
    for graffiti in (b"one", b"two"):
        body = block.body.copy()
        body.graffiti = graffiti.ljust(32, b"\x00")
        h = t.BeaconBlockHeader(slot=block.slot, parent_root=block.parent_root, state_root=block.state_root,
                                body_root=body.hash_tree_root())
        h.signature = bls.sign(h.signing_root(), KEYS[proposer], get_domain(state, cfg.DOMAIN_BEACON_PROPOSER))
        headers.append(h)
    proposer_slashing = t.ProposerSlashing(proposer_index=proposer, header_1=headers[0], header_2=headers[1])
    at10 = state_at_slot(state, 10)
    vote_head = make_attestations(state, head, 10)[0]
    vote_parent = make_attestations(state, bytes(block.parent_root), 10)[0]
    attester_slashing = t.AttesterSlashing(attestation_1=get_indexed_attestation(at10, vote_head),
                                           attestation_2=get_indexed_attestation(at10, vote_parent))
    return [(1, proposer_slashing), (2, attester_slashing)]


def _builder() -> _Built:
    if "built" not in _cache:
        _cache["built"] = _Built()
    return _cache["built"]


def _adapter() -> Any:
    if "adapter" not in _cache:
        from beacon.chain import Chain
        from beacon.p2p.chain_view import ChainAdapter

        built = _builder()
        d = tempfile.mkdtemp(prefix="fuzz-chain-")
        chain = Chain.open(d, _genesis16(), clock=lambda: _NOW)
        for root in built.order:
            chain.import_block(built.blocks[root])
        _cache["adapter"] = ChainAdapter(chain, clock=lambda: _NOW)
    return _cache["adapter"]


def _setup_gossip(kind: str) -> Callable[[], Fn]:
    def setup() -> Fn:
        from beacon.p2p.constants import (
            TOPIC_ATTESTER_SLASHING, TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK, TOPIC_PROPOSER_SLASHING,
            TOPIC_VOLUNTARY_EXIT,
        )
        from beacon.p2p.interface import GossipVerdict

        adapter = _adapter()
        if kind == "operation":
            topics = [TOPIC_VOLUNTARY_EXIT, TOPIC_PROPOSER_SLASHING, TOPIC_ATTESTER_SLASHING]
        else:
            topics = [TOPIC_BEACON_BLOCK if kind == "block" else TOPIC_BEACON_ATTESTATION]

        def one(data: bytes) -> None:
            if not data:
                return
            topic = topics[data[0] % len(topics)]
            verdict = _drive(adapter.validate_gossip(topic, data[1:]))
            if not isinstance(verdict, GossipVerdict):
                raise AssertionError(f"validate_gossip returned {verdict!r}")

        return one

    return setup


def _seeds_gossip_block() -> list[bytes]:
    b = _builder()
    out = [b"\x00" + b.next_block.serialize()]
    out += [b"\x00" + b.blocks[r].serialize() for r in b.order[-2:]]
    out += [b"\x00" + s for s in _vector_files("sanity/blocks/pyspec_tests", "*/blocks_0.ssz", 3)]
    return out


def _seeds_gossip_attestation() -> list[bytes]:
    out = [b"\x00" + a.serialize() for a in _builder().attestations]
    out += [b"\x00" + s for s in _vector_files("operations/attestation/pyspec_tests", "*/attestation.ssz", 3)]
    return out


def _seeds_gossip_operation() -> list[bytes]:
    out = [bytes([topic]) + op.serialize() for topic, op in _builder().operations]
    out += [b"\x00" + s for s in _vector_files("operations/voluntary_exit/pyspec_tests", "*/voluntary_exit.ssz", 3)]
    out += [b"\x01" + s for s in _vector_files("operations/proposer_slashing/pyspec_tests", "*/proposer_slashing.ssz", 3)]
    out += [b"\x02" + s for s in _vector_files("operations/attester_slashing/pyspec_tests", "*/attester_slashing.ssz", 3)]
    return out


def _no_errors() -> tuple[type[BaseException], ...]:
    return ()


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("ssz", "SSZ decode + re-encode + root of every phase-0 container but BeaconState (byte 0 picks)",
           _setup_ssz, _decode_errors, _seeds_ssz, weight=150000),
    Target("ssz_pyssz", "differential: our SSZ decoder against py-ssz 0.6 (accept/refuse and roots), "
           "every container but BeaconBlock(Body) and BeaconState", _setup_ssz_pyssz, _no_errors, _seeds_ssz_pyssz,
           weight=60000),
    Target("ssz_state", "SSZ decode + re-encode + root of BeaconState (minimal)", _setup_ssz_state, _decode_errors,
           lambda: _ssz_seeds("BeaconState"), weight=40000),
    Target("reqresp_framing", "req/resp stream reading (varint, result byte, chunked payload, EOF) and the "
           "request/response decoders", _setup_reqresp, _reqresp_errors, _seeds_reqresp, weight=280000),
    Target("reqresp_handlers", "the four req/resp handlers on a real chain", _setup_reqresp_handlers,
           _handler_errors, _seeds_handlers, weight=200000, tags=("chain",)),
    Target("gossip_block", "beacon_block gossip validation (decode + checks + import) on a real chain",
           _setup_gossip("block"), _no_errors, _seeds_gossip_block, weight=70000, tags=("chain",)),
    Target("gossip_attestation", "beacon_attestation gossip validation on a real chain",
           _setup_gossip("attestation"), _no_errors, _seeds_gossip_attestation, weight=90000, tags=("chain",)),
    Target("gossip_operation", "voluntary_exit / proposer_slashing / attester_slashing gossip validation",
           _setup_gossip("operation"), _no_errors, _seeds_gossip_operation, weight=90000, tags=("chain",)),
    Target("genesis_load", "genesis state files (.ssz and .yaml) through load_genesis_state", _setup_genesis,
           _genesis_errors, _seeds_genesis, weight=12000),
    Target("config_load", "config override files through load_config, then the containers built from them",
           _setup_config, _config_errors, lambda: [_CONFIG_SEED, b"SHARD_COUNT: 0x10\n", b"{}"], weight=10000),
    Target("node_key", "the node key file through load_node_key", _setup_node_key, _node_key_errors,
           _seeds_node_key, weight=50000),
    Target("datadir", "a beacon datadir with one damaged record, opened as the node does (Chain.open)",
           _setup_datadir, _store_errors, _seeds_datadir, weight=3000, tags=("chain",)),
    Target("protection", "the slashing-protection DB with one foreign record, opened and queried",
           _setup_protection, _protection_errors, _seeds_protection, weight=5000),
]}
