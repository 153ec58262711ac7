"""The node's own HTTP views (/node/status, ... the harness reads) and metrics, read over real
TCP from a running node process (16 validators, 1-second slots, JSON logs; tests/api/conftest.py)."""
from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def get(a, path: str, port: int | None = None):
    with urllib.request.urlopen(f"http://127.0.0.1:{port or a.http_port}{path}", timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def get_error(a, path: str) -> tuple[int, dict]:
    with pytest.raises(urllib.error.HTTPError) as e:
        get(a, path)
    return e.value.code, json.loads(e.value.read())


def test_status_is_the_harness_contract(running):
    st = running.get("/node/status")
    assert set(st) == {"version", "genesis_time", "syncing", "head", "justified", "finalized", "peers", "reorgs"}
    # One node, one branch: no reorg.
    assert st["reorgs"] == {"count": 0, "last_depth": 0, "max_depth": 0, "last_slot": 0}
    assert set(st["head"]) == {"slot", "root", "state_root"}
    assert set(st["justified"]) == {"epoch", "root"} and set(st["finalized"]) == {"epoch", "root"}
    for root in (st["head"]["root"], st["head"]["state_root"], st["justified"]["root"], st["finalized"]["root"]):
        assert root.startswith("0x") and len(bytes.fromhex(root[2:])) == 32
    assert isinstance(st["head"]["slot"], int) and st["syncing"] is False and st["peers"] == []
    assert st["version"] == running.get("/node/version")["version"]
    ident = running.get("/node/identity")
    assert ident["multiaddr"] == running.multiaddr() and ident["multiaddr"].endswith("/p2p/" + ident["peer_id"])
    assert running.get("/node/peers") == {"peers": []}
    sync = running.get("/node/syncing")
    assert sync["syncing"] is False and sync["wall_slot"] >= sync["head_slot"] - 1


def test_blocks_by_slot_and_root(running):
    head = running.get("/beacon/head")
    assert head["epoch"] == head["slot"] // 8
    # A loaded machine may miss a proposal: take the latest block at or below slot 5.
    def block_at(s: int):
        try:
            return running.get(f"/beacon/block?slot={s}")
        except urllib.error.HTTPError as e:
            assert e.code == 404  # an empty slot
            return None

    slot, by_slot = next((s, b) for s in range(5, 0, -1) if (b := block_at(s)) is not None)
    assert by_slot["canonical"] is True and by_slot["block"]["slot"] == slot
    by_root = running.get(f"/beacon/block?root={by_slot['root']}")
    assert by_root == by_slot
    # Its state root is the state root at that slot; the head's is the head's.
    assert running.get(f"/beacon/state/root?slot={slot}")["root"] == by_slot["block"]["state_root"]
    assert running.get(f"/beacon/state/root?slot={head['slot']}")["root"] == head["state_root"]
    # A parent link: the block's parent is the latest canonical block below it.
    parent = running.get(f"/beacon/block?root={by_slot['block']['parent_root']}")
    assert parent["canonical"] is True and parent["block"]["slot"] < slot


@pytest.mark.parametrize("path, status, needle", [
    ("/beacon/block", 400, "exactly one"),
    ("/beacon/block?slot=1&root=0x" + "00" * 32, 400, "exactly one"),
    ("/beacon/block?slot=x", 400, "integer"),
    ("/beacon/block?slot=-1", 400, "negative"),
    ("/beacon/block?root=0x1234", 400, "32 bytes"),
    ("/beacon/block?root=0x" + "ab" * 32, 404, "unknown block"),
    ("/beacon/block?slot=100000", 404, "no canonical block"),
    ("/beacon/state/root?slot=100000", 404, "beyond the head"),
    ("/validator/duties?epoch=1000", 400, "epochs"),
    ("/no/such/path", 404, "no such path"),
])
def test_bad_requests(running, path, status, needle):
    code, doc = get_error(running, path)
    assert code == status and doc["code"] == status and needle in doc["message"]


def test_duties_cover_every_validator_once(running):
    doc = running.get("/validator/duties")
    assert doc["validators"] == list(range(16))
    attesters = sorted(v for d in doc["attesters"] for v in d["validators"])
    assert attesters == list(range(16))  # each validator attests once per epoch
    assert all(doc["epoch"] * 8 <= d["slot"] < doc["epoch"] * 8 + 8 for d in doc["attesters"])
    nxt = running.get(f"/validator/duties?epoch={doc['epoch'] + 1}")
    assert sorted(v for d in nxt["attesters"] for v in d["validators"]) == list(range(16))
    stats = running.get("/validator/stats")
    # Every duty is accounted for: done, or missed (a loaded machine may miss one).
    att = stats["duties"]["attestation"]
    assert att["done"] + att.get("missed", 0) >= 16 and att["done"] >= 8


def test_metrics_endpoint(running):
    status, ctype, body = get(running, "/metrics", port=running.metrics_port)
    assert status == 200 and ctype.startswith("text/plain")
    text = body.decode()
    for name in ("libp2p_peers", "beacon_slot", "beacon_head_slot", "beacon_head_root", "beacon_finalized_epoch",
                 "beacon_finalized_root", "beacon_current_justified_epoch", "beacon_current_justified_root",
                 "beacon_previous_justified_epoch", "beacon_previous_justified_root",
                 "pybeacon_blocks_imported_total", "pybeacon_blocks_rejected_total",
                 "pybeacon_attestations_imported_total", "pybeacon_attestations_rejected_total",
                 "pybeacon_block_import_seconds_bucket", 'pybeacon_duties_total{kind="proposal"}',
                 'pybeacon_duties_missed_total{kind="attestation"}', "beacon_reorgs_total 0.0",
                 "beacon_reorg_depth 0.0", "beacon_reorg_max_depth 0.0"):
        assert f"\n{name}" in text, name
    assert "_created" not in text
    # The metrics port serves only metrics; the API port does not serve them.
    code, _ = get_error(running, "/metrics")
    assert code == 404


def raw_request(port: int, data: bytes) -> bytes:
    """Send `data`, read the answer until the server closes or 3 s pass after a complete answer
    (after an error the server may keep the connection until its keep-alive timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=8) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except TimeoutError:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                s.settimeout(3)
    return out


def test_http_server_edge_cases(running):
    assert raw_request(running.http_port, b"POST /node/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert raw_request(running.http_port, b"hello\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = b"GET /node/status HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    reply = raw_request(running.http_port, big)
    assert reply == b"" or reply.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), reply[:80]
    # A request body is refused before it is read (only small JSON bodies are taken).
    body = raw_request(running.http_port, b"GET /node/status HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                                          b"Connection: close\r\n\r\n")
    assert body.startswith(b"HTTP/1.1 413") and b'"code":413' in body
    # Clients that connect and say nothing, or dribble a request head, do not block others,
    # and are cut off after the keep-alive timeout (5 s).
    idle = socket.create_connection(("127.0.0.1", running.http_port))
    slow = socket.create_connection(("127.0.0.1", running.http_port))
    try:
        slow.sendall(b"GET /node/status HTTP/1.1\r\n")
        assert running.get("/node/version")["version"].startswith("pybeacon/")
        started = time.monotonic()
        for s in (idle, slow):
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        assert time.monotonic() - started < 9.5
    finally:
        idle.close()
        slow.close()


def test_json_logs(running):
    time.sleep(1.5)
    lines = [line for line in running.log.splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "msg"} <= set(d) for d in docs)
    slot_lines = [d for d in docs if d["msg"].startswith("slot ") and "head_slot" in d]
    assert len(slot_lines) >= 8
    last = slot_lines[-1]
    assert last["epoch"] == last["slot"] // 8 and last["attested"] == 2 and last["peers"] == 0
    assert any("multiaddr" in d and d["multiaddr"] for d in docs)
