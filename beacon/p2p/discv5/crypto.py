"""Cryptographic primitives of the "v4" identity scheme and of the discv5 v5.1 handshake."""
from __future__ import annotations

import hashlib

import coincurve
from coincurve.ecdsa import cdata_to_der, deserialize_compact, signature_normalize
from Crypto.Hash import keccak as _keccak
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ID_SIGNATURE_TEXT = b"discovery v5 identity proof"
KDF_INFO_TEXT = b"discovery v5 key agreement"


class CryptoError(ValueError):
    """A key, signature or ciphertext that does not check out."""


def keccak256(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def public_key(secret: bytes) -> bytes:
    """The 33-byte compressed public key of a 32-byte secret."""
    return coincurve.PrivateKey(secret).public_key.format(compressed=True)


def _load_public(pub: bytes) -> coincurve.PublicKey:
    try:
        return coincurve.PublicKey(pub)
    except Exception as e:  # coincurve raises ValueError or its own errors for bad points
        raise CryptoError(f"not a secp256k1 public key ({len(pub)} bytes)") from e


def check_public_key(pub: bytes) -> None:
    if len(pub) != 33:
        raise CryptoError(f"a compressed secp256k1 public key is 33 bytes, got {len(pub)}")
    _load_public(pub)


def node_id_of(pub: bytes) -> bytes:
    """The "v4" node id: keccak256 of the uncompressed key without its 0x04 prefix."""
    return keccak256(_load_public(pub).format(compressed=False)[1:])


def sign(secret: bytes, digest: bytes) -> bytes:
    """A 64-byte r || s signature of a 32-byte digest (deterministic, RFC 6979, low s)."""
    return coincurve.PrivateKey(secret).sign_recoverable(digest, hasher=None)[:64]


def verify(pub: bytes, digest: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        # A high-s signature is as valid under the spec; libsecp256k1 wants it normalised.
        der = cdata_to_der(signature_normalize(deserialize_compact(signature))[1])
        return _load_public(pub).verify(der, digest, hasher=None)
    except CryptoError:
        return False
    except Exception:  # malformed r/s values
        return False


def ecdh(pub: bytes, secret: bytes) -> bytes:
    """The 33-byte shared secret y-parity || x of pub * secret (discv5 theory, "v4")."""
    return _load_public(pub).multiply(secret).format(compressed=True)


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR with the 16-byte iv as the whole initial counter block (masking)."""
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plaintext, ad)


def aes_gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, ad)
    except InvalidTag:
        raise CryptoError("message authentication failed") from None


def derive_keys(secret: bytes, initiator_id: bytes, recipient_id: bytes, challenge_data: bytes) -> tuple[bytes, bytes]:
    """(initiator-key, recipient-key): HKDF-SHA256, salt challenge-data, info text || id-A || id-B."""
    info = KDF_INFO_TEXT + initiator_id + recipient_id
    key_data = HKDF(algorithm=hashes.SHA256(), length=32, salt=challenge_data, info=info).derive(secret)
    return key_data[:16], key_data[16:]


def id_signature_digest(challenge_data: bytes, ephemeral_pub: bytes, dest_id: bytes) -> bytes:
    return hashlib.sha256(ID_SIGNATURE_TEXT + challenge_data + ephemeral_pub + dest_id).digest()


def id_sign(secret: bytes, challenge_data: bytes, ephemeral_pub: bytes, dest_id: bytes) -> bytes:
    return sign(secret, id_signature_digest(challenge_data, ephemeral_pub, dest_id))


def id_verify(pub: bytes, signature: bytes, challenge_data: bytes, ephemeral_pub: bytes, dest_id: bytes) -> bool:
    return verify(pub, id_signature_digest(challenge_data, ephemeral_pub, dest_id), signature)


def new_secret() -> bytes:
    """A fresh secp256k1 secret (ephemeral handshake keys)."""
    return coincurve.PrivateKey().secret
