"""`python -m beacon.testnet SPEC.yaml ...`: the same as `pybeacon testnet`, without the other subcommands."""
import sys

from beacon.testnet.cli import main

sys.exit(main())
