"""The contract every SSZ type descriptor meets, and the one decoding error."""
from __future__ import annotations

from typing import Any

BYTES_PER_LENGTH_OFFSET = 4


class DecodeError(ValueError):
    """Bytes that are not a valid SSZ encoding of the expected type. Nothing else escapes decoding."""


class SSZType:
    """A type descriptor: uint64, Bytes32, List[Validator, N], a Container class ...

    Values of basic types and byte vectors are plain Python ints, bools and bytes; lists,
    vectors, bitfields and containers are mutable objects that cache their own roots.
    """

    name: str = "?"

    def is_fixed_size(self) -> bool:
        raise NotImplementedError

    def fixed_size(self) -> int:
        """Serialized size; only for fixed-size types."""
        raise NotImplementedError

    def min_size(self) -> int:
        return self.fixed_size() if self.is_fixed_size() else 0

    def max_size(self) -> int:
        """Upper bound on the serialized size, used to reject over-long input early."""
        return self.fixed_size()

    def default(self) -> Any:
        raise NotImplementedError

    def coerce(self, value: Any) -> Any:
        """The value as this type stores it (copies composites that are owned elsewhere)."""
        raise NotImplementedError

    def serialize(self, value: Any) -> bytes:
        raise NotImplementedError

    def deserialize(self, data: bytes) -> Any:
        raise NotImplementedError

    def hash_tree_root(self, value: Any) -> bytes:
        raise NotImplementedError

    def to_obj(self, value: Any) -> Any:
        """Plain YAML/JSON-friendly form (ints, bools, 0x-hex strings, lists, dicts)."""
        raise NotImplementedError

    def from_obj(self, obj: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Composite:
    """A mutable SSZ value (list, vector, bitfield, container) that caches its root.

    Each composite knows its single owner (`_parent`) and its place there (`_pidx`), so a change
    anywhere below invalidates exactly the cached roots on the path up to the top. A value that
    already has an owner is copied when it is stored somewhere else: SSZ values behave as values.
    Invariant: if a node's _root is None, its parent already knows that child is dirty.
    """

    __slots__ = ("_root", "_parent", "_pidx")

    def _child_changed(self, index: int) -> None:
        raise NotImplementedError

    def _adopted_by(self, parent: "Composite", index: int) -> "Composite":
        """Return self (or a copy, if owned elsewhere) owned by parent at index."""
        value = self if self._parent is None else self.copy()
        # object.__setattr__: containers guard attribute writes; these two are bookkeeping.
        object.__setattr__(value, "_parent", parent)
        object.__setattr__(value, "_pidx", index)
        return value

    def _invalidate(self) -> None:
        if self._root is not None:
            self._root = None
            parent = self._parent
            if parent is not None:
                parent._child_changed(self._pidx)

    def copy(self) -> "Composite":
        raise NotImplementedError
