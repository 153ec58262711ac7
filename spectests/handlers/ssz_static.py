"""<preset>/ssz_static/<Type>/<suite>/<case>: decode, re-encode, and check both roots.

Format: specs/test_formats/ssz_static/core.md (v0.8.2): serialized.ssz, value.yaml, roots.yaml
with `root` and, for self-signed containers, `signing_root`.
"""
from __future__ import annotations

from beacon.ssz import decode
from beacon.types import get_types
from spectests.registry import Case, register


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


@register("ssz_static")
def ssz_static(case: Case) -> None:
    types = get_types(case.config)
    try:
        typ = types.by_name(case.handler)
    except KeyError:
        raise AssertionError(f"no phase-0 container named {case.handler}") from None
    data = case.bytes("serialized.ssz")
    value = decode(typ, data)
    assert value.serialize() == data, "re-encoding differs from serialized.ssz"
    assert value == typ.from_obj(case.yaml("value.yaml")), "decoded value differs from value.yaml"
    roots = case.yaml("roots.yaml")
    assert _hex(value.hash_tree_root()) == roots["root"], "hash_tree_root differs"
    if "signing_root" in roots:
        assert _hex(value.signing_root()) == roots["signing_root"], "signing_root differs"
