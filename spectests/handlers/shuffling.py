"""shuffling/core vectors (specs/test_formats/shuffling): the whole-list shuffle, checked against
`mapping`, plus the spec's one-index compute_shuffled_index on a spread of indices."""
from __future__ import annotations

from beacon.state.misc import compute_shuffled_index
from beacon.state.shuffle import shuffled_index_mapping
from spectests.registry import Case, register


@register("shuffling", "core")
def shuffling_core(case: Case) -> None:
    data = case.yaml("mapping.yaml")
    seed = bytes.fromhex(data["seed"][2:])
    count = data["count"]
    mapping = data["mapping"]
    assert len(mapping) == count, f"mapping has {len(mapping)} entries for count {count}"
    cfg = case.config
    got = shuffled_index_mapping(count, seed, cfg.SHUFFLE_ROUND_COUNT)
    if got != mapping:
        bad = next(i for i, (a, b) in enumerate(zip(got, mapping)) if a != b)
        raise AssertionError(f"whole-list shuffle differs at {bad}: got {got[bad]}, want {mapping[bad]}")
    # The reference form too, on up to 16 indices spread over the range (all of them is rounds*count hashes).
    for i in sorted({(k * count) // 16 for k in range(16)} if count else ()):
        one = compute_shuffled_index(i, count, seed, cfg=cfg)
        assert one == mapping[i], f"compute_shuffled_index({i}) = {one}, want {mapping[i]}"
