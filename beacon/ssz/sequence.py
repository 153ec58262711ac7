"""List[T, N], Vector[T, N], Bitlist[N], Bitvector[N]: descriptors and their mutable value.

A `Sequence` value keeps its Merkle tree (MerkleCache) and the set of element indices changed
since the last hash, so rehashing a 16,384-entry list after a few changes costs a few paths.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from beacon.ssz.base import BYTES_PER_LENGTH_OFFSET, Composite, DecodeError, SSZType
from beacon.ssz.basic import BasicType, boolean
from beacon.ssz.merkle import MerkleCache, depth_for, mix_in_length, pack_bytes
from beacon.ssz.parts import decode_offsets, encode_parts

# Rebuild the whole tree rather than patching paths once this share of leaves changed.
_REBUILD_SHARE = 4
# Below this many unhashed container elements, hashing them one by one is as quick.
_BATCH_MIN = 64


class SequenceType(SSZType):
    """Common to lists, vectors and bitfields; `elem` is the element type."""

    elem: Any
    is_list: bool
    bound: int  # the list limit or the vector length
    depth: int
    per_chunk: int  # elements per leaf chunk for packed kinds, 1 for composite elements
    packed: bool

    def __init__(self, elem: Any, bound: int) -> None:
        self.elem = elem
        self.bound = bound
        self.packed = isinstance(elem, BasicType)
        if self.packed:
            self.per_chunk = 32 // elem.size
            chunks = (bound * elem.size + 31) // 32
        else:
            self.per_chunk = 1
            chunks = bound
        self.depth = depth_for(chunks)
        self._elem_fixed = elem.is_fixed_size()
        self._elem_size = elem.fixed_size() if self._elem_fixed else 0

    # --- value construction -------------------------------------------------------------
    def default(self) -> "Sequence":
        if self.is_list:
            return Sequence(self, [])
        elem = self.elem
        return Sequence(self, [elem.default() for _ in range(self.bound)])

    def new(self, items: Iterable[Any]) -> "Sequence":
        coerce = self.elem.coerce
        return Sequence(self, [coerce(v) for v in items])

    def coerce(self, value: Any) -> "Sequence":
        if isinstance(value, Sequence):
            if value._type is self or value._type == self:
                return value
            return self.new(value._items)
        if isinstance(value, (str, bytes, dict)):
            raise TypeError(f"{self.name} cannot be built from {type(value).__name__}")
        return self.new(value)

    def check_length(self, n: int) -> None:
        if self.is_list:
            if n > self.bound:
                raise ValueError(f"{self.name}: {n} elements exceed the limit {self.bound}")
        elif n != self.bound:
            raise ValueError(f"{self.name}: needs exactly {self.bound} elements, got {n}")

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and other.elem == self.elem  # type: ignore[attr-defined]
                and other.bound == self.bound)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.bound, id(self.elem)))

    # --- size ---------------------------------------------------------------------------
    def is_fixed_size(self) -> bool:
        return not self.is_list and self._elem_fixed

    def fixed_size(self) -> int:
        if not self.is_fixed_size():
            raise TypeError(f"{self.name} is variable-size")
        return self.bound * self._elem_size

    def max_size(self) -> int:
        if self._elem_fixed:
            return self.bound * self._elem_size
        return self.bound * (BYTES_PER_LENGTH_OFFSET + self.elem.max_size())

    # --- merkleization ------------------------------------------------------------------
    def leaf_count(self, n: int) -> int:
        return (n + self.per_chunk - 1) // self.per_chunk if self.packed else n

    def leaves(self, items: list[Any]) -> list[bytes]:
        if self.packed:
            return pack_bytes(self.elem.pack(items))
        if len(items) >= _BATCH_MIN:
            # Many unhashed containers (a decoded registry): hash them layer by layer together.
            from beacon.ssz.container import batch_hashable, batch_set_roots

            if batch_hashable(self.elem):
                missing = [v for v in items if v._root is None]
                if len(missing) >= _BATCH_MIN:
                    batch_set_roots(self.elem, missing)
        root = self.elem.hash_tree_root
        return [root(v) for v in items]

    def leaf(self, items: list[Any], chunk: int) -> bytes:
        if self.packed:
            per = self.per_chunk
            return self.elem.pack(items[chunk * per:(chunk + 1) * per]).ljust(32, b"\x00")
        return self.elem.hash_tree_root(items[chunk])

    def hash_tree_root(self, value: "Sequence") -> bytes:
        return value.hash_tree_root()

    # --- serialization ------------------------------------------------------------------
    def serialize(self, value: "Sequence") -> bytes:
        items = value._items if isinstance(value, Sequence) else list(value)
        if self.packed:
            return self.elem.pack(items)
        elem = self.elem
        if self._elem_fixed:
            encode_many = _batch_encoder(elem) if len(items) >= _BATCH_MIN else None
            if encode_many is not None:
                data = encode_many(items)
                if data is not None:
                    return data
            return b"".join(elem.serialize(v) for v in items)
        return encode_parts([(False, elem.serialize(v)) for v in items])

    def deserialize(self, data: bytes) -> "Sequence":
        elem = self.elem
        if self._elem_fixed:
            size = self._elem_size
            if len(data) % size:
                raise DecodeError(f"{self.name}: {len(data)} bytes is not a multiple of the element size {size}")
            n = len(data) // size
            self._check_decoded_length(n)
            if self.packed:
                return Sequence(self, elem.unpack(bytes(data)))
            decode_many = _batch_decoder(elem) if n >= _BATCH_MIN else None
            if decode_many is not None:
                items = decode_many(bytes(data))
            else:
                items = [elem.deserialize(data[i * size:(i + 1) * size]) for i in range(n)]
        else:
            if not data:
                self._check_decoded_length(0)
                return Sequence(self, [])
            if len(data) < BYTES_PER_LENGTH_OFFSET:
                raise DecodeError(f"{self.name}: {len(data)} bytes is too short for an offset")
            first = int.from_bytes(data[:4], "little")
            if first % BYTES_PER_LENGTH_OFFSET or first == 0:
                raise DecodeError(f"{self.name}: first offset {first} is not a multiple of 4")
            n = first // BYTES_PER_LENGTH_OFFSET
            self._check_decoded_length(n)
            spans = decode_offsets(data, [None] * n, self.name)
            items = [elem.deserialize(data[a:b]) for a, b in spans]
        return Sequence(self, items)

    def _check_decoded_length(self, n: int) -> None:
        if self.is_list:
            if n > self.bound:
                raise DecodeError(f"{self.name}: {n} elements exceed the limit {self.bound}")
        elif n != self.bound:
            raise DecodeError(f"{self.name}: expected {self.bound} elements, got {n}")

    # --- plain objects ------------------------------------------------------------------
    def to_obj(self, value: "Sequence") -> Any:
        to = self.elem.to_obj
        return [to(v) for v in value]

    def from_obj(self, obj: Any) -> "Sequence":
        conv = self.elem.from_obj
        items = [conv(v) for v in obj]
        self.check_length(len(items))
        return Sequence(self, items)


def _batch_decoder(elem: Any) -> Any:
    from beacon.ssz.container import batch_decoder

    return batch_decoder(elem)


class List(SequenceType):
    is_list = True

    def __init__(self, elem: Any, limit: int) -> None:
        super().__init__(elem, limit)
        self.name = f"List[{getattr(elem, 'name', elem)}, {limit}]"


class Vector(SequenceType):
    is_list = False

    def __init__(self, elem: Any, length: int) -> None:
        if length <= 0:
            raise TypeError("empty vectors are illegal")
        super().__init__(elem, length)
        self.name = f"Vector[{getattr(elem, 'name', elem)}, {length}]"


class _BitfieldType(SequenceType):
    """Bits are bools; leaves are the bits packed 256 to a chunk (bitfield_bytes)."""

    def __init__(self, bound: int) -> None:
        super().__init__(boolean, bound)
        self.packed = True
        self.per_chunk = 256
        self.depth = depth_for((bound + 255) // 256)

    @staticmethod
    def pack_bits(items: list[bool]) -> bytearray:
        out = bytearray((len(items) + 7) // 8)
        for i, bit in enumerate(items):
            if bit:
                out[i >> 3] |= 1 << (i & 7)
        return out

    def leaves(self, items: list[bool]) -> list[bytes]:
        return pack_bytes(bytes(self.pack_bits(items)))

    def leaf(self, items: list[bool], chunk: int) -> bytes:
        return bytes(self.pack_bits(items[chunk * 256:(chunk + 1) * 256])).ljust(32, b"\x00")

    @staticmethod
    def unpack_bits(data: bytes, n: int) -> list[bool]:
        return [bool(data[i >> 3] >> (i & 7) & 1) for i in range(n)]

    def to_obj(self, value: "Sequence") -> str:
        return "0x" + self.serialize(value).hex()

    def from_obj(self, obj: Any) -> "Sequence":
        if isinstance(obj, str):
            text = obj[2:] if obj.startswith("0x") else obj
            return self.deserialize(bytes.fromhex(text))
        return super().from_obj(obj)


class Bitlist(_BitfieldType):
    is_list = True

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.name = f"Bitlist[{limit}]"

    def max_size(self) -> int:
        return self.bound // 8 + 1

    def serialize(self, value: "Sequence") -> bytes:
        items = list(value)
        out = self.pack_bits(items + [True])  # the delimiting bit
        return bytes(out)

    def deserialize(self, data: bytes) -> "Sequence":
        if not data:
            raise DecodeError(f"{self.name}: empty input has no delimiting bit")
        last = data[-1]
        if last == 0:
            raise DecodeError(f"{self.name}: last byte has no delimiting bit")
        n = (len(data) - 1) * 8 + last.bit_length() - 1
        if n > self.bound:
            raise DecodeError(f"{self.name}: {n} bits exceed the limit {self.bound}")
        return Sequence(self, self.unpack_bits(data, n))


class Bitvector(_BitfieldType):
    is_list = False

    def __init__(self, length: int) -> None:
        if length <= 0:
            raise TypeError("empty bitvectors are illegal")
        super().__init__(length)
        self.name = f"Bitvector[{length}]"

    def fixed_size(self) -> int:
        return (self.bound + 7) // 8

    def max_size(self) -> int:
        return self.fixed_size()

    def serialize(self, value: "Sequence") -> bytes:
        return bytes(self.pack_bits(list(value)))

    def deserialize(self, data: bytes) -> "Sequence":
        size = self.fixed_size()
        if len(data) != size:
            raise DecodeError(f"{self.name}: expected {size} bytes, got {len(data)}")
        if self.bound % 8 and data[-1] >> (self.bound % 8):
            raise DecodeError(f"{self.name}: bits set beyond the length {self.bound}")
        return Sequence(self, self.unpack_bits(data, self.bound))


class Sequence(Composite):
    """The mutable value of a list, vector or bitfield. Reads like a Python list."""

    __slots__ = ("_type", "_items", "_dirty", "_cache")

    def __init__(self, typ: SequenceType, items: list[Any]) -> None:
        typ.check_length(len(items))
        self._type = typ
        self._root = None
        self._parent = None
        self._pidx = 0
        self._cache: MerkleCache | None = None
        self._dirty: set[int] | None = None  # None: everything changed
        if not typ.packed:
            items = [v._adopted_by(self, i) if isinstance(v, Composite) else v for i, v in enumerate(items)]
        self._items = items

    @property
    def ssz_type(self) -> SequenceType:
        return self._type

    # --- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]  # a slice gives a plain list

    def __contains__(self, value: Any) -> bool:
        return value in self._items

    def index(self, value: Any) -> int:
        return self._items.index(value)

    def count(self, value: Any) -> int:
        return self._items.count(value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._items == other._items
        if isinstance(other, list):
            return self._items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"{self._type.name}({self._items!r})"

    def items(self) -> list[Any]:
        """The underlying list: read-only by convention (mutate through the methods)."""
        return self._items

    # --- writing ------------------------------------------------------------------------
    def _own(self, value: Any, index: int) -> Any:
        value = self._type.elem.coerce(value)
        if isinstance(value, Composite):
            value = value._adopted_by(self, index)
        return value

    def _child_changed(self, index: int) -> None:
        if self._dirty is not None:
            self._dirty.add(index)
        self._invalidate()

    def __setitem__(self, index: Any, value: Any) -> None:
        items = self._items
        if isinstance(index, slice):
            new = list(items)
            new[index] = list(value)
            self._type.check_length(len(new))
            self._items = [self._own(v, i) for i, v in enumerate(new)]
            self._dirty = None
            self._invalidate_all()
            return
        n = len(items)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{self._type.name} index {index} out of range")
        items[index] = self._own(value, index)
        self._child_changed(index)

    def _invalidate_all(self) -> None:
        self._dirty = None
        if self._root is not None:
            self._invalidate()
        elif self._parent is not None:
            self._parent._child_changed(self._pidx)

    def append(self, value: Any) -> None:
        typ = self._type
        if not typ.is_list:
            raise TypeError(f"cannot append to {typ.name}")
        n = len(self._items)
        if n >= typ.bound:
            raise ValueError(f"{typ.name} is full ({typ.bound} elements)")
        self._items.append(self._own(value, n))
        self._child_changed(n)

    def extend(self, values: Iterable[Any]) -> None:
        for v in values:
            self.append(v)

    def pop(self) -> Any:
        if not self._type.is_list:
            raise TypeError(f"cannot pop from {self._type.name}")
        value = self._items.pop()
        self._invalidate_all()
        return value

    def set_all(self, values: Iterable[Any]) -> None:
        """Replace every element at once (bulk updates, e.g. all balances after an epoch)."""
        new = list(values)
        self._type.check_length(len(new))
        if self._type.packed:
            self._items = new
        else:
            self._items = [self._own(v, i) for i, v in enumerate(new)]
        self._invalidate_all()

    # --- hashing and copying ------------------------------------------------------------
    def hash_tree_root(self) -> bytes:
        root = self._root
        if root is not None:
            return root
        typ = self._type
        items = self._items
        cache = self._cache
        dirty = self._dirty
        nleaves = typ.leaf_count(len(items))
        if (cache is None or dirty is None or len(cache.layers[0]) > nleaves
                or len(dirty) * _REBUILD_SHARE > nleaves):
            cache = self._cache = MerkleCache(typ.leaves(items), typ.depth)
        elif dirty:
            cache.own()
            leaves = cache.layers[0]
            if len(leaves) < nleaves:
                leaves.extend([b""] * (nleaves - len(leaves)))
            per = typ.per_chunk
            chunks = {i // per for i in dirty} if per > 1 else dirty
            leaf = typ.leaf
            for c in chunks:
                leaves[c] = leaf(items, c)
            cache.update(chunks)
        root = cache.root()
        if typ.is_list:
            root = mix_in_length(root, len(items))
        self._dirty = set()
        self._root = root
        return root

    def copy(self) -> "Sequence":
        return self._copy_to(None, 0)

    def _copy_to(self, parent: Composite | None, pidx: int) -> "Sequence":
        new = Sequence.__new__(Sequence)
        new._type = self._type
        new._root = self._root
        new._parent = parent
        new._pidx = pidx
        new._cache = self._cache.copy() if self._cache is not None else None
        new._dirty = None if self._dirty is None else set(self._dirty)
        if self._type.packed or not self._items or not isinstance(self._items[0], Composite):
            new._items = list(self._items)
        else:
            new._items = [v._copy_to(new, i) for i, v in enumerate(self._items)]
        return new

    def serialize(self) -> bytes:
        return self._type.serialize(self)


def _batch_encoder(elem: Any) -> Any:
    from beacon.ssz.container import batch_encoder

    return batch_encoder(elem)
