"""The persistent node key: created once (0600), reused, never silently replaced."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from beacon.p2p.identity import NODE_KEY_FILENAME, SECP256K1_N, NodeKeyError, load_or_create_node_key, peer_id_of
from libp2p.crypto.keys import KeyType


def test_key_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    first = load_or_create_node_key(tmp_path)
    path = tmp_path / NODE_KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.private_key.get_type() is KeyType.Secp256k1
    content = path.read_bytes()

    second = load_or_create_node_key(tmp_path)
    assert path.read_bytes() == content
    assert peer_id_of(second) == peer_id_of(first)
    # secp256k1 public keys are inlined in the peer id (identity multihash).
    assert str(peer_id_of(first)).startswith("16Uiu2")
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize(
    "content",
    [b"", b"not hex at all\n", b"ab" * 31 + b"\n", b"\xff\xfe" * 40, (b"%064x" % SECP256K1_N), b"0" * 64],
    ids=["empty", "text", "short", "binary", "order-n", "zero"],
)
def test_corrupt_key_is_an_error_and_is_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / NODE_KEY_FILENAME
    path.write_bytes(content)
    with pytest.raises(NodeKeyError, match="corrupt"):
        load_or_create_node_key(tmp_path)
    assert path.read_bytes() == content


def test_key_file_accepts_surrounding_whitespace(tmp_path: Path) -> None:
    secret = "11" * 32
    (tmp_path / NODE_KEY_FILENAME).write_text(f"  {secret}\n")
    (tmp_path / NODE_KEY_FILENAME).chmod(0o600)
    kp = load_or_create_node_key(tmp_path)
    assert kp.private_key.to_bytes().hex() == secret
