"""The `pybeacon` command: the node is the default; tools are subcommands.

Each subcommand lives with its subsystem and exposes `add_arguments(parser)` and
`run(args) -> int`; this module only wires them up, importing each lazily so that
`pybeacon spectest` does not pay for importing libp2p.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name -> (module, one-line help). The module provides add_arguments(parser) and run(args).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "spectest": ("spectests.cli", "fetch and run the official v0.8.3 conformance vectors"),
    "genesis": ("genesis.cli", "write an interop quick-start genesis state"),
    "probe": ("beacon.p2p.probe", "dial a peer and check each step of the wire protocol"),
    "enr": ("beacon.p2p.discv5.cli", "show this node's ENR (--datadir) or decode one"),
    "testnet": ("beacon.testnet.cli", "run a multi-node testnet from a YAML description"),
    "monitor": ("beacon.monitor.cli", "serve a live block explorer / fork monitor page watching nodes' APIs"),
    "chaos": ("beacon.chaos.peer", "attack a node (loopback only): `chaos peer MULTIADDR --attack NAME`"),
    "validator": ("beacon.validator.cli", "validator actions through a node's API: `validator exit --index I --api URL`"),
    "node": ("beacon.node_cli", "run a beacon node (the default command)"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that subcommand's module is imported for its arguments
    (the others' imports cost ~0.15 s, e.g. httpx for `testnet`, on every node start)."""
    parser = argparse.ArgumentParser(prog="pybeacon", description="Ethereum 2.0 phase-0 beacon client (spec v0.8.2)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if command is not None and name != command:
            continue
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                p.set_defaults(_missing=f"'{name}' is not available in this build")
            else:
                raise
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["node", *argv]  # the node is the default command
    parser = build_parser(argv[0] if argv[0] in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"pybeacon: {args._missing}", file=sys.stderr)
        return 2
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except CliError as e:
        print(f"pybeacon: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Re-import by name: run as `python -m beacon.cli`, this module is __main__, and the
    # CliError that subcommands raise (beacon.cli.CliError) would be a different class.
    from beacon.cli import main as _main

    sys.exit(_main())
