"""Client descriptions shipped with the harness (beacon/testnet/clients/NAME.yaml), loaded by name.

`pybeacon testnet ex2.yaml --client-a trinity` takes role A's client from clients/trinity.yaml.
A description may use two folders that depend on the machine, filled in when it is loaded:
`{shared}`, the folder of the peers' build and run scripts, and `{peers_dir}`, where they install.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml

from beacon.testnet.spec import Client, SpecError, parse_client

CLIENTS_DIR = Path(__file__).with_name("clients")
REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """PYBEACON_PEERS_SHARED, else the first `shared/peers` beside this checkout or above it
    (/work/main -> /work/shared/peers; a worktree /work/wt/x -> the same folder)."""
    if env := os.environ.get("PYBEACON_PEERS_SHARED"):
        return Path(env).expanduser()
    for parent in REPO.parents:
        if (parent / "shared" / "peers").is_dir():
            return parent / "shared" / "peers"
    return REPO.parent / "shared" / "peers"


def peers_dir() -> Path:
    """Where the peers' build scripts install (PEERS_DIR, as they read it)."""
    return Path(os.environ.get("PEERS_DIR") or "~/.cache/pybeacon-peers").expanduser()


def names() -> list[str]:
    return sorted(p.stem for p in CLIENTS_DIR.glob("*.yaml"))


def is_client_ref(value: str) -> bool:
    """A --client-a value naming a description (`trinity`, `path/to/x.yaml`), not a command template.

    A template fills in at least the node's port, so a single word without placeholders is a name
    (and an unknown one gets the list of known names, not a node that cannot start)."""
    text = value.strip()
    return bool(text) and not any(c.isspace() for c in text) and "{" not in text


def _fill(text: str) -> str:
    # Quoted for the template's shlex split: a folder with a space stays one argument.
    return text.replace("{shared}", shlex.quote(str(shared_dir()))).replace("{peers_dir}", shlex.quote(str(peers_dir())))


def load_client(ref: str) -> Client:
    """A client by name (a file of clients/) or by path to such a YAML file."""
    path = CLIENTS_DIR / f"{ref}.yaml" if ref in names() else Path(ref)
    if not path.is_file():
        raise SpecError(f"no client description {ref!r}: known names are {', '.join(names())}, "
                        "or give a path to a .yaml file")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SpecError(f"{path}: not readable YAML: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: must be a mapping")
    data = {k: (_fill(v) if isinstance(v, str) and k in ("command", "cleanup", "requires", "build_hint") else v)
            for k, v in data.items()}
    try:
        client = parse_client(data, path.stem)
    except SpecError as e:
        raise SpecError(f"{path}: {e}") from None
    return client


def missing(client: Client) -> str | None:
    """The one-line install hint when the client is not installed here, else None."""
    if client.requires is None or Path(shlex.split(client.requires)[0]).expanduser().exists():
        return None
    return client.build_hint or f"{client.name} is not installed here: {client.requires} is missing"
