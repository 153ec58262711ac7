"""The offline and exit events and the `exited` goal in testnet descriptions: parsed, and every
mistake refused with the key it is about."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from beacon.testnet.ops import pending_actions
from beacon.testnet.spec import SpecError, load_spec, parse_spec

from .helpers import REPO

BASE: dict[str, Any] = {
    "validators": 16,
    "nodes": [{"id": "A-0", "role": "A", "validators": "0:8"}, {"id": "B-0", "role": "B", "validators": "8:8"}],
    "peering": {"A-0": ["B-0"]},
    "goal": {"finalized_epoch": 8},
}


def spec_with(events: list[dict[str, Any]], goal: dict[str, Any] | None = None):
    doc = copy.deepcopy(BASE)
    doc["events"] = events
    if goal is not None:
        doc["goal"] = goal
    return parse_spec(doc)


def test_offline_and_exit_events_parse() -> None:
    spec = spec_with([{"action": "offline", "node": "A-0", "validators": "0:6", "at_epoch": 3, "epochs": 8},
                      {"action": "exit", "node": "A-0", "validator": 9, "at_slot": 20}],
                     goal={"exited": [9], "finalized_epoch": 3})
    off, ex = sorted(spec.events, key=lambda e: e.action)[1], sorted(spec.events, key=lambda e: e.action)[0]
    assert (off.at_slot, off.slots, off.validators) == (24, 64, "0:6")
    assert (ex.at_slot, ex.validator) == (20, 9)
    assert spec.goal.exited == [9]
    assert pending_actions(spec) == [(20, "exit:9", "A-0"), (24, "offline:0:6", "A-0"), (88, "online:0:6", "A-0")]
    assert "validators 0..5 offline" in off.describe(8)
    assert spec_with([], goal={"exited": 3}).goal.exited == [3]


@pytest.mark.parametrize("event,goal,message", [
    ({"action": "offline", "node": "A-0", "validators": "6:4", "at_epoch": 1, "epochs": 2}, None,
     "events[0].validators: 6:4 is not a subset of what A-0 runs (0:8)"),
    ({"action": "offline", "node": "A-0", "validators": "0:2", "at_epoch": 1}, None,
     "events[0]: offline needs exactly one of epochs, slots"),
    ({"action": "offline", "node": "A-0", "validators": "0:0", "at_epoch": 1, "epochs": 1}, None,
     "events[0].validators: must name at least one validator"),
    ({"action": "offline", "node": "A-0", "validator": 1, "at_epoch": 1, "epochs": 1}, None,
     "offline takes validators: START:COUNT"),
    ({"action": "exit", "node": "A-0", "validator": 16, "at_epoch": 1}, None,
     "events[0].validator: 16 is not one of the 16 genesis validators"),
    ({"action": "exit", "node": "A-0", "at_epoch": 1}, None, "events[0].validator: must be an integer"),
    ({"action": "exit", "node": "A-0", "validator": 1, "at_epoch": 1, "slots": 3}, None,
     "exit takes one validator"),
    ({"action": "pause", "node": "A-0", "at_epoch": 1, "slots": 3, "validators": "0:1"}, None,
     "validators/validator/epochs only apply to offline, exit and equivocate"),
    ({"action": "explode", "node": "A-0", "at_epoch": 1}, None, "must be one of join, pause, restart, offline, exit"),
    ({"action": "exit", "node": "A-0", "validator": 1, "at_epoch": 1}, {"exited": [99]}, "goal.exited: must be a list"),
])
def test_mistakes_name_their_key(event, goal, message) -> None:
    with pytest.raises(SpecError) as e:
        spec_with([event], goal=goal)
    assert message in str(e.value)


def test_the_exercise_files_are_valid() -> None:
    off = load_spec(REPO / "exercises" / "offline.yaml")
    (e,) = off.events
    assert e.action == "offline" and len(e.validator_range()) * 3 > off.validators  # more than 1/3
    assert off.goal.finalized_epoch > (e.at_slot + e.slots) // off.slots_per_epoch
    ex = load_spec(REPO / "exercises" / "exit.yaml")
    assert ex.goal.exited == [ex.events[0].validator] and ex.config["PERSISTENT_COMMITTEE_PERIOD"] <= ex.events[0].at_slot // 8
