"""The standard Beacon API (/eth/v1) of a running node, over real TCP: shapes, every kind of id,
400/404 errors in the standard JSON, SSZ round trips, and the server-sent event stream."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from beacon.config import load_config
from beacon.types import get_types

ROOT_RE_LEN = 66
TYPES = get_types(load_config("minimal", {"SECONDS_PER_SLOT": 1}))


def req(a, path: str, accept: str | None = None) -> tuple[int, str, bytes]:
    r = urllib.request.Request(f"http://127.0.0.1:{a.http_port}{path}")
    if accept:
        r.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def data(a, path: str):
    status, ctype, body = req(a, path)
    assert status == 200, (path, status, body[:300])
    assert ctype.startswith("application/json")
    doc = json.loads(body)
    assert "data" in doc, doc
    return doc["data"]


def is_root(x) -> bool:
    return isinstance(x, str) and x.startswith("0x") and len(x) == ROOT_RE_LEN and int(x, 16) >= 0


def is_uint(x) -> bool:
    return isinstance(x, str) and x.isdigit()


def block_slots(a, upto: int = 10) -> list[int]:
    """Slots 1..upto that have a canonical block (a starved node may miss some)."""
    return [s for s in range(1, upto + 1) if req(a, f"/eth/v1/beacon/blocks/{s}/root")[0] == 200]


def test_node_endpoints(running):
    ident = data(running, "/eth/v1/node/identity")
    assert set(ident) >= {"peer_id", "enr", "p2p_addresses", "discovery_addresses", "metadata"}
    assert ident["p2p_addresses"] == [running.multiaddr()] and ident["p2p_addresses"][0].endswith(ident["peer_id"])
    status, _, body = req(running, "/eth/v1/node/peers")
    assert status == 200 and json.loads(body) == {"data": [], "meta": {"count": 0}}
    assert data(running, "/eth/v1/node/peers?state=connected&direction=inbound") == []
    sync = data(running, "/eth/v1/node/syncing")
    assert set(sync) == {"head_slot", "sync_distance", "is_syncing"} and sync["is_syncing"] is False
    assert is_uint(sync["head_slot"]) and int(sync["sync_distance"]) <= 2
    assert data(running, "/eth/v1/node/version")["version"].startswith("pybeacon/")
    status, _, body = req(running, "/eth/v1/node/health")
    assert status == 200 and body == b""
    gen = data(running, "/eth/v1/beacon/genesis")
    assert is_uint(gen["genesis_time"]) and is_root(gen["genesis_validators_root"])
    assert gen["genesis_fork_version"] == "0x00000000"
    assert int(gen["genesis_time"]) == running.get("/node/status")["genesis_time"]


def test_block_ids_agree(running):
    head = data(running, "/eth/v1/beacon/headers/head")
    slot = int(head["header"]["message"]["slot"])
    assert head["canonical"] is True and is_root(head["root"]) and is_root(head["header"]["signature"][:66])
    assert set(head["header"]["message"]) == {"slot", "parent_root", "state_root", "body_root"}
    by_root = data(running, f"/eth/v1/beacon/headers/{head['root']}")
    assert by_root["root"] == head["root"]
    assert data(running, f"/eth/v1/beacon/blocks/{slot}/root")["root"] == head["root"] or \
        int(data(running, "/eth/v1/beacon/headers/head")["header"]["message"]["slot"]) > slot  # head moved on
    genesis = data(running, "/eth/v1/beacon/blocks/genesis/root")["root"]
    assert data(running, "/eth/v1/beacon/blocks/0/root")["root"] == genesis
    assert data(running, "/eth/v1/beacon/blocks/finalized/root")["root"] == running.get("/node/status")["finalized"]["root"] \
        or running.get("/node/status")["finalized"]["epoch"] == 0
    assert is_root(data(running, "/eth/v1/beacon/blocks/justified/root")["root"])
    # A parent link: a block's parent is the canonical block of the slot before it that has one.
    slots = block_slots(running)
    assert len(slots) >= 5, slots
    prev, s5 = slots[2], slots[3]
    b5 = data(running, f"/eth/v1/beacon/blocks/{s5}")
    assert set(b5) == {"message", "signature"}
    assert set(b5["message"]) == {"slot", "parent_root", "state_root", "body"} and b5["message"]["slot"] == str(s5)
    assert b5["message"]["parent_root"] == data(running, f"/eth/v1/beacon/blocks/{prev}/root")["root"]
    body = b5["message"]["body"]
    assert set(body) >= {"randao_reveal", "eth1_data", "graffiti", "proposer_slashings", "attester_slashings",
                         "attestations", "deposits", "voluntary_exits", "transfers"}
    with_atts = next(data(running, f"/eth/v1/beacon/blocks/{s}")["message"]["body"]["attestations"]
                     for s in slots[1:] if data(running, f"/eth/v1/beacon/blocks/{s}")["message"]["body"]["attestations"])
    att = with_atts[0]
    assert att["aggregation_bits"].startswith("0x") and is_uint(att["data"]["target"]["epoch"])
    # headers?slot= and ?parent_root= find the same block
    assert [h["root"] for h in data(running, f"/eth/v1/beacon/headers?slot={s5}")] == [
        data(running, f"/eth/v1/beacon/blocks/{s5}/root")["root"]]
    kids = data(running, f"/eth/v1/beacon/headers?parent_root={b5['message']['parent_root']}")
    assert [h["header"]["message"]["slot"] for h in kids] == [str(s5)]


def test_block_ssz_round_trip(running):
    slot = block_slots(running)[-1]
    root = data(running, f"/eth/v1/beacon/blocks/{slot}/root")["root"]
    status, ctype, raw = req(running, f"/eth/v1/beacon/blocks/{root}", accept="application/octet-stream")
    assert status == 200 and ctype == "application/octet-stream"
    block = TYPES.BeaconBlock.deserialize(raw)
    assert "0x" + block.signing_root().hex() == root and block.slot == slot
    as_json = data(running, f"/eth/v1/beacon/blocks/{root}")
    assert as_json["message"]["state_root"] == "0x" + bytes(block.state_root).hex()
    assert as_json["signature"] == "0x" + bytes(block.signature).hex()
    # JSON preferred by q-value: JSON
    status, ctype, _ = req(running, f"/eth/v1/beacon/blocks/{root}",
                           accept="application/octet-stream;q=0.5, application/json;q=0.9")
    assert ctype.startswith("application/json")


def test_states(running):
    for sid in ("head", "genesis", "finalized", "justified", "3"):
        assert is_root(data(running, f"/eth/v1/beacon/states/{sid}/root")["root"]), sid
    # A block's post-state root, asked by slot and by its own root, is the block's state_root.
    s7 = block_slots(running)[-1]
    b7 = data(running, f"/eth/v1/beacon/headers/{s7}")["header"]["message"]
    assert data(running, f"/eth/v1/beacon/states/{s7}/root")["root"] == b7["state_root"]
    assert data(running, f"/eth/v1/beacon/states/{b7['state_root']}/root")["root"] == b7["state_root"]
    fc = data(running, "/eth/v1/beacon/states/head/finality_checkpoints")
    assert set(fc) == {"previous_justified", "current_justified", "finalized"}
    assert all(is_uint(c["epoch"]) and is_root(c["root"]) for c in fc.values())
    vals = data(running, "/eth/v1/beacon/states/head/validators")
    assert len(vals) == 16 and vals[3]["index"] == "3" and vals[3]["status"] == "active_ongoing"
    assert set(vals[3]["validator"]) == {"pubkey", "withdrawal_credentials", "effective_balance", "slashed",
                                         "activation_eligibility_epoch", "activation_epoch", "exit_epoch",
                                         "withdrawable_epoch"}
    pk = vals[5]["validator"]["pubkey"]
    picked = data(running, f"/eth/v1/beacon/states/head/validators?id=1,{pk}&id=99")
    assert [v["index"] for v in picked] == ["1", "5"]  # unknown ids are left out
    assert len(data(running, "/eth/v1/beacon/states/head/validators?status=active")) == 16
    assert data(running, "/eth/v1/beacon/states/head/validators?status=exited,pending_queued") == []
    assert data(running, f"/eth/v1/beacon/states/head/validators/{pk}")["index"] == "5"
    assert data(running, "/eth/v1/beacon/states/genesis/validators/2")["status"] == "active_ongoing"
    bal = data(running, "/eth/v1/beacon/states/head/validator_balances?id=0,15")
    assert [b["index"] for b in bal] == ["0", "15"] and all(is_uint(b["balance"]) for b in bal)
    # Committees: every active validator once per epoch; filters by slot and index.
    com = data(running, "/eth/v1/beacon/states/head/committees")
    assert sorted(int(v) for c in com for v in c["validators"]) == list(range(16))
    epoch = int(data(running, "/eth/v1/beacon/headers/head")["header"]["message"]["slot"]) // 8
    one = data(running, f"/eth/v1/beacon/states/head/committees?epoch={epoch}&slot={epoch * 8 + 2}&index=0")
    assert len(one) == 1 and one[0]["slot"] == str(epoch * 8 + 2) and one[0]["index"] == "0"


def test_debug_state_ssz_round_trip_and_heads(running):
    root = data(running, "/eth/v1/beacon/states/5/root")["root"]
    status, ctype, raw = req(running, "/eth/v1/debug/beacon/states/5", accept="application/octet-stream")
    assert status == 200 and ctype == "application/octet-stream"
    state = TYPES.BeaconState.deserialize(raw)
    assert "0x" + state.hash_tree_root().hex() == root and state.slot == 5
    as_json = data(running, "/eth/v1/debug/beacon/states/5")
    assert as_json["slot"] == "5" and len(as_json["validators"]) == 16
    heads = data(running, "/eth/v1/debug/beacon/heads")
    assert len(heads) == 1 and is_root(heads[0]["root"]) and is_uint(heads[0]["slot"])


@pytest.mark.parametrize("path, status, needle", [
    ("/eth/v1/beacon/blocks/tip", 400, "invalid block_id"),
    ("/eth/v1/beacon/blocks/-1", 400, "invalid block_id"),
    ("/eth/v1/beacon/blocks/0x1234", 400, "64 hex"),
    ("/eth/v1/beacon/blocks/0x" + "zz" * 32, 400, "64 hex"),
    ("/eth/v1/beacon/blocks/" + "9" * 30, 400, "uint64"),
    ("/eth/v1/beacon/blocks/0x" + "ab" * 32, 404, "unknown block"),
    ("/eth/v1/beacon/blocks/100000", 404, "no canonical block"),
    ("/eth/v1/beacon/headers/100000", 404, "no canonical block"),
    ("/eth/v1/beacon/headers?slot=x", 400, "slot"),
    ("/eth/v1/beacon/headers?slots=1", 400, "unknown query"),
    ("/eth/v1/beacon/blocks/100000/root", 404, "no canonical block"),
    ("/eth/v1/beacon/states/nope/root", 400, "invalid state_id"),
    ("/eth/v1/beacon/states/100000/root", 404, "beyond the head"),
    ("/eth/v1/beacon/states/0x" + "cd" * 32 + "/root", 404, "unknown state root"),
    ("/eth/v1/beacon/states/head/validators?status=sleeping", 400, "invalid validator status"),
    ("/eth/v1/beacon/states/head/validators?id=abc", 400, "validator id"),
    ("/eth/v1/beacon/states/head/validators/1000", 404, "not in this state"),
    ("/eth/v1/beacon/states/head/validators/0x12", 400, "96 hex"),
    ("/eth/v1/beacon/states/head/committees?epoch=1000", 400, "epochs"),
    ("/eth/v1/beacon/states/head/committees?slot=zz", 400, "slot"),
    ("/eth/v1/debug/beacon/states/genesisx", 400, "invalid state_id"),
    ("/eth/v1/node/peers?state=sleeping", 400, "peer state"),
    ("/eth/v1/node/peers/16Uiu2HAmNotThere", 404, "not known"),
    ("/eth/v1/node/peers/bad%20id", 400, "invalid peer id"),
    ("/eth/v1/events", 400, "topics"),
    ("/eth/v1/events?topics=head,weather", 400, "unknown topic"),
    ("/eth/v1/nothing", 404, "no such path"),
])
def test_errors_are_standard(running, path, status, needle):
    code, ctype, body = req(running, path)
    doc = json.loads(body)
    assert code == status and ctype.startswith("application/json") and set(doc) == {"code", "message"}
    assert doc["code"] == status and needle in doc["message"], doc


def sse_events(port: int, topics: str, want: set[str], timeout: float) -> dict[str, dict]:
    """Read the event stream over a raw socket until every topic in `want` was seen once.
    (HTTP/1.0, so the stream is not chunked and frames are the bytes on the wire.)"""
    got: dict[str, dict] = {}
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET /eth/v1/events?topics={topics} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, buf = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
        assert b"text/event-stream" in head, head
        deadline = time.monotonic() + timeout
        while not want <= set(got) and time.monotonic() < deadline:
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in frame.decode().splitlines() if not line.startswith(":"))
                if "event" in fields:
                    got.setdefault(fields["event"], json.loads(fields["data"]))
            chunk = s.recv(65536)
            assert chunk, "stream closed"
            buf += chunk
    return got


def test_event_stream(running):
    ev = sse_events(running.http_port, "head,block,attestation,finalized_checkpoint,chain_reorg",
                    {"head", "block", "attestation", "finalized_checkpoint"}, timeout=45)
    assert set(ev["head"]) >= {"slot", "block", "state", "epoch_transition"} and is_root(ev["head"]["state"])
    assert set(ev["block"]) >= {"slot", "block"} and is_uint(ev["block"]["slot"])
    assert set(ev["attestation"]) == {"aggregation_bits", "data", "custody_bits", "signature"}
    fin = ev["finalized_checkpoint"]
    assert is_uint(fin["epoch"]) and int(fin["epoch"]) >= 1 and is_root(fin["block"]) and is_root(fin["state"])
    # The head event's state root is the node's state for that block.
    assert "chain_reorg" not in ev  # one node, one branch: no reorg


def test_event_stream_subscriber_limit(running):
    """At most 64 streams at once; the 65th is refused with 503, and closing one frees a place."""
    def open_stream() -> tuple[socket.socket, bytes]:
        s = socket.create_connection(("127.0.0.1", running.http_port), timeout=10)
        s.sendall(b"GET /eth/v1/events?topics=head HTTP/1.0\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        return s, head

    streams = []
    try:
        for _ in range(64):
            s, head = open_stream()
            streams.append(s)
            assert head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"), head[:60]
        s, head = open_stream()
        streams.append(s)
        assert b" 503" in head.split(b"\r\n", 1)[0] and b"too many event subscribers" in head + s.recv(4096)
        # The node is not held by them: it still answers and its head moves on.
        slot = int(data(running, "/eth/v1/node/syncing")["head_slot"])
        time.sleep(2.2)
        assert int(data(running, "/eth/v1/node/syncing")["head_slot"]) > slot
    finally:
        for s in streams:
            s.close()
    deadline = time.monotonic() + 10
    while True:  # the server notices the closed streams at their next write (a head event)
        s, head = open_stream()
        s.close()
        if b" 200" in head.split(b"\r\n", 1)[0] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert b" 200" in head.split(b"\r\n", 1)[0], head[:80]
