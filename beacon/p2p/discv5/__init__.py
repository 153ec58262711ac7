"""Node discovery: ENR (EIP-778) records and the discv5 v5.1 wire protocol on trio UDP.

Written from the specs (devp2p discv5-wire.md / discv5-theory.md v5.1, EIP-778) on well-kept
primitives: `rlp`, `coincurve` (secp256k1), `cryptography` (AES-CTR, AES-GCM, HKDF) and
pycryptodome's keccak. Layout:
  crypto.py   secp256k1 sign/verify/ECDH, keccak, AES, HKDF, the handshake's key schedule
  enr.py      ENR records: encode, decode, sign, verify, text form, the `eth2` field
  packet.py   masked packet headers (ordinary, WHOAREYOU, handshake) and message encryption
  messages.py PING/PONG/FINDNODE/NODES/TALKREQ/TALKRESP
  routing.py  the k-bucket table by log2 distance
  protocol.py the UDP node: sessions, handshakes, requests, lookups, rate limiting
  dialer.py   the peer manager's half: dial discovered peers of our fork until the target count
  service.py  wiring beside the libp2p host: persistent ENR, bootnodes, dialer
"""
