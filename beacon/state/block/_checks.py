"""How a failed spec `assert` surfaces: a specific error naming the rule and the object."""
from __future__ import annotations

from typing import NoReturn

from beacon.state.errors import InvalidBlock, InvalidOperation


def require(condition: bool, kind: str, reason: str) -> None:
    """`assert condition` of an operation; process_operations fills in the index."""
    if not condition:
        raise InvalidOperation(kind, None, reason)


def reject(kind: str, reason: str) -> NoReturn:
    raise InvalidOperation(kind, None, reason)


def require_block(condition: bool, reason: str) -> None:
    """`assert condition` of the block itself (header, randao, eth1, operation counts)."""
    if not condition:
        raise InvalidBlock(reason)
