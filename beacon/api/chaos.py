"""Node-local chaos orders for testnet exercises (`POST /pybeacon/v1/chaos/equivocate`).

They make an honest node misbehave on purpose, so they exist only when the node was started
with `--unsafe-allow-equivocation`; without it every chaos path answers 403 and says which
flag it needs, and slashing protection stays in force for every signature.

    POST /pybeacon/v1/chaos/equivocate  {"validator": 5, "kind": "proposal"|"double_vote"|"surround_vote"}
         -> 200 {"data": {validator, kind, armed_slot, slot: null, ...}}: signed at its next duty
    GET  /pybeacon/v1/chaos/equivocations -> 200 {"data": [...]}: every order and when it was carried out
"""
from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from beacon.api.common import ApiError, json_response

FLAG = "--unsafe-allow-equivocation"


class ChaosApi:
    def __init__(self, node: Any) -> None:
        self.node = node

    def routes(self) -> list[Route]:
        return [Route("/pybeacon/v1/chaos/equivocate", self.equivocate, methods=["POST"]),
                Route("/pybeacon/v1/chaos/equivocations", self.equivocations, methods=["GET"])]

    def _allowed(self) -> Any:
        if not getattr(self.node.options, "allow_equivocation", False):
            raise ApiError(403, f"equivocation refused: this node was not started with {FLAG} "
                                "(slashing protection is in force)")
        if self.node.validator is None:
            raise ApiError(409, "this node runs no validators")
        return self.node.validator

    async def equivocate(self, request: Request) -> Response:
        validator = self._allowed()
        body = await request.body()
        try:
            doc = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, f"body is not JSON: {e}") from None
        if not isinstance(doc, dict) or set(doc) - {"validator", "kind"} or not {"validator", "kind"} <= set(doc):
            raise ApiError(400, 'body must be {"validator": INDEX, "kind": "proposal"|"double_vote"|"surround_vote"}')
        index, kind = doc["validator"], doc["kind"]
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ApiError(400, f"validator must be a validator index, got {str(index)[:40]!r}")
        if not isinstance(kind, str):
            raise ApiError(400, "kind must be a string")
        try:
            order = validator.arm_equivocation(index, kind, self.node.clock.current_slot() or 0)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        return json_response({"data": order.doc()})

    async def equivocations(self, request: Request) -> Response:
        validator = self._allowed()
        return json_response({"data": [o.doc() for o in validator.equivocations]})
