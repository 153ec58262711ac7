"""`pybeacon spectest`: run the v0.8.3 vectors; `pybeacon spectest fetch`: download/extract them.

    pybeacon spectest [--preset minimal|mainnet] [--vectors DIR] [--bls fast|py_ecc] [-j N] [HANDLER ...]
    pybeacon spectest fetch [--preset minimal|mainnet|general ...] [--handlers runner[/handler] ...]

HANDLER is [preset/]runner[/handler[/suite[/case]]], e.g. bls, ssz_static/BeaconState,
operations/deposit. Exit status: 0 all passed, 1 something failed, 2 usage or setup error.
"""
from __future__ import annotations

import argparse
import os
import sys

from spectests import vectors_root

PRESET_CHOICES = ("general", "minimal", "mainnet")


def _presets(text: str) -> list[str]:
    # --preset may be repeated or comma-separated; one value per flag keeps HANDLER positionals unambiguous.
    names = [t for t in text.split(",") if t]
    for n in names:
        if n not in PRESET_CHOICES:
            raise argparse.ArgumentTypeError(f"invalid preset {n!r} (choose from {', '.join(PRESET_CHOICES)})")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  pybeacon spectest fetch                      # general + minimal into the cache\n"
        "  pybeacon spectest fetch --preset mainnet --handlers ssz_static/BeaconState\n"
        "  pybeacon spectest                            # every general + minimal case\n"
        "  pybeacon spectest -j 4 bls ssz_static/BeaconState operations/deposit\n"
        "\n"
        "general always runs alongside the chosen preset (default minimal). A case folder with no\n"
        "registered handler, or requested vectors missing on disk, count as failures.\n"
        "vectors: --vectors DIR, else $PYBEACON_VECTORS, else ~/.cache/pybeacon/vectors/v0.8.3\n"
        "(under $XDG_CACHE_HOME when set)."
    )
    parser.add_argument("targets", nargs="*", metavar="HANDLER",
                        help="what to run: [preset/]runner[/handler[/suite[/case]]]; or `fetch` to download")
    parser.add_argument("--preset", action="extend", type=_presets, default=None, metavar="NAME",
                        help="minimal (default) or mainnet, run together with general; repeatable; "
                             "for fetch: presets to extract")
    parser.add_argument("--vectors", metavar="DIR", default=None,
                        help="vectors root holding tests/<preset>/... (default: $PYBEACON_VECTORS or the cache)")
    parser.add_argument("--bls", choices=("fast", "py_ecc"), default=None,
                        help="BLS backend for the handlers (default: the crypto layer's default)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes (default: number of cores)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every failure with its traceback, not just the first 20 per handler")
    parser.add_argument("--handlers", nargs="+", action="extend", default=None, metavar="RUNNER[/HANDLER]",
                        help="fetch only: extract only these runners/handlers of minimal/mainnet "
                             "(general is always extracted whole)")


def _error(message: str) -> int:
    # Printed here rather than raised as beacon.cli.CliError so the status is 2 however the
    # dispatcher was started (under `python -m beacon.cli` its CliError is a different class).
    print(f"pybeacon spectest: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    root = vectors_root(args.vectors)
    targets = list(args.targets)
    if targets and targets[0] == "fetch":
        from spectests.fetch import FetchError, fetch

        try:
            # Positionals after `fetch` are handler filters too: `spectest fetch --preset mainnet bls`.
            fetch(root, args.preset, (args.handlers or []) + targets[1:])
        except FetchError as e:
            return _error(str(e))
        return 0
    if args.handlers:
        return _error("--handlers is for `pybeacon spectest fetch`; to run a subset, list HANDLERs")
    if args.jobs < 1:
        return _error(f"-j must be at least 1, got {args.jobs}")

    from spectests import runner

    try:
        return runner.run(root, args.preset, targets, jobs=args.jobs, bls=args.bls, verbose=args.verbose)
    except runner.VectorsMissing as e:
        return _error(str(e))
    except runner.BadRequest as e:  # a malformed HANDLER or preset
        return _error(str(e))


if __name__ == "__main__":
    from beacon.cli import main

    sys.exit(main(["spectest", *sys.argv[1:]]))
