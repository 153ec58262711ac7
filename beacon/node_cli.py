"""`pybeacon [node]`: run a beacon node.

    pybeacon --genesis g.ssz --peer /ip4/10.0.0.1/tcp/9000/p2p/16Uiu2...
    pybeacon --interop-validators 16 --interop-genesis-time 1567777777 --validators 0:16

Everything a user can get wrong is checked before the datadir is touched, and reported as one
line with a non-zero exit: flags, files (genesis, --config), a genesis of another preset,
validator indices the genesis does not have, peer addresses, ports already in use, a node key
that does not parse. Only then is the datadir opened (and a datadir of another chain, or one in
use by another process, is refused without writing to it).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterator

from beacon.config import PRESETS

DEFAULT_HTTP_PORT = 5052
DEFAULT_METRICS_PORT = 8008  # Prometheus' usual port for beacon nodes
DEFAULT_P2P_PORT = 9000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("chain")
    g.add_argument("--genesis", metavar="FILE", help="genesis BeaconState, .ssz or .yaml")
    g.add_argument("--interop-validators", type=int, metavar="N",
                   help="build the interop quick-start genesis of N validators in memory (instead of --genesis)")
    g.add_argument("--interop-genesis-time", metavar="T",
                   help="genesis time for --interop-validators: Unix seconds, or +S for S seconds from now")
    g.add_argument("--preset", choices=PRESETS, default="minimal", help="constants preset (default minimal)")
    g.add_argument("--config", metavar="FILE.yaml", help="YAML overrides of single constants, e.g. SECONDS_PER_SLOT: 1")
    g.add_argument("--datadir", metavar="DIR",
                   help="database, node key and slashing protection (default ~/.pybeacon/<preset>-<genesis>)")

    v = parser.add_argument_group("validators (interop keys)")
    v.add_argument("--validators", metavar="START:COUNT", help="run validators START..START+COUNT-1")
    v.add_argument("--validator-indices", metavar="I,J,..", help="run these validator indices")
    v.add_argument("--unsafe-allow-equivocation", action="store_true",
                   help="TESTNETS ONLY: let POST /pybeacon/v1/chaos/equivocate make our validators sign slashable "
                        "pairs (they get slashed); without it that endpoint answers 403")

    v.add_argument("--slasher-epochs", type=_slasher_epochs, default=None, metavar="N",
                   help="widest surround vote the slasher finds, in epochs (2..65534, default 4096; its arrays take "
                        "4 bytes per validator and epoch: 4.9 GB at 300,000 validators and 4096 epochs)")

    n = parser.add_argument_group("p2p")
    n.add_argument("--listen-address", default="0.0.0.0", help="IPv4 address to listen on (default 0.0.0.0)")
    n.add_argument("--port", type=int, default=DEFAULT_P2P_PORT, help=f"libp2p TCP port (default {DEFAULT_P2P_PORT})")
    n.add_argument("--peer", dest="peers", action="append", default=[], metavar="MULTIADDR",
                   help="static peer /ip4/../tcp/../p2p/<id>, redialled when lost (repeatable)")
    n.add_argument("--no-p2p", action="store_true", help="run without networking (a single node on its own)")

    d = parser.add_argument_group("discovery (discv5 v5.1)")
    d.add_argument("--bootnode", dest="bootnodes", action="append", default=[], metavar="ENR",
                   help="a node to start discovery from, as enr:... (repeatable)")
    d.add_argument("--enr-address", metavar="IPV4", help="IPv4 address others should use to reach us (in our ENR)")
    d.add_argument("--enr-udp-port", type=int, metavar="PORT",
                   help="UDP port of discovery, listened on and put in our ENR (default: the --port number)")
    d.add_argument("--target-peers", type=int, default=16, metavar="N",
                   help="dial discovered peers of our chain until we have N peers (default 16)")
    d.add_argument("--no-discovery", action="store_true", help="no discv5: only static peers (--peer)")

    a = parser.add_argument_group("API and logs")
    a.add_argument("--http-address", default="127.0.0.1", help="address of the JSON API (default 127.0.0.1)")
    a.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT,
                   help=f"JSON API port (default {DEFAULT_HTTP_PORT}; 0 picks a free one)")
    a.add_argument("--metrics-address", default="127.0.0.1", help="address of /metrics (default 127.0.0.1)")
    a.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT,
                   help=f"Prometheus port (default {DEFAULT_METRICS_PORT}; 0 picks a free one)")
    a.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    a.add_argument("--log-format", choices=("text", "json"), default="text")


def _fail(message: str) -> Exception:
    from beacon.cli import CliError

    return CliError(message)


def _check_port(name: str, value: int) -> None:
    if not 0 <= value <= 65535:
        raise _fail(f"{name} must be a TCP port 0..65535, got {value}")


def _check_bindable(name: str, address: str, port: int, kind: int = socket.SOCK_STREAM) -> None:
    """Fail now, before the datadir is touched, if (address, port) cannot be listened on."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, kind)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((address, port))
    except OSError as e:
        raise _fail(f"{name} {address}:{port} is not available: {e.strerror}") from None
    finally:
        probe.close()


def _slasher_epochs(text: str) -> int:
    # the slasher keeps spans as uint16 distances (beacon/chain/slasher.py)
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of epochs: {text!r}") from None
    if not 2 <= n <= 65534:
        raise argparse.ArgumentTypeError(f"{n} epochs: the slasher window must be 2..65534")
    return n


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector paused while the genesis state is decoded and copied: millions of
    long-lived objects (a 300,000-validator registry), which it would walk again and again for
    nothing (~0.5 s of a 4.5 s start). It runs as usual afterwards, garbage included."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _genesis_time_arg(text: str) -> int:
    try:
        if text.startswith("+"):
            return int(time.time()) + int(text[1:])
        value = int(text)
    except ValueError:
        raise _fail(f"--interop-genesis-time wants Unix seconds or +SECONDS, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise _fail("--interop-genesis-time must be 0 <= T < 2**64")
    return value


def _load_genesis(args: argparse.Namespace, cfg: Any) -> Any:
    from genesis.load import GenesisLoadError, load_genesis_state

    if args.genesis and (args.interop_validators is not None or args.interop_genesis_time is not None):
        raise _fail("use either --genesis FILE or --interop-validators N --interop-genesis-time T, not both")
    if args.genesis:
        try:
            return load_genesis_state(args.genesis, cfg)
        except GenesisLoadError as e:
            raise _fail(str(e)) from None
    if args.interop_validators is None or args.interop_genesis_time is None:
        raise _fail("no genesis: give --genesis FILE, or --interop-validators N with --interop-genesis-time T")
    if args.interop_validators < 1:
        raise _fail("--interop-validators must be at least 1")
    from genesis.state import create_interop_genesis_state

    return create_interop_genesis_state(cfg, args.interop_validators, _genesis_time_arg(args.interop_genesis_time))


def _check_datadir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise _fail(f"--datadir {path} exists and is not a directory")
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("/"))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise _fail(f"--datadir {path}: {probe} is not writable")


def _check_node_key(datadir: Path) -> None:
    """A node key that exists but does not parse stops the node (it is never replaced)."""
    from beacon.p2p.identity import NodeKeyError, load_node_key

    path = datadir / "node_key"
    if path.exists():
        try:
            load_node_key(path)
        except NodeKeyError as e:
            raise _fail(str(e)) from None
        except OSError as e:  # a folder, a dangling link, no read permission
            raise _fail(f"cannot read node key file {path}: {e.strerror}") from None


def run(args: argparse.Namespace) -> int:
    from beacon.config import ConfigError, load_config
    from beacon.log import setup_logging
    from beacon.validator.keys import ValidatorSelectionError, load_interop_keys, select_indices

    # 1. Flags that need no files.
    for name, value in (("--port", args.port), ("--http-port", args.http_port), ("--metrics-port", args.metrics_port)):
        _check_port(name, value)
    used = [p for p in (None if args.no_p2p else args.port, args.http_port, args.metrics_port) if p]
    if len(used) != len(set(used)):
        raise _fail(f"--port, --http-port and --metrics-port must differ (got {args.port}, {args.http_port}, "
                    f"{args.metrics_port})")
    try:
        indices = select_indices(args.validators, args.validator_indices)
    except ValidatorSelectionError as e:
        raise _fail(str(e)) from None
    if args.no_p2p and args.peers:
        raise _fail("--peer makes no sense with --no-p2p")
    discovery = _discovery_options(args)

    # 2. Files: config, genesis; keys against the genesis.
    try:
        cfg = load_config(args.preset, args.config)
    except ConfigError as e:
        raise _fail(str(e)) from None
    with _no_gc():
        genesis_state = _load_genesis(args, cfg)
    try:
        keys = load_interop_keys(indices, genesis_state)
    except ValidatorSelectionError as e:
        raise _fail(str(e)) from None

    # 3. Network: peer addresses, ports.
    if not args.no_p2p:
        try:
            from beacon.p2p.host import parse_peer_multiaddr
        except ModuleNotFoundError:
            parse_peer_multiaddr = None  # type: ignore[assignment]
        for peer in args.peers:
            if parse_peer_multiaddr is not None:
                try:
                    parse_peer_multiaddr(peer)
                except ValueError as e:
                    raise _fail(f"--peer {e}") from None
        _check_bindable("--port", args.listen_address, args.port)
        if discovery is not None and discovery.udp_port:
            _check_bindable("--enr-udp-port", args.listen_address, discovery.udp_port, socket.SOCK_DGRAM)
    _check_bindable("--http-port", args.http_address, args.http_port)
    _check_bindable("--metrics-port", args.metrics_address, args.metrics_port)

    # 4. The datadir.
    from beacon.node import Node, NodeOptions, default_datadir

    with _no_gc():  # (the first collection after the load would walk all of it)
        genesis_root = genesis_state.types.BeaconBlock(state_root=genesis_state.hash_tree_root()).signing_root()
    datadir = Path(args.datadir) if args.datadir else default_datadir(cfg.preset, genesis_root)
    _check_datadir(datadir)
    if not args.no_p2p:
        _check_node_key(datadir)

    setup_logging(args.log_level, args.log_format)
    options = NodeOptions(datadir=datadir, listen_address=args.listen_address, port=args.port,
                          static_peers=tuple(args.peers), http_address=args.http_address, http_port=args.http_port,
                          metrics_address=args.metrics_address, metrics_port=args.metrics_port, p2p=not args.no_p2p,
                          discovery=discovery, allow_equivocation=args.unsafe_allow_equivocation,
                          **({"slasher_epochs": args.slasher_epochs} if args.slasher_epochs else {}))
    if args.unsafe_allow_equivocation:
        logging.getLogger("beacon.node").warning(
            "--unsafe-allow-equivocation: the chaos endpoint can make this node's validators sign slashable messages")
    from beacon.db import StoreError
    from beacon.validator.protection import ProtectionError

    try:
        with _no_gc():
            node = Node.open(cfg, genesis_state, options, keys)
    except (StoreError, ProtectionError) as e:
        raise _fail(str(e)) from None
    overrides = cfg.overridden()
    logging.getLogger("beacon.node").info(
        "preset %s%s, %d validators in genesis, genesis time %d", cfg.preset,
        " with " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())) if overrides else "",
        len(genesis_state.validators), int(genesis_state.genesis_time))
    import trio

    try:
        trio.run(node.run)
    except BaseExceptionGroup as eg:  # noqa: F821 - builtin on 3.11
        # A start-up failure inside the nursery (a port taken in the meantime...): one line.
        leaf = _first_leaf(eg)
        if isinstance(leaf, OSError):
            raise _fail(str(leaf)) from None
        raise
    except OSError as e:
        raise _fail(str(e)) from None
    if node.storage_error is not None:
        raise _fail(node.storage_error)  # logged already; the exit status says it too
    return 0


def _discovery_options(args: argparse.Namespace) -> Any:
    """DiscoveryOptions from the flags (None when off); a malformed ENR or address is an error."""
    given = args.bootnodes or args.enr_address or args.enr_udp_port is not None
    if args.no_p2p or args.no_discovery:
        if given:
            raise _fail("--bootnode/--enr-address/--enr-udp-port make no sense with "
                        + ("--no-p2p" if args.no_p2p else "--no-discovery"))
        return None
    import ipaddress

    from beacon.p2p.discv5.enr import ENR, ENRError
    from beacon.p2p.discv5.service import DiscoveryOptions

    bootnodes = []
    for text in args.bootnodes:
        try:
            bootnodes.append(ENR.from_text(text))
        except ENRError as e:
            raise _fail(f"--bootnode {text[:24]}...: {e}") from None
    if args.enr_address is not None:
        try:
            ipaddress.IPv4Address(args.enr_address)
        except ValueError:
            raise _fail(f"--enr-address wants an IPv4 address, got {args.enr_address!r}") from None
    if args.enr_udp_port is not None and not 0 <= args.enr_udp_port <= 65535:
        raise _fail(f"--enr-udp-port must be a UDP port 0..65535, got {args.enr_udp_port}")
    if args.target_peers < 0:
        raise _fail(f"--target-peers must be 0 or more, got {args.target_peers}")
    return DiscoveryOptions(bootnodes=tuple(bootnodes), enr_address=args.enr_address, udp_port=args.enr_udp_port,
                            target_peers=args.target_peers)


def _first_leaf(eg: BaseException) -> BaseException:
    while isinstance(eg, BaseExceptionGroup):  # noqa: F821
        eg = eg.exceptions[0]
    return eg
