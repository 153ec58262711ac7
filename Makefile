# Two commands do all set-up on a fresh machine: `make test` and `make run`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.py | sha256sum | cut -c1-12)
# pytest-xdist workers; the 2-core CI machine does best with one per core.
JOBS   ?= auto

.PHONY: venv vectors test matrix run bench clean spectest-mainnet

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

# The official v0.8.3 vectors (general + minimal), downloaded once into the user cache.
vectors: venv
	$(VENV)/bin/pybeacon spectest fetch --preset minimal

# The whole suite on the venv's Python (3.11), then the version matrix.
test: vectors
	$(PY) -m pytest -n $(JOBS) -q -p no:cacheprovider tests spectests
	$(MAKE) matrix

# nox drives the version matrix, with uv for fast installs (see noxfile.py); both live in the
# project venv so that nothing else is needed.
NOX_REQ   := nox[uv]>=2025.10.16,<2027
NOX_STAMP := $(VENV)/.nox-$(shell echo '$(NOX_REQ)' | sha256sum | cut -c1-12)
$(NOX_STAMP): $(STAMP)
	$(PY) -m pip install -q '$(NOX_REQ)'
	@rm -f $(VENV)/.nox-* && touch $(NOX_STAMP)

# A fast part of the suite (unit tests, the minimal vectors, a two-node run) on CPython 3.12 and
# 3.13, each in its venv under .nox/ (see noxfile.py). Fails, naming the places it looked, when an
# interpreter is missing. NOX_ARGS="-s fast-3.13" runs one version.
NOX_ARGS ?=
matrix: $(NOX_STAMP) vectors
	$(VENV)/bin/nox $(NOX_ARGS)

# Interop exercise 2 on this machine: node A (16 validators) and node B (none, A's static peer)
# as separate processes on 127.0.0.1, until B sees RUN_FINALIZED_EPOCH finalized (~3 min with
# the defaults). Exit status 0 only if that goal was reached. Output in runs/.
RUN_SLOT_SECONDS    ?= 2
RUN_FINALIZED_EPOCH ?= 8
RUN_GENESIS_DELAY   ?= 15
run: venv
	$(PY) -m beacon.demo --slot-seconds $(RUN_SLOT_SECONDS) --finalized-epoch $(RUN_FINALIZED_EPOCH) \
		--genesis-delay $(RUN_GENESIS_DELAY)

# Opt-in (not in `make test`): the mainnet vectors unpack to ~4 GB.
spectest-mainnet: venv
	$(VENV)/bin/pybeacon spectest fetch --preset mainnet
	$(VENV)/bin/pybeacon spectest --preset mainnet

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .nox build *.egg-info
