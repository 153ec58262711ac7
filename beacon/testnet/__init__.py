"""Multi-node testnets for the interop exercises: `pybeacon testnet SPEC.yaml` (see docs/testnet.md)."""
