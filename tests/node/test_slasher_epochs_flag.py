"""`--slasher-epochs`: the slasher's span window from the command line, checked before a node
starts (tests/node/test_equivocation.py runs a detecting node with it)."""
from __future__ import annotations

import argparse

import pytest

from beacon.node_cli import add_arguments


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pybeacon node")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_slasher_epochs_flag(capsys):
    assert parse().slasher_epochs is None  # the node's default (beacon.chain.slasher.SPAN_EPOCHS)
    assert parse("--slasher-epochs", "1024").slasher_epochs == 1024
    for bad, message in (("65535", "65535 epochs: the slasher window must be 2..65534"),
                         ("1", "1 epochs: the slasher window must be 2..65534"),
                         ("many", "not a number of epochs: 'many'")):
        with pytest.raises(SystemExit):
            parse("--slasher-epochs", bad)
        assert message in capsys.readouterr().err
