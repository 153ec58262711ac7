"""Voluntary exits through the API and the CLI, and the offline switch, on one real node.

One node process (no p2p) runs 16 validators on 1-second slots with PERSISTENT_COMMITTEE_PERIOD 2,
so an exit is too early in epochs 0-1 and allowed from epoch 2 (16 s after genesis).
"""
from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.node.helpers import node, pybeacon, signed_messages, slashable_pairs, write_config  # noqa: E402

SPE = 8


def post(port: int, path: str, body: object, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exit")
    cfg = write_config(tmp / "cfg.yaml", SECONDS_PER_SLOT=1, PERSISTENT_COMMITTEE_PERIOD=2)
    genesis_time = int(time.time()) + 4
    a = node(tmp, "a", "--interop-validators", "16", "--interop-genesis-time", str(genesis_time),
             "--validators", "0:16", "--config", str(cfg), p2p=False).start()
    a.cfg = cfg
    try:
        a.wait_for(lambda s: s["head"]["slot"] >= 1, 40, "head slot 1")
        yield a
    finally:
        a.stop()


def cli_exit(a, index: int, *extra: str):
    return pybeacon("validator", "exit", "--index", str(index), "--api", f"http://127.0.0.1:{a.http_port}",
                    "--config", str(a.cfg), *extra, timeout=60)


def test_exit_refusals_then_exit_included(one):
    a = one
    api = "/eth/v1/beacon/pool/voluntary_exits"
    # Epoch 0: too early (activation 0 + PERSISTENT_COMMITTEE_PERIOD 2).
    r = cli_exit(a, 3)
    assert r.returncode == 1, r.stderr
    assert "too early: validator 3 may exit from epoch 2 on" in r.stderr
    # Malformed requests: each a 400 (or 415) naming what is wrong.
    sig = "0x" + "00" * 96
    assert post(a.http_port, api, b"{nope")[0] == 400
    code, doc = post(a.http_port, api, {"message": {"epoch": "0"}, "signature": sig})
    assert code == 400 and "epoch and validator_index" in doc["message"]
    code, doc = post(a.http_port, api, {"message": {"epoch": "0", "validator_index": "1"}, "signature": "0x12"})
    assert code == 400 and "192 hex digits" in doc["message"]
    code, doc = post(a.http_port, api, {"message": {"epoch": "x", "validator_index": "1"}, "signature": sig})
    assert code == 400 and "message.epoch" in doc["message"]
    assert post(a.http_port, api, b"{}", content_type="text/plain")[0] == 415
    # Unknown validator: the node says so.
    r = cli_exit(a, 99)
    assert r.returncode == 1 and "unknown validator 99: the state has 16 validators" in r.stderr, r.stderr
    # A future epoch.
    r = cli_exit(a, 3, "--epoch", "50")
    assert r.returncode == 1 and "exit epoch 50 is in the future" in r.stderr, r.stderr
    # Usage errors of the CLI itself: exit status 2, one line.
    r = pybeacon("validator", "exit", "--index", "3", "--api", "127.0.0.1:1")
    assert r.returncode == 2 and "--api wants a URL" in r.stderr
    r = pybeacon("validator", "exit", "--index", "3", "--api", "http://127.0.0.1:1")
    assert r.returncode == 2 and "cannot reach the node API" in r.stderr
    # From epoch 2 on: a wrong signature is refused, a right one pooled and included.
    a.wait_for(lambda s: s["head"]["slot"] >= 2 * SPE, 40, "epoch 2")
    code, doc = post(a.http_port, api, {"message": {"epoch": "2", "validator_index": "3"}, "signature": sig})
    assert code == 400 and "invalid signature" in doc["message"], doc
    r = cli_exit(a, 3)
    assert r.returncode == 0, r.stderr
    assert "voluntary exit for epoch 2 accepted" in r.stdout
    deadline = time.time() + 30
    while time.time() < deadline:
        v = a.get("/eth/v1/beacon/states/head/validators/3")["data"]
        if v["validator"]["exit_epoch"] != str(2**64 - 1):
            break
        time.sleep(0.5)
    exit_epoch = int(v["validator"]["exit_epoch"])
    assert 2 + 1 + 4 <= exit_epoch <= 4 + 1 + 4  # compute_activation_exit_epoch of the inclusion epoch
    assert v["status"] == "active_exiting"
    assert a.get(api)["data"] == []  # included: out of the pool
    r = cli_exit(a, 3)
    assert r.returncode == 1 and f"validator 3 is already exiting (exit epoch {exit_epoch}" in r.stderr
    assert re.search(r"voluntary exit of validator 3 \(epoch 2\) pooled", a.log)


def test_offline_switch(one):
    a = one
    path = "/pybeacon/v1/validators/offline"
    code, doc = post(a.http_port, path, {"validators": "12:8", "offline": True})
    assert code == 400 and "validator 16 is not run by this node (it runs 0-15)" in doc["message"]
    code, doc = post(a.http_port, path, {"validators": "12:4", "offline": "yes"})
    assert code == 400 and "offline must be true or false" in doc["message"]
    code, doc = post(a.http_port, path, {"validators": "1:x"})
    assert code == 400 and "START:COUNT" in doc["message"]
    code, doc = post(a.http_port, path, {"validators": "12:4", "offline": True})
    assert code == 200 and doc["data"]["offline"] == ["12", "13", "14", "15"]
    assert a.get(path)["data"]["offline"] == ["12", "13", "14", "15"]
    went = a.status()["head"]["slot"]
    a.wait_for(lambda s: s["head"]["slot"] >= went + SPE + 2, 30, "one epoch offline")
    code, doc = post(a.http_port, path, {"validators": [12, 13, 14, 15], "offline": False})
    assert code == 200 and doc["data"]["offline"] == []
    back = a.status()["head"]["slot"]
    a.wait_for(lambda s: s["head"]["slot"] >= back + SPE + 2, 30, "one epoch back online")
    atts, blocks = signed_messages(a.log)
    quiet = [(v, t) for v, _s, t, _r in atts if v >= 12 and went // SPE + 1 <= t < back // SPE]
    assert quiet == [], f"offline validators signed: {quiet[:5]}"
    assert not [b for b in blocks if b[0] >= 12 and went + 1 < b[2] < back]
    assert {v for v, _s, t, _r in atts if t > back // SPE} >= {12, 13, 14, 15}  # they came back
    assert slashable_pairs(a.log) == []
    stats = a.get("/validator/stats")["duties"]["attestation"]
    assert stats["offline"] >= 4 and stats.get("missed", 0) == 0  # skipped while offline, not missed
