"""Map our SSZ types and values onto py-ssz sedes: py-ssz is the independent cross-check
(tests/test_ssz.py, the fuzzers' differential target) and the baseline of benchmarks/ssz_state.py."""
from __future__ import annotations

from typing import Any

from ssz import sedes as ps

from beacon.ssz.basic import Boolean, ByteVector, UInt
from beacon.ssz.container import ContainerMeta
from beacon.ssz.sequence import Bitlist, Bitvector, List, Vector


def sedes_of(typ: Any) -> Any:
    if isinstance(typ, UInt):
        return ps.UInt(typ.bits)
    if isinstance(typ, Boolean):
        return ps.boolean
    if isinstance(typ, ByteVector):
        return ps.ByteVector(typ.length)
    if isinstance(typ, Bitlist):
        return ps.Bitlist(typ.bound)
    if isinstance(typ, Bitvector):
        return ps.Bitvector(typ.bound)
    if isinstance(typ, List):
        return ps.List(sedes_of(typ.elem), typ.bound)
    if isinstance(typ, Vector):
        return ps.Vector(sedes_of(typ.elem), typ.bound)
    if isinstance(typ, ContainerMeta):
        return ps.Container(tuple(sedes_of(t) for _, t in typ.fields))
    raise TypeError(f"no py-ssz sedes for {typ!r}")


def value_of(typ: Any, value: Any) -> Any:
    if isinstance(typ, (UInt, Boolean, ByteVector)):
        return value
    if isinstance(typ, (Bitlist, Bitvector)):
        return tuple(value)
    if isinstance(typ, (List, Vector)):
        return tuple(value_of(typ.elem, v) for v in value)
    return tuple(value_of(t, getattr(value, n)) for n, t in typ.fields)
