"""Signing a voluntary exit (0_beacon-chain-validator.md v0.8.2 has no exit section; the message
and domain are process_voluntary_exit's: signing_root(VoluntaryExit) under DOMAIN_VOLUNTARY_EXIT
of the exit's epoch)."""
from __future__ import annotations

from typing import Any

from beacon.crypto import bls
from beacon.state import compute_domain


def sign_voluntary_exit(types: Any, config: Any, fork_version: bytes, epoch: int, validator_index: int,
                        privkey: int) -> Any:
    """A signed VoluntaryExit. `fork_version` is the fork version in force at `epoch` (get_domain's
    choice; on an interop chain there is one fork, the genesis fork version)."""
    exit_ = types.VoluntaryExit(epoch=epoch, validator_index=validator_index)
    domain = compute_domain(config.DOMAIN_VOLUNTARY_EXIT, bytes(fork_version))
    exit_.signature = bls.sign(exit_.signing_root(), privkey, domain)
    return exit_
