"""Download (npm pack) and extract the v0.8.3 vectors into the cache, one part at a time.

Layout of the cache root (see spectests.vectors_root):

    eth2-spec-tests-0.8.3.tgz          the npm tarball, kept so later extractions need no download
    eth2-spec-tests-0.8.3.tgz.json     its integrity as npm reported it and as we computed it
    manifest.json                      preset -> "runner/handler" -> case count, for the whole archive
    .extracted/<part>.done             one marker per extracted part, written last
    tests/<preset>/phase0/<runner>/<handler>/<suite>/<case>/...

A part is a whole preset ("general", "minimal", "mainnet") or a runner or a runner/handler
of one preset. The mainnet preset is ~4 GB unpacked, so only what is asked for is written,
filtering the tar members while streaming. A marker is written only after its part was
fully written; a part without a marker is removed and redone, never half-trusted.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

from spectests import VECTORS_VERSION

PACKAGE = "@chainsafe/eth2-spec-tests"
TARBALL = f"eth2-spec-tests-{VECTORS_VERSION}.tgz"
# The registry's published integrity for 0.8.3; pinned so a tampered or truncated download
# is caught even if npm's own report were wrong.
EXPECTED_INTEGRITY = (
    "sha512-3r2u9NNHAVVlLZuWzQzU3jndu8mNjh2RAiyNoTySthVdnWqQOHmgOsyPz8iy/atH9RiUj57gguEhEwcA4tkr/Q=="
)
PRESETS = ("general", "minimal", "mainnet")
MANIFEST = "manifest.json"
MARKER_DIR = ".extracted"
NPM_TIMEOUT_S = 1800


class FetchError(Exception):
    """A user-facing failure to download or extract the vectors."""


@dataclasses.dataclass(frozen=True)
class Part:
    """An extraction unit: a preset, or one runner or runner/handler inside it."""

    preset: str
    runner: str | None = None
    handler: str | None = None

    @property
    def key(self) -> str:
        return "__".join(x for x in (self.preset, self.runner, self.handler) if x)

    @property
    def label(self) -> str:
        return "/".join(x for x in (self.preset, self.runner, self.handler) if x)

    def rel_dir(self) -> Path:
        rel = Path("tests") / self.preset
        if self.runner:
            rel = rel / "phase0" / self.runner
            if self.handler:
                rel = rel / self.handler
        return rel

    def covers(self, other: "Part") -> bool:
        """True if extracting self also extracts everything of other."""
        return (
            self.preset == other.preset
            and (self.runner is None or self.runner == other.runner)
            and (self.handler is None or self.handler == other.handler)
        )

    def matches(self, preset: str, runner: str, handler: str) -> bool:
        return self.covers(Part(preset, runner, handler))


def parse_handler_filter(text: str) -> tuple[str, str | None]:
    """'runner' or 'runner/handler' -> (runner, handler|None)."""
    bits = [b for b in text.strip("/").split("/") if b]
    if not 1 <= len(bits) <= 2 or any(b in (".", "..") for b in bits):
        raise FetchError(f"--handlers takes runner or runner/handler, got {text!r}")
    return bits[0], (bits[1] if len(bits) == 2 else None)


def requested_parts(presets: Sequence[str] | None, handlers: Sequence[str] | None) -> list[Part]:
    """general is always whole (it is small and every run needs it); handler filters narrow the others."""
    chosen = list(dict.fromkeys(["general", *(presets or ["minimal"])]))
    for p in chosen:
        if p not in PRESETS:
            raise FetchError(f"unknown preset {p!r}; choose from {', '.join(PRESETS)}")
    filters = [parse_handler_filter(h) for h in handlers or []]
    parts: list[Part] = []
    for p in chosen:
        if p == "general" or not filters:
            parts.append(Part(p))
        else:
            parts.extend(Part(p, r, h) for r, h in filters)
    # Drop parts another requested part already covers, so nothing is extracted twice.
    uniq = sorted(set(parts), key=lambda q: (PRESETS.index(q.preset), q.runner or "", q.handler or ""))
    return [p for p in uniq if not any(q != p and q.covers(p) for q in uniq)]


# --- the tarball -----------------------------------------------------------------------------


def sri_sha512(path: Path) -> str:
    """Subresource-integrity string (what npm calls `integrity`) of a file."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def ensure_tarball(root: Path, log: Callable[[str], None] = print) -> Path:
    """The verified tarball in root, downloading it with `npm pack` only when absent or corrupt."""
    root.mkdir(parents=True, exist_ok=True)
    tgz = root / TARBALL
    if tgz.exists():
        if sri_sha512(tgz) == EXPECTED_INTEGRITY:
            return tgz
        log(f"{tgz} does not match the published integrity; downloading it again")
        tgz.unlink()
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(
            "npm is not on PATH; install Node.js/npm (e.g. `apt-get install npm`), or place "
            f"{PACKAGE}@{VECTORS_VERSION}'s tarball at {tgz}"
        )
    spec = f"{PACKAGE}@{VECTORS_VERSION}"
    log(f"downloading {spec} (~135 MB) with npm pack ...")
    # Pack into a scratch folder inside root so the final rename is atomic (same filesystem).
    with tempfile.TemporaryDirectory(dir=root, prefix=".npm-pack-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", spec, "--json", "--ignore-scripts"],
                cwd=tmp, capture_output=True, text=True, timeout=NPM_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise FetchError(f"npm pack {spec} did not finish within {NPM_TIMEOUT_S}s") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            raise FetchError(f"npm pack {spec} failed (exit {proc.returncode}):\n{tail}")
        info = _parse_pack_json(proc.stdout)
        got = Path(tmp) / info.get("filename", "")
        if not got.is_file():
            candidates = list(Path(tmp).glob("*.tgz"))
            if len(candidates) != 1:
                raise FetchError(f"npm pack {spec} reported success but wrote no single .tgz in {tmp}")
            got = candidates[0]
        computed = sri_sha512(got)
        reported = info.get("integrity")
        if reported and reported != computed:
            raise FetchError(f"downloaded tarball integrity {computed} differs from npm's report {reported}")
        if computed != EXPECTED_INTEGRITY:
            raise FetchError(f"downloaded tarball integrity {computed} is not the published {EXPECTED_INTEGRITY}")
        record = {"package": spec, "integrity": computed, "npm_integrity": reported, "npm_shasum": info.get("shasum")}
        (root / (TARBALL + ".json")).write_text(json.dumps(record, indent=2) + "\n")
        os.replace(got, tgz)
    log(f"saved {tgz}")
    return tgz


def _parse_pack_json(stdout: str) -> dict:
    # npm may print notices before the JSON array; the array is the last thing written.
    start = stdout.find("[")
    try:
        data = json.loads(stdout[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise FetchError(f"could not read `npm pack --json` output: {stdout[:200]!r}")
    return data[0]


# --- markers and manifest --------------------------------------------------------------------


def _marker(root: Path, part: Part) -> Path:
    return root / MARKER_DIR / f"{part.key}.done"


def extracted_parts(root: Path) -> list[Part]:
    out = []
    for m in sorted((root / MARKER_DIR).glob("*.done")):
        bits = m.name[: -len(".done")].split("__")
        out.append(Part(*bits))  # type: ignore[arg-type]
    return out


def is_extracted(root: Path, part: Part) -> bool:
    return any(done.covers(part) for done in extracted_parts(root))


def load_manifest(root: Path) -> dict[str, dict[str, int]] | None:
    """preset -> 'runner/handler' -> number of cases in the archive, if a full pass was recorded."""
    path = root / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return {p: {k: int(v) for k, v in hs.items()} for p, hs in data["presets"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged manifest is ignored; the next fetch rewrites it


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- extraction ------------------------------------------------------------------------------


def _safe_rel(name: str) -> tuple[str, ...] | None:
    """Member name 'package/tests/...' -> path components below the package, or None to ignore."""
    bits = tuple(b for b in name.split("/") if b not in ("", "."))
    if not bits or bits[0] != "package" or name.startswith("/") or ".." in bits or "\\" in name:
        return None
    return bits[1:]


def extract(root: Path, parts: Iterable[Part], log: Callable[[str], None] = print,
            tgz: Path | None = None) -> dict[str, dict[str, int]]:
    """Extract the parts not yet marked done in one streaming pass; returns the archive manifest.

    tgz defaults to the verified npm tarball in root (downloaded if needed).
    """
    parts = list(parts)
    manifest = load_manifest(root)
    if manifest is not None:
        _check_parts_exist(parts, manifest)  # before any work: refuse names the archive lacks
    todo = [p for p in parts if not is_extracted(root, p)]
    if not todo:
        if manifest is None:
            raise FetchError(f"{root / MANIFEST} is missing; delete {root / MARKER_DIR} and fetch again")
        return manifest
    if tgz is None:
        tgz = ensure_tarball(root, log)
    for part in todo:
        # Forget the part (and any finer part inside it) before touching files, so an
        # interruption from here on leaves it unmarked and it is redone next time.
        for done in extracted_parts(root):
            if part.covers(done):
                _marker(root, done).unlink(missing_ok=True)
        shutil.rmtree(root / part.rel_dir(), ignore_errors=True)
    log(f"extracting {', '.join(p.label for p in todo)} from {tgz.name} ...")
    cases: dict[str, dict[str, set[tuple[str, str]]]] = {}
    with tarfile.open(tgz, "r|gz") as tar:
        for member in tar:
            rel = _safe_rel(member.name)
            if rel is None or len(rel) < 2 or rel[0] != "tests":
                continue
            preset = rel[1]
            if len(rel) >= 7 and rel[2] == "phase0":
                runner, handler, suite, case = rel[3:7]
                cases.setdefault(preset, {}).setdefault(f"{runner}/{handler}", set()).add((suite, case))
                wanted = any(p.matches(preset, runner, handler) for p in todo)
            else:
                # tests/<preset>/config.yaml and the like: small, kept with any part of the preset.
                wanted = len(rel) == 3 and any(p.preset == preset for p in todo)
            if not wanted or member.isdir():
                continue
            if not member.isfile():
                raise FetchError(f"unexpected non-file member in the archive: {member.name}")
            dest = root.joinpath(*rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None  # isfile() members always have data
            with open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
    manifest = {p: {h: len(c) for h, c in sorted(hs.items())} for p, hs in sorted(cases.items())}
    _write_atomic(root / MANIFEST, json.dumps({"version": VECTORS_VERSION, "presets": manifest}, indent=1) + "\n")
    for part in todo:
        _write_atomic(_marker(root, part), "done\n")  # last: the part is now trusted
    _check_parts_exist(parts, manifest)  # after marking: what was found is complete either way
    return manifest


def _check_parts_exist(parts: Iterable[Part], manifest: dict[str, dict[str, int]]) -> None:
    """A requested runner/handler that the archive does not have is an error, not a quiet no-op.

    A filter counts as found when it exists in at least one requested preset (mainnet, for
    instance, has no operations/transfer while minimal does).
    """
    found: dict[tuple[str | None, str | None], bool] = {}
    for p in parts:
        hit = p.preset in manifest and any(
            p.matches(p.preset, *k.split("/", 1)) for k in manifest[p.preset]
        )
        key = (p.runner, p.handler)
        found[key] = found.get(key, False) or hit
    missing = ["/".join(x for x in k if x) or "(all)" for k, ok in found.items() if not ok]
    if missing:
        raise FetchError(f"not in the v{VECTORS_VERSION} vectors: {', '.join(sorted(missing))}")


def fetch(root: Path, presets: Sequence[str] | None = None, handlers: Sequence[str] | None = None,
          log: Callable[[str], None] = print, tgz: Path | None = None) -> None:
    parts = requested_parts(presets, handlers)
    manifest = extract(root, parts, log, tgz)
    for part in parts:
        n = sum(c for h, c in manifest.get(part.preset, {}).items() if part.matches(part.preset, *h.split("/", 1)))
        log(f"{part.label}: {n} cases in {root / part.rel_dir()}")
