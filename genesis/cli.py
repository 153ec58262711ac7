"""`pybeacon genesis`: write an interop quick-start genesis state as SSZ or YAML.

    pybeacon genesis --validators 16 --genesis-time 1567777777 --out genesis.ssz
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from beacon.config import PRESETS, ConfigError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--validators", type=int, required=True, metavar="N",
                        help="number of interop validators (keys 0..N-1)")
    parser.add_argument("--genesis-time", type=int, required=True, metavar="T",
                        help="genesis time, Unix seconds (set after initialize_beacon_state_from_eth1)")
    parser.add_argument("--preset", choices=PRESETS, default="minimal", help="constants preset (default minimal)")
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file overriding single constants of the preset")
    parser.add_argument("--out", required=True, metavar="FILE", help="output file: .ssz or .yaml")
    parser.add_argument("--no-key-cache", action="store_true",
                        help="derive public keys afresh instead of using the user cache dir")


class _Fail(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    # Errors are printed here (one line, status 2) rather than raised as beacon.cli.CliError,
    # which is a different class when the CLI runs as `python -m beacon.cli`.
    try:
        return _run(args)
    except _Fail as e:
        print(f"pybeacon genesis: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    CliError = _Fail
    from genesis.load import GenesisLoadError, _format_of, write_state
    from genesis.state import create_interop_genesis_state

    if args.validators < 1:
        raise CliError("--validators must be at least 1")
    if not 0 <= args.genesis_time < 2**64:
        raise CliError("--genesis-time must be a Unix time in seconds (0 <= T < 2**64)")
    try:
        _format_of(Path(args.out))  # refuse a bad extension before minutes of work
    except GenesisLoadError as e:
        raise CliError(str(e)) from None
    try:
        cfg = load_config(args.preset, args.config)
    except ConfigError as e:
        raise CliError(str(e)) from None
    started = time.monotonic()
    state = create_interop_genesis_state(cfg, args.validators, args.genesis_time,
                                         use_key_cache=not args.no_key_cache)
    try:
        write_state(state, args.out)
    except OSError as e:
        raise CliError(f"cannot write {args.out}: {e.strerror}") from None
    print(f"wrote {args.out}: {args.validators} validators, preset {cfg.preset}, genesis_time {args.genesis_time}, "
          f"state root 0x{state.hash_tree_root().hex()} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    return 0
