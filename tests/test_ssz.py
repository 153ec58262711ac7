"""Our SSZ layer against py-ssz (an independent implementation) and against itself.

The official vectors (spectests/) pin encodings and roots; these tests pin what they don't:
incremental roots equal fresh roots after arbitrary mutation sequences, value semantics on
assignment, and that malformed input only ever raises DecodeError.
"""

import hashlib
import random

import pytest
import ssz as pyssz
from ssz import sedes as ps

from beacon.config import load_config
from beacon.ssz import (
    Bitlist, Bitvector, Bytes32, Container, DecodeError, List, Vector, boolean, decode, uint8, uint16, uint64,
)
from beacon.types import get_types


class Point(Container):
    x: uint64
    flag: boolean
    root: Bytes32


class Bag(Container):
    a: uint16
    points: List(Point, 40)
    nums: List(uint64, 100)
    bits: Bitlist(70)
    vec: Vector(uint8, 5)
    fixed: Bitvector(10)


PY_POINT = ps.Container((ps.uint64, ps.boolean, ps.bytes32))
PY_BAG = ps.Container((ps.uint16, ps.List(PY_POINT, 40), ps.List(ps.uint64, 100), ps.Bitlist(70),
                       ps.Vector(ps.uint8, 5), ps.Bitvector(10)))


def random_bag(rng: random.Random) -> Bag:
    return Bag(
        a=rng.randrange(2**16),
        points=[Point(x=rng.randrange(2**64), flag=rng.random() < 0.5, root=rng.randbytes(32))
                for _ in range(rng.randrange(0, 40))],
        nums=[rng.randrange(2**64) for _ in range(rng.randrange(0, 100))],
        bits=[rng.random() < 0.5 for _ in range(rng.randrange(0, 71))],
        vec=[rng.randrange(256) for _ in range(5)],
        fixed=[rng.random() < 0.5 for _ in range(10)],
    )


def as_pyssz(bag: Bag) -> tuple:
    return (bag.a, tuple((p.x, p.flag, p.root) for p in bag.points), tuple(bag.nums), tuple(bag.bits),
            tuple(bag.vec), tuple(bag.fixed))


@pytest.mark.parametrize("seed", range(30))
def test_matches_py_ssz(seed: int) -> None:
    bag = random_bag(random.Random(seed))
    value = as_pyssz(bag)
    assert bag.serialize() == pyssz.encode(value, PY_BAG)
    assert bag.hash_tree_root() == pyssz.get_hash_tree_root(value, PY_BAG)
    again = Bag.deserialize(bag.serialize())
    assert again == bag and again.hash_tree_root() == bag.hash_tree_root()


@pytest.mark.parametrize("seed", range(20))
def test_incremental_root_equals_fresh_root(seed: int) -> None:
    rng = random.Random(1000 + seed)
    bag = random_bag(rng)
    for _ in range(60):
        op = rng.randrange(8)
        if op == 0 and bag.points:
            bag.points[rng.randrange(len(bag.points))].x = rng.randrange(2**64)
        elif op == 1 and len(bag.points) < 40:
            bag.points.append(Point(x=rng.randrange(100)))
        elif op == 2 and bag.nums:
            bag.nums[rng.randrange(len(bag.nums))] = rng.randrange(2**64)
        elif op == 3 and len(bag.nums) < 100:
            bag.nums.append(rng.randrange(2**64))
        elif op == 4:
            bag.nums.set_all([rng.randrange(2**64) for _ in range(rng.randrange(100))])
        elif op == 5 and bag.bits:
            bag.bits[rng.randrange(len(bag.bits))] = rng.random() < 0.5
        elif op == 6:
            bag.fixed[1:] = bag.fixed[:-1]
        elif op == 7 and bag.points:
            bag.points.pop()
        if rng.random() < 0.5:  # hash at random moments so caches are exercised mid-sequence
            assert bag.hash_tree_root() == pyssz.get_hash_tree_root(as_pyssz(bag), PY_BAG)
    fresh = Bag.deserialize(bag.serialize())
    assert bag.hash_tree_root() == fresh.hash_tree_root() == pyssz.get_hash_tree_root(as_pyssz(bag), PY_BAG)


def test_assigning_an_owned_value_copies_it() -> None:
    bag = Bag(points=[Point(x=1)])
    other = Bag()
    other.points.append(bag.points[0])
    other.points[0].x = 99
    assert bag.points[0].x == 1
    root = bag.hash_tree_root()
    bag.points[0].x = 2
    assert bag.hash_tree_root() != root


def test_copy_is_deep_and_keeps_roots_right() -> None:
    bag = random_bag(random.Random(7))
    bag.hash_tree_root()
    twin = bag.copy()
    if twin.points:
        twin.points[0].x += 1
    twin.nums.append(5)
    assert bag.hash_tree_root() == Bag.deserialize(bag.serialize()).hash_tree_root()
    assert twin.hash_tree_root() == Bag.deserialize(twin.serialize()).hash_tree_root()
    assert twin.hash_tree_root() != bag.hash_tree_root()


def test_limits_are_enforced() -> None:
    with pytest.raises(ValueError):
        Bag(nums=[0] * 101)
    bag = Bag(nums=[0] * 100)
    with pytest.raises(ValueError):
        bag.nums.append(1)
    with pytest.raises(TypeError):
        bag.vec.append(1)
    with pytest.raises(AttributeError):
        bag.nonexistent = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("preset", ["minimal", "mainnet"])
def test_malformed_input_only_raises_decode_error(preset: str) -> None:
    t = get_types(load_config(preset))
    rng = random.Random(preset)
    block = t.BeaconBlock(slot=5)
    block.body.attestations.append(t.Attestation(aggregation_bits=[True, False, True]))
    block.body.deposits.append(t.Deposit())
    good = block.serialize()
    assert t.BeaconBlock.deserialize(good) == block
    cases = [good[:-1], good + b"\x00", b"", good[:10]]
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cases.append(bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data))
    for data in cases:
        try:
            value = decode(t.BeaconBlock, data)
        except DecodeError as e:
            assert str(e)  # a message that says what is wrong
        else:
            assert value.serialize() == data  # whatever decodes must be the exact encoding


def test_specific_decode_errors() -> None:
    with pytest.raises(DecodeError, match="extra bytes"):
        decode(Point, bytes(41) + b"\x00")
    with pytest.raises(DecodeError, match="delimiting bit"):
        decode(Bitlist(8), b"\x00")
    with pytest.raises(DecodeError, match="exceed the limit"):
        decode(List(uint64, 2), bytes(24))
    with pytest.raises(DecodeError, match="invalid byte"):
        decode(boolean, b"\x02")
    with pytest.raises(DecodeError, match="beyond the length"):
        decode(Bitvector(10), b"\xff\xff")
    bag = Bag(points=[Point()], nums=[1])
    data = bytearray(bag.serialize())
    data[2:6] = (9999).to_bytes(4, "little")  # first offset of `points` points past the fixed part
    with pytest.raises(DecodeError, match="offset"):
        decode(Bag, bytes(data))


@pytest.mark.parametrize("seed", range(10))
def test_copies_share_trees_until_either_side_writes(seed: int) -> None:
    rng = random.Random(5000 + seed)
    base = random_bag(rng)
    base.nums.set_all([rng.randrange(2**64) for _ in range(100)])
    base.hash_tree_root()
    copies = [base.copy() for _ in range(3)]
    for bag in [base, *copies]:  # every side writes after the copies share one tree
        for _ in range(rng.randrange(1, 5)):
            bag.nums[rng.randrange(100)] = rng.randrange(2**64)
        if bag.points:
            bag.points[0].x += 1
    for bag in [base, *copies]:
        assert bag.hash_tree_root() == pyssz.get_hash_tree_root(as_pyssz(bag), PY_BAG)


def test_batch_roots_of_a_decoded_list_equal_one_by_one_roots() -> None:
    # A long list of one-chunk-field containers (a decoded registry) is hashed in one batch.
    from beacon.config import load_config
    from beacon.ssz import container, sequence
    from beacon.types import get_types

    t = get_types(load_config("minimal"))
    vals = [t.Validator(pubkey=bytes([i % 256]) * 48, withdrawal_credentials=bytes([i % 7]) * 32,
                        effective_balance=i * 10**9, slashed=bool(i % 3), activation_eligibility_epoch=i,
                        activation_epoch=2**64 - 1 - i, exit_epoch=i * i, withdrawable_epoch=5)
            for i in range(200)]
    assert container.batch_hashable(t.Validator) and container.batch_hashable(t.Checkpoint)
    assert not container.batch_hashable(t.PendingAttestation)
    list_type = sequence.List(t.Validator, 1024)
    data = list_type.new(vals).serialize()
    one_by_one = [list_type.elem.hash_tree_root(v.copy()) for v in vals]
    decoded = list_type.deserialize(data)
    assert decoded.hash_tree_root() == list_type.new([v.copy() for v in vals]).hash_tree_root()
    assert [v._root for v in decoded] == one_by_one
    cps = [t.Checkpoint(epoch=i, root=bytes([i]) * 32) for i in range(100)]
    container.batch_set_roots(t.Checkpoint, cps)
    assert [c._root for c in cps] == [t.Checkpoint(epoch=i, root=bytes([i]) * 32).hash_tree_root() for i in range(100)]


def test_batch_decoding_equals_value_by_value_decoding() -> None:
    from beacon.config import load_config
    from beacon.ssz import DecodeError, sequence
    from beacon.types import get_types

    t = get_types(load_config("minimal"))
    vals = [t.Validator(pubkey=bytes([i % 256]) * 48, withdrawal_credentials=bytes([i % 7]) * 32,
                        effective_balance=i * 10**9 + 2**63, slashed=bool(i % 3), activation_eligibility_epoch=i,
                        activation_epoch=2**64 - 1 - i, exit_epoch=i * i, withdrawable_epoch=5)
            for i in range(100)]
    list_type = sequence.List(t.Validator, 1024)
    data = list_type.new(vals).serialize()
    decoded = list_type.deserialize(data)
    size = t.Validator.fixed_size()
    assert list(decoded) == [t.Validator.deserialize(data[i * size:(i + 1) * size]) for i in range(100)]
    assert all(type(v.slashed) is bool for v in decoded) and decoded.serialize() == data
    decoded[3].slashed = True  # values decoded in bulk are ordinary, owned, mutable values
    assert decoded.hash_tree_root() != list_type.deserialize(data).hash_tree_root()
    bad = bytearray(data)
    bad[size * 5 + 48 + 32 + 8] = 2  # validator 5's `slashed` byte
    with pytest.raises(DecodeError):
        list_type.deserialize(bytes(bad))


def test_batch_encoding_equals_value_by_value_encoding() -> None:
    from beacon.config import load_config
    from beacon.ssz import sequence
    from beacon.types import get_types

    t = get_types(load_config("minimal"))
    vals = [t.Validator(pubkey=bytes([i % 256]) * 48, withdrawal_credentials=bytes([i % 7]) * 32,
                        effective_balance=i * 10**9 + 2**63, slashed=bool(i % 3), activation_eligibility_epoch=i,
                        activation_epoch=2**64 - 1 - i, exit_epoch=i * i, withdrawable_epoch=5)
            for i in range(100)]
    value = sequence.List(t.Validator, 1024).new(vals)
    assert value.serialize() == b"".join(v.serialize() for v in vals)  # 100 >= 64: in bulk
    cps = sequence.Vector(t.Checkpoint, 70).new([t.Checkpoint(epoch=i, root=bytes([i]) * 32) for i in range(70)])
    assert cps.serialize() == b"".join(c.serialize() for c in cps)
    # A uint out of range (set behind the setter's back) still fails naming the value, as one by one.
    object.__setattr__(value[7], "exit_epoch", 2**64)
    with pytest.raises(ValueError, match=str(2**64)):
        value.serialize()


def test_bulk_roots_are_the_same_with_either_layer_hasher() -> None:
    from beacon.config import load_config
    from beacon.ssz import merkle, sequence
    from beacon.state import roots  # registers the C layer hasher where it is built
    from beacon.types import get_types

    t = get_types(load_config("minimal"))
    vals = [t.Validator(pubkey=bytes([i % 256, 7]) * 24, withdrawal_credentials=bytes([i % 7]) * 32,
                        effective_balance=i, slashed=bool(i % 2), exit_epoch=i * 3) for i in range(100)]
    data = sequence.List(t.Validator, 1024).new(vals).serialize()
    one_by_one = [v.hash_tree_root() for v in vals]  # value by value: no layer hasher involved
    layer_ = [bytes([i % 251]) * 32 for i in range(3001)] + [b"\x00" * 32] * (2**12 - 3001)
    while len(layer_) > 1:  # the reference: plain hashlib, pair by pair
        layer_ = [hashlib.sha256(layer_[i] + layer_[i + 1]).digest() for i in range(0, len(layer_), 2)]
    reference = hashlib.sha256(layer_[0] + (3001).to_bytes(32, "little")).digest()
    registered = merkle.hash_layer
    try:
        for layer in (merkle.python_hash_layer, roots.hash_layer):
            merkle.use_hash_layer(layer)
            decoded = sequence.List(t.Validator, 1024).deserialize(data)
            decoded.hash_tree_root()
            assert [v._root for v in decoded] == one_by_one, layer
            # a tree of over _BULK_LAYER chunks: whole layers through the layer hasher
            chunks = [bytes([i % 251]) * 32 for i in range(3001)]
            assert List(Bytes32, 2**12).new(chunks).hash_tree_root() == reference
    finally:
        merkle.use_hash_layer(registered)
