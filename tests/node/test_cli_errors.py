"""Bad input to `pybeacon [node]`: one clear line on stderr, non-zero exit, datadir untouched.

Every case runs the real CLI in a subprocess. "Untouched" means: a datadir that did not exist
is not created, and one that existed keeps exactly its files (or, where the refusal can only
come from opening the database, exactly its key/value records).
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from .helpers import assert_one_line_error, free_ports, make_genesis, node, pybeacon, tree_snapshot, write_config


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    cfg = write_config(d / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis = make_genesis(d / "g16.ssz", 16, int(time.time()) + 3600, cfg)
    return d, cfg, genesis


def run_node(*args: str):
    """The node command with ports that are free, so only the flag under test can be wrong."""
    p2p, http, metrics = free_ports(3)
    base = ["--listen-address", "127.0.0.1"]
    if "--port" not in args:
        base += ["--port", str(p2p)]
    if "--http-port" not in args:
        base += ["--http-port", str(http)]
    if "--metrics-port" not in args:
        base += ["--metrics-port", str(metrics)]
    return pybeacon(*args, *base, timeout=120)


def test_no_genesis(tmp_path):
    dd = tmp_path / "dd"
    r = run_node("--datadir", str(dd))
    assert_one_line_error(r, "no genesis", "--genesis")
    assert not dd.exists()


def test_genesis_and_interop_together(files, tmp_path):
    _, _, genesis = files
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(genesis), "--interop-validators", "16", "--interop-genesis-time", "0",
                 "--datadir", str(dd))
    assert_one_line_error(r, "either --genesis")
    assert not dd.exists()


def test_missing_genesis_file(tmp_path):
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(tmp_path / "nope.ssz"), "--datadir", str(dd))
    assert_one_line_error(r, "cannot read genesis file", "nope.ssz")
    assert not dd.exists()


def test_corrupt_genesis_file(tmp_path):
    bad = tmp_path / "bad.ssz"
    bad.write_bytes(b"\x01" * 1000)
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(bad), "--datadir", str(dd))
    assert_one_line_error(r, "not a valid minimal BeaconState")
    assert not dd.exists()


def test_genesis_of_another_preset(files, tmp_path):
    _, _, genesis = files  # a minimal-preset state, started as mainnet
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(genesis), "--preset", "mainnet", "--datadir", str(dd))
    assert_one_line_error(r, "minimal preset", "--preset minimal")
    assert not dd.exists()


@pytest.mark.parametrize("flags, needle", [
    (["--validators", "0-16"], "START:COUNT"),
    (["--validators", "a:b"], "two integers"),
    (["--validators", "8:16"], "out of range"),  # 8..23 in a 16-validator genesis
    (["--validator-indices", "1,x"], "comma-separated"),
    (["--validator-indices", "3,3"], "twice"),
    (["--validators", "0:4", "--validator-indices", "5"], "not both"),
])
def test_bad_validator_selection(files, tmp_path, flags, needle):
    _, cfg, genesis = files
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(genesis), "--config", str(cfg), *flags, "--datadir", str(dd))
    assert_one_line_error(r, needle)
    assert not dd.exists()


def test_interop_genesis_flags(tmp_path):
    dd = tmp_path / "dd"
    r = run_node("--interop-validators", "16", "--datadir", str(dd))
    assert_one_line_error(r, "--interop-genesis-time")
    r = run_node("--interop-validators", "16", "--interop-genesis-time", "soon", "--datadir", str(dd))
    assert_one_line_error(r, "Unix seconds")
    r = run_node("--interop-validators", "0", "--interop-genesis-time", "0", "--datadir", str(dd))
    assert_one_line_error(r, "at least 1")
    assert not dd.exists()


def test_config_file_problems(files, tmp_path):
    _, _, genesis = files
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(genesis), "--config", str(tmp_path / "missing.yaml"), "--datadir", str(dd))
    assert_one_line_error(r, "cannot read config file")
    bad = write_config(tmp_path / "bad.yaml", SECONDS_PER_SLOT="soon")
    r = run_node("--genesis", str(genesis), "--config", str(bad), "--datadir", str(dd))
    assert_one_line_error(r, "SECONDS_PER_SLOT must be an integer")
    unknown = write_config(tmp_path / "unknown.yaml", SECONDS_PER_SLOTS=1)
    r = run_node("--genesis", str(genesis), "--config", str(unknown), "--datadir", str(dd))
    assert_one_line_error(r, "unknown constant")
    assert not dd.exists()


def test_bad_peer_address(files, tmp_path):
    _, cfg, genesis = files
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(genesis), "--config", str(cfg), "--peer", "/ip4/127.0.0.1/tcp/9000",
                 "--datadir", str(dd))
    assert_one_line_error(r, "--peer", "/p2p/")
    assert not dd.exists()


def test_bad_and_clashing_ports(files, tmp_path):
    _, cfg, genesis = files
    dd = tmp_path / "dd"
    r = run_node("--genesis", str(genesis), "--config", str(cfg), "--port", "70000", "--datadir", str(dd))
    assert_one_line_error(r, "--port", "0..65535")
    r = run_node("--genesis", str(genesis), "--config", str(cfg), "--http-port", "7001", "--metrics-port", "7001",
                 "--datadir", str(dd))
    assert_one_line_error(r, "must differ")
    assert not dd.exists()


@pytest.mark.parametrize("flag", ["--port", "--http-port", "--metrics-port"])
def test_port_in_use(files, tmp_path, flag):
    _, cfg, genesis = files
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    dd = tmp_path / "dd"
    try:
        r = run_node("--genesis", str(genesis), "--config", str(cfg), "--validators", "0:16", flag, str(port),
                     "--datadir", str(dd))
    finally:
        holder.close()
    assert_one_line_error(r, flag, str(port), "not available")
    assert not dd.exists()


def test_datadir_is_a_file(files, tmp_path):
    _, cfg, genesis = files
    f = tmp_path / "file"
    f.write_text("not a directory")
    r = run_node("--genesis", str(genesis), "--config", str(cfg), "--datadir", str(f))
    assert_one_line_error(r, "not a directory")
    assert f.read_text() == "not a directory"


def test_corrupt_node_key(files, tmp_path):
    _, cfg, genesis = files
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "node_key").write_text("zz-not-hex\n")
    before = tree_snapshot(dd)
    r = run_node("--genesis", str(genesis), "--config", str(cfg), "--datadir", str(dd))
    assert_one_line_error(r, "node key")
    assert tree_snapshot(dd) == before


def test_unreadable_node_key(files, tmp_path):
    """A node_key that is a folder (found by hand, not by the fuzzer: it only varies contents)."""
    _, cfg, genesis = files
    dd = tmp_path / "dd"
    (dd / "node_key").mkdir(parents=True)
    r = run_node("--genesis", str(genesis), "--config", str(cfg), "--datadir", str(dd))
    assert_one_line_error(r, "node key", "is a directory")


def _records(datadir: Path) -> dict:
    import plyvel

    out = {}
    for name in ("beacon.ldb", "slashing_protection.ldb"):
        if (datadir / name).exists():
            db = plyvel.DB(str(datadir / name))
            out[name] = dict(db.iterator())
            db.close()
    return out


@pytest.mark.slow
def test_datadir_of_another_chain_and_in_use(files, tmp_path):
    """A datadir stamped by one genesis refuses another (records unchanged); a datadir held by a
    running node refuses a second node."""
    d, cfg, genesis = files
    a = node(tmp_path, "a", "--genesis", str(genesis), "--config", str(cfg), "--validators", "0:4", p2p=False).start()
    try:
        a.wait_for(lambda st: True, 60, "status")
        # Same datadir, same genesis, other ports: the running node holds it.
        p2p, http, metrics = free_ports(3)
        r = pybeacon("--genesis", str(genesis), "--config", str(cfg), "--datadir", str(a.datadir), "--no-p2p",
                     "--http-port", str(http), "--metrics-port", str(metrics))
        assert_one_line_error(r, "in use")
    finally:
        assert a.stop() == 0
    before = _records(a.datadir)
    assert before["beacon.ldb"] and before["slashing_protection.ldb"]
    other = make_genesis(tmp_path / "other.ssz", 16, int(time.time()) + 7200, cfg)
    r = run_node("--genesis", str(other), "--config", str(cfg), "--validators", "0:4", "--datadir", str(a.datadir))
    assert_one_line_error(r, "genesis")
    assert _records(a.datadir) == before
