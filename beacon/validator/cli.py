"""`pybeacon validator exit`: sign a voluntary exit and hand it to a node's API.

    pybeacon validator exit --index 5 --api http://127.0.0.1:5052 [--epoch E] [--preset P --config C]

Who signs: this command, with the validator's interop key derived from its index
(genesis/keys.py, eth2.0-pm mocked_start), the only keys pybeacon runs today. The key is checked
against the validator's public key as the node reports it, so a chain not built from interop keys
is refused before anything is signed. The node judges the signed exit
(`POST /eth/v1/beacon/pool/voluntary_exits`, beacon/api/ops.py), pools it for its proposals and
gossips it; a refusal (unknown, inactive or already exited validator, too early, ...) is printed
as the node phrased it.

The epoch defaults to the node's current wall-clock epoch (head slot + sync distance); the preset
and --config overrides give SLOTS_PER_EPOCH and the SSZ types, as for the node.

Exit status: 0 accepted, 1 refused by the node, 2 bad usage or the node cannot be reached.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from beacon.config import PRESETS

TIMEOUT = 10.0


class ExitCliError(Exception):
    """Usage or connection problem: one line, exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="validator_command", metavar="ACTION")
    e = sub.add_parser("exit", help="sign a voluntary exit (interop key) and submit it to a node's API",
                       description="sign a voluntary exit with the validator's interop key and POST it to "
                                   "/eth/v1/beacon/pool/voluntary_exits of a node")
    e.add_argument("--index", type=int, required=True, metavar="I", help="the validator to exit")
    e.add_argument("--api", required=True, metavar="URL", help="the node's API, e.g. http://127.0.0.1:5052")
    e.add_argument("--epoch", type=int, metavar="E",
                   help="the exit's epoch (default: the node's current epoch; not valid before it)")
    e.add_argument("--preset", choices=PRESETS, default="minimal", help="constants preset (default minimal)")
    e.add_argument("--config", metavar="FILE.yaml", help="YAML overrides of constants, as given to the node")


def _request(api: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    url = api.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ExitCliError(f"cannot reach the node API at {api}: {reason}") from None
    try:
        return status, json.loads(raw) if raw.strip() else None
    except ValueError:
        raise ExitCliError(f"{url} answered HTTP {status} with something that is not JSON") from None


def _get(api: str, path: str) -> Any:
    status, doc = _request(api, path)
    if status != 200:
        msg = doc.get("message") if isinstance(doc, dict) else doc
        raise ExitCliError(f"GET {path}: HTTP {status}: {msg}")
    return doc["data"]


def run(args: argparse.Namespace) -> int:
    if getattr(args, "validator_command", None) != "exit":
        print("pybeacon validator: say what to do: `pybeacon validator exit --index I --api URL`", file=sys.stderr)
        return 2
    try:
        return _exit(args)
    except ExitCliError as e:
        print(f"pybeacon validator exit: {e}", file=sys.stderr)
        return 2


def _exit(args: argparse.Namespace) -> int:
    from beacon.config import ConfigError, load_config
    from beacon.types import get_types
    from beacon.validator.exits import sign_voluntary_exit
    from genesis.keys import interop_privkey

    if args.index < 0:
        raise ExitCliError(f"--index must not be negative, got {args.index}")
    if args.epoch is not None and args.epoch < 0:
        raise ExitCliError(f"--epoch must not be negative, got {args.epoch}")
    if not args.api.startswith(("http://", "https://")):
        raise ExitCliError(f"--api wants a URL like http://127.0.0.1:5052, got {args.api!r}")
    try:
        cfg = load_config(args.preset, args.config)
    except (ConfigError, OSError) as e:
        raise ExitCliError(f"--config: {e}") from None
    api = args.api
    status, doc = _request(api, f"/eth/v1/beacon/states/head/validators/{args.index}")
    if status == 404:
        # Let the node say it in its words (the POST below), but there is no key to check here.
        pubkey = None
    elif status != 200:
        raise ExitCliError(f"reading validator {args.index}: HTTP {status}: {doc}")
    else:
        pubkey = doc["data"]["validator"]["pubkey"]
    from beacon.crypto import bls

    privkey = interop_privkey(args.index)
    if pubkey is not None and "0x" + bytes(bls.privtopub(privkey)).hex() != pubkey:
        raise ExitCliError(f"validator {args.index}'s public key on this chain is not the interop key for index "
                           f"{args.index}: this command signs with interop keys only")
    fork_version = bytes.fromhex(_get(api, "/eth/v1/beacon/genesis")["genesis_fork_version"][2:])[:4]
    if args.epoch is None:
        sync = _get(api, "/eth/v1/node/syncing")
        wall_slot = int(sync["head_slot"]) + int(sync["sync_distance"])
        epoch = wall_slot // cfg.SLOTS_PER_EPOCH
    else:
        epoch = args.epoch
    exit_ = sign_voluntary_exit(get_types(cfg), cfg, fork_version, epoch, args.index, privkey)
    body = {"message": {"epoch": str(epoch), "validator_index": str(args.index)},
            "signature": "0x" + bytes(exit_.signature).hex()}
    status, doc = _request(api, "/eth/v1/beacon/pool/voluntary_exits", body)
    if status == 200:
        print(f"validator {args.index}: voluntary exit for epoch {epoch} accepted by {api} (pooled and gossiped)")
        return 0
    msg = doc.get("message") if isinstance(doc, dict) else doc
    print(f"pybeacon validator exit: the node refused it (HTTP {status}): {msg}", file=sys.stderr)
    return 1
