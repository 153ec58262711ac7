"""The persistent secp256k1 node key.

File format: one line, the 32-byte secp256k1 secret as 64 lowercase hex characters
(the form other 2019 clients accepted for a private-key flag). Created once with mode
0600 and reused; a file that does not parse is an error, never silently replaced,
because replacing it would change our peer id behind the operator's back.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from pathlib import Path

from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.id import ID

log = logging.getLogger(__name__)

NODE_KEY_FILENAME = "node_key"
# secp256k1 group order: a valid secret is 1 <= k < n.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class NodeKeyError(Exception):
    """The node key file exists but cannot be used."""


def key_pair_from_secret(secret: bytes) -> KeyPair:
    if len(secret) != 32:
        raise NodeKeyError(f"secp256k1 secret must be 32 bytes, got {len(secret)}")
    k = int.from_bytes(secret, "big")
    if not 0 < k < SECP256K1_N:
        raise NodeKeyError("secp256k1 secret is out of range (must be 1..n-1)")
    return create_new_key_pair(secret)


def peer_id_of(key_pair: KeyPair) -> ID:
    # A compressed secp256k1 key serialises to 37 bytes, under the 42-byte inline
    # limit, so the peer id is an identity multihash ("16Uiu2...") as in other clients.
    return ID.from_pubkey(key_pair.public_key)


def load_node_key(path: Path) -> KeyPair:
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as e:
        raise NodeKeyError(f"node key file {path} is corrupt: not ASCII hex") from e
    body = text.strip()
    if not _HEX64.fullmatch(body):
        raise NodeKeyError(
            f"node key file {path} is corrupt: expected 64 hex characters, found {len(body)} characters; "
            "move it away to generate a new identity"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("node key file %s is readable by others (mode %o); chmod 600 it", path, mode)
    try:
        return key_pair_from_secret(bytes.fromhex(body))
    except NodeKeyError as e:
        raise NodeKeyError(f"node key file {path} is corrupt: {e}") from e


def load_or_create_node_key(datadir: Path) -> KeyPair:
    """Load `datadir/node_key`, creating it (0600) on first start.

    Creation writes a temporary file and hard-links it into place, so a crash never
    leaves a half-written key and two processes racing on one datadir agree on a key.
    """
    datadir.mkdir(parents=True, exist_ok=True)
    path = datadir / NODE_KEY_FILENAME
    if path.exists():
        return load_node_key(path)

    while True:
        secret = secrets.token_bytes(32)
        if 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            break
    tmp = datadir / f".{NODE_KEY_FILENAME}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secret.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the key meanwhile
    except FileExistsError:
        return load_node_key(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("created node key %s", path)
    return key_pair_from_secret(secret)
