"""The API's write endpoints: the voluntary-exit pool and the testnet's offline switch.

    POST /eth/v1/beacon/pool/voluntary_exits   {"message": {"epoch", "validator_index"}, "signature"}
    GET  /eth/v1/beacon/pool/voluntary_exits   the exits waiting for a block
    POST /pybeacon/v1/validators/offline       {"validators": "0:4" | [0, 1], "offline": true | false}
    GET  /pybeacon/v1/validators/offline       which of our validators are offline

An exit is the standard SignedVoluntaryExit document; v0.8.2's VoluntaryExit carries its own
signature, so the two are put together here. It is judged on the head state advanced to the
wall-clock slot (beacon/chain/exits.py); a refusal is a 400 naming the failed condition. An
accepted exit goes to the operation pool and out on the voluntary_exit gossip topic.

The offline switch is not part of any standard: the testnet harness uses it to take a node's
validators off duty while the node runs on (docs/testnet.md, the `offline` event). The API
listens on 127.0.0.1 unless the operator says otherwise.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from beacon.api.common import ApiError, api_obj, json_response, parse_uint
from beacon.chain.exits import exit_state, voluntary_exit_problem


async def _json_body(request: Request) -> dict[str, Any]:
    if "json" not in request.headers.get("content-type", "application/json"):
        raise ApiError(415, "the body must be JSON (Content-Type: application/json)")
    body = await request.body()
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the body is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(doc).__name__}")
    return doc


def _uint(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ApiError(400, f"{what} must be a decimal string, got {type(value).__name__}")
    return parse_uint(value, what)


def _signature(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 192:
        raise ApiError(400, "signature must be 0x and 192 hex digits (a BLS signature of 96 bytes)")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ApiError(400, "signature must be 0x and 192 hex digits (a BLS signature of 96 bytes)") from None


def parse_validator_set(value: Any) -> list[int]:
    """"START:COUNT", "0,1,5", a single index, or a JSON list of indices."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str):
        text = value.strip()
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
                raise ApiError(400, f"validators {text[:40]!r}: START:COUNT wants two unsigned integers")
            start, count = int(parts[0]), int(parts[1])
            if count == 0 or count > 1 << 20:
                raise ApiError(400, f"validators {text[:40]!r}: COUNT must be 1..{1 << 20}")
            return list(range(start, start + count))
        value = [p for p in text.split(",") if p.strip()]
    if not isinstance(value, list) or not value:
        raise ApiError(400, "validators must be \"START:COUNT\", \"I,J,..\" or a non-empty list of indices")
    return sorted({_uint(v.strip() if isinstance(v, str) else v, "validator index") for v in value})


class OpsApi:
    def __init__(self, node: Any) -> None:
        self.node = node

    def routes(self) -> list[Route]:
        return [
            Route("/eth/v1/beacon/pool/voluntary_exits", self.post_exit, methods=["POST"]),
            Route("/eth/v1/beacon/pool/voluntary_exits", self.pooled_exits, methods=["GET"]),
            Route("/pybeacon/v1/validators/offline", self.post_offline, methods=["POST"]),
            Route("/pybeacon/v1/validators/offline", self.get_offline, methods=["GET"]),
        ]

    # --- voluntary exits ---------------------------------------------------------------------
    async def post_exit(self, request: Request) -> Response:
        doc = await _json_body(request)
        unknown = sorted(set(doc) - {"message", "signature"})
        if unknown or "message" not in doc or "signature" not in doc:
            raise ApiError(400, "a SignedVoluntaryExit is {\"message\": {\"epoch\", \"validator_index\"}, "
                                "\"signature\"}" + (f"; unknown key(s) {', '.join(unknown)[:80]}" if unknown else ""))
        msg = doc["message"]
        if not isinstance(msg, dict) or sorted(msg) != ["epoch", "validator_index"]:
            raise ApiError(400, "message must have exactly the keys epoch and validator_index")
        types = self.node.chain.types
        exit_ = types.VoluntaryExit(epoch=_uint(msg["epoch"], "message.epoch"),
                                    validator_index=_uint(msg["validator_index"], "message.validator_index"),
                                    signature=_signature(doc["signature"]))
        if self.node.is_syncing():
            raise ApiError(503, "the node is syncing: it cannot judge an exit yet")
        state = exit_state(self.node.chain, self.node.clock.current_slot())
        problem = voluntary_exit_problem(state, exit_)
        if problem is not None:
            raise ApiError(400, f"voluntary exit refused: {problem}")
        await self.node.submit_voluntary_exit(exit_)
        return json_response({"data": None})

    async def pooled_exits(self, request: Request) -> Response:
        exits = list(self.node.operation_pool.exits.values())
        return json_response({"data": [{"message": {"epoch": str(int(e.epoch)),
                                                     "validator_index": str(int(e.validator_index))},
                                         "signature": "0x" + bytes(e.signature).hex()} for e in exits]})

    # --- offline switch --------------------------------------------------------------------------
    def _offline_doc(self) -> dict[str, Any]:
        v = self.node.validator
        ours = sorted(v.keys) if v is not None else []
        return {"data": {"validators": api_obj(ours), "offline": api_obj(sorted(v.offline) if v else [])}}

    async def get_offline(self, request: Request) -> Response:
        return json_response(self._offline_doc())

    async def post_offline(self, request: Request) -> Response:
        doc = await _json_body(request)
        unknown = sorted(set(doc) - {"validators", "offline"})
        if unknown:
            raise ApiError(400, f"unknown key(s) {', '.join(unknown)[:80]}; allowed: offline, validators")
        if "validators" not in doc:
            raise ApiError(400, "missing key validators (\"START:COUNT\", \"I,J,..\" or a list)")
        offline = doc.get("offline", True)
        if not isinstance(offline, bool):
            raise ApiError(400, f"offline must be true or false, got {offline!r:.40}")
        indices = parse_validator_set(doc["validators"])
        if self.node.validator is None:
            raise ApiError(400, "this node runs no validators")
        try:
            self.node.validator.set_offline(indices, offline)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        return json_response(self._offline_doc())
