"""`pybeacon enr`: show a node record.

    pybeacon enr --datadir DIR      this node's ENR (written by the node at start), decoded, and its multiaddr
    pybeacon enr enr:-Iu4Q...       decode any record (a malformed one: the reason, exit status 2)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("record", nargs="?", metavar="ENR", help="a record to decode (enr:...)")
    parser.add_argument("--datadir", metavar="DIR", help="the node's datadir: show the ENR it publishes")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    from beacon.cli import CliError
    from beacon.p2p.discv5.dialer import multiaddr_of_record
    from beacon.p2p.discv5.enr import ENR, ENRError
    from beacon.p2p.discv5.service import ENR_FILENAME

    if (args.record is None) == (args.datadir is None):
        raise CliError("give either a record (enr:...) or --datadir DIR")
    if args.record is not None:
        source, text = "argument", args.record
    else:
        path = Path(args.datadir) / ENR_FILENAME
        if not path.exists():
            raise CliError(f"no ENR in {args.datadir}: the node writes {path} when it starts with discovery on")
        source, text = str(path), path.read_text(encoding="ascii", errors="replace")
    try:
        record = ENR.from_text(text)
    except ENRError as e:
        raise CliError(f"malformed ENR ({source}): {e}") from None
    fields = record.describe()
    address = multiaddr_of_record(record)
    if args.json:
        print(json.dumps({"enr": record.to_text(), "fields": fields, "multiaddr": address}))
        return 0
    print(record.to_text())
    for key, value in fields.items():
        if isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        print(f"  {key:<10} {value}")
    print(f"  {'multiaddr':<10} {address or '(no ip/tcp in the record)'}")
    return 0
