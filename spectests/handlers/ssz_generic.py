"""Handlers for general/phase0/ssz_generic (specs/test_formats/ssz_generic), run on beacon.ssz.

Each case's SSZ type is derived from its folder name (uint_64_..., vec_uint16_31_...,
bitvec_9_..., bitlist_512_..., ComplexTestStruct_...). valid cases check encode, decode,
hash_tree_root (and signing_root when given); invalid cases check that decoding raises
beacon.ssz.DecodeError (and nothing else), or that the type itself is refused.

The expected value is built from value.yaml by this module's own reader, not by the layer's
from_obj or deserialize, so a decoder bug cannot make the expectation agree with itself.

No `from __future__ import annotations` here: beacon.ssz containers read real annotations.
"""
import re
from typing import Any, Callable, Dict, List as PyList, Optional

from beacon.ssz import (
    Bitlist, Bitvector, Boolean, Container, DecodeError, List, UInt, Vector,
    boolean, byte, uint8, uint16, uint32, uint64, uint128, uint256,
)
from spectests.registry import Case, register

RUNNER = "ssz_generic"


# --- the test structs of the format README ---------------------------------------------------


class SingleFieldTestStruct(Container):
    A: byte


class SmallTestStruct(Container):
    A: uint16
    B: uint16


class FixedTestStruct(Container):
    A: uint8
    B: uint64
    C: uint32


class VarTestStruct(Container):
    A: uint16
    B: List(uint16, 1024)
    C: uint8


class ComplexTestStruct(Container):
    A: uint16
    B: List(uint16, 128)
    C: uint8
    D: List(byte, 256)  # Bytes[256]
    E: VarTestStruct
    F: Vector(FixedTestStruct, 4)
    G: Vector(VarTestStruct, 2)


class BitsStruct(Container):
    A: Bitlist(5)
    B: Bitvector(2)
    C: Bitvector(1)
    D: Bitlist(6)
    E: Bitvector(8)


CONTAINERS: Dict[str, Any] = {c.__name__: c for c in (
    SingleFieldTestStruct, SmallTestStruct, FixedTestStruct, VarTestStruct, ComplexTestStruct, BitsStruct)}
UINTS: Dict[int, UInt] = {8: uint8, 16: uint16, 32: uint32, 64: uint64, 128: uint128, 256: uint256}
ELEMS: Dict[str, Any] = {"bool": boolean, **{f"uint{n}": t for n, t in UINTS.items()}}


class TypeRefused(Exception):
    """The name declares a type our layer refuses to build (e.g. a 0-length vector)."""


# --- type from the case name -----------------------------------------------------------------


def _build(make: Callable[[], Any]) -> Any:
    try:
        return make()
    except (TypeError, ValueError) as e:
        raise TypeRefused(str(e)) from None


def type_for(handler: str, name: str, serialized: Optional[bytes] = None) -> Any:
    """The SSZ type a case name declares; AssertionError if the name follows no known template."""
    if handler == "uints":
        m = re.match(r"uint_(\d+)_", name)
        if m and int(m.group(1)) in UINTS:
            return UINTS[int(m.group(1))]
    elif handler == "boolean":
        return boolean
    elif handler == "basic_vector":
        m = re.match(r"vec_(bool|uint\d+)_(\d+)(_|$)", name)
        if m and m.group(1) in ELEMS:
            return _build(lambda: Vector(ELEMS[m.group(1)], int(m.group(2))))
    elif handler == "bitvector":
        m = re.match(r"bitvec_(\d+)(_|$)", name)
        if m:
            return _build(lambda: Bitvector(int(m.group(1))))
    elif handler == "bitlist":
        m = re.match(r"bitlist_(\d+)(_|$)", name)
        if m:
            return _build(lambda: Bitlist(int(m.group(1))))
        if name.startswith("bitlist_no_delimiter") and serialized is not None:
            # No limit in the name: pick one the input cannot exceed, so only the missing
            # delimiting bit can make it invalid.
            return Bitlist(8 * len(serialized) + 8)
    elif handler == "containers":
        cls = CONTAINERS.get(name.split("_", 1)[0])
        if cls is not None:
            return cls
    raise AssertionError(f"cannot derive an SSZ type from {handler}/{name}")


# --- value.yaml -> our value, independently of the layer's decoders ---------------------------


def _hex(obj: Any) -> bytes:
    assert isinstance(obj, str) and obj.startswith("0x"), f"expected a 0x-hex string, got {obj!r}"
    return bytes.fromhex(obj[2:])


def _bits(data: bytes, n: int) -> PyList[bool]:
    return [bool(data[i // 8] >> (i % 8) & 1) for i in range(n)]


def from_yaml(typ: Any, obj: Any) -> Any:
    if isinstance(typ, UInt):
        # uint128/uint256 come as decimal strings (YAML ints would lose nothing, but the
        # generator quotes them); smaller ones as plain ints.
        value = int(obj) if isinstance(obj, str) and obj.isdigit() else obj
        assert type(value) is int and 0 <= value < 1 << typ.bits, f"bad {typ.name} value {obj!r}"
        return value
    if isinstance(typ, Boolean):
        assert obj is True or obj is False, f"bad boolean value {obj!r}"
        return obj
    if isinstance(typ, (Bitlist, Bitvector)):
        data = _hex(obj)  # the serialized bitfield, as the format writes them
        if isinstance(typ, Bitlist):
            assert data and data[-1], f"bitlist value {obj!r} has no delimiting bit"
            n = (len(data) - 1) * 8 + data[-1].bit_length() - 1
        else:
            n = typ.bound
        return typ.new(_bits(data, n))
    if isinstance(typ, (List, Vector)):
        if isinstance(obj, str):  # Bytes[N] / byte vectors are written as hex
            assert typ.elem is uint8, f"{typ.name}: hex given for non-byte elements"
            return typ.new(list(_hex(obj)))
        assert isinstance(obj, list), f"{typ.name}: expected a list, got {type(obj).__name__}"
        return typ.new([from_yaml(typ.elem, x) for x in obj])
    if is_container(typ):
        assert isinstance(obj, dict), f"{typ.__name__}: expected a mapping"
        names = [n for n, _ in typ.fields]
        assert sorted(obj) == sorted(names), f"{typ.__name__}: fields {sorted(obj)} != {sorted(names)}"
        return typ(**{n: from_yaml(t, obj[n]) for n, t in typ.fields})
    raise AssertionError(f"no YAML reader for {typ!r}")


# --- the layer's API, uniform over descriptors and container classes --------------------------


def is_container(typ: Any) -> bool:
    # Container classes are their own descriptors; every other type is a descriptor instance.
    return isinstance(typ, type) and issubclass(typ, Container)



def encode(typ: Any, value: Any) -> bytes:
    return value.serialize() if is_container(typ) else typ.serialize(value)


def root(typ: Any, value: Any) -> bytes:
    return value.hash_tree_root() if is_container(typ) else typ.hash_tree_root(value)


def _short(data: bytes) -> str:
    return "0x" + (data.hex() if len(data) <= 48 else data[:48].hex() + f"..({len(data)} bytes)")


def check_valid(case: Case, typ: Any) -> None:
    serialized = case.bytes("serialized.ssz")
    meta = case.meta
    value = from_yaml(typ, case.yaml("value.yaml"))

    got = encode(typ, value)
    assert got == serialized, f"encode: got {_short(got)}, want {_short(serialized)}"

    try:
        decoded = typ.deserialize(serialized)
    except DecodeError as e:
        raise AssertionError(f"decode refused valid input: {e}") from None
    assert decoded == value, f"decode: got {decoded!r}, want {value!r}"
    assert encode(typ, decoded) == serialized, "re-encoding the decoded value differs"

    want_root = _hex(meta["root"])
    for what, v in (("value", value), ("decoded", decoded)):
        r = root(typ, v)
        assert r == want_root, f"hash_tree_root of {what}: got {_short(r)}, want {_short(want_root)}"
    if "signing_root" in meta:
        assert is_container(typ), "signing_root given for a non-container"
        sr = value.signing_root()
        want = _hex(meta["signing_root"])
        assert sr == want, f"signing_root: got {_short(sr)}, want {_short(want)}"


def check_invalid(case: Case, make_type: Callable[[bytes], Any]) -> None:
    serialized = case.bytes("serialized.ssz")
    try:
        typ = make_type(serialized)
    except TypeRefused:
        return  # the format allows it: an invalid type declaration is detected invalid data
    try:
        decoded = typ.deserialize(serialized)
    except DecodeError:
        return
    except Exception as e:  # anything but DecodeError breaks the layer's contract
        raise AssertionError(f"decode raised {type(e).__name__} ({e}) instead of DecodeError") from None
    raise AssertionError(f"decode accepted invalid input {_short(serialized)} as {decoded!r}")


def _handler(handler: str) -> Callable[[Case], None]:
    def run(case: Case) -> None:
        if case.suite == "valid":
            try:
                typ = type_for(handler, case.name)
            except TypeRefused as e:
                raise AssertionError(f"type of a valid case refused: {e}") from None
            check_valid(case, typ)
        elif case.suite == "invalid":
            check_invalid(case, lambda data: type_for(handler, case.name, data))
        else:
            raise AssertionError(f"unknown ssz_generic suite {case.suite!r}")

    run.__name__ = f"ssz_generic_{handler}"
    return run


for _h in ("uints", "boolean", "basic_vector", "bitvector", "bitlist", "containers"):
    register(RUNNER, _h)(_handler(_h))
