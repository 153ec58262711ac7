# Two commands do all set-up on a fresh machine: `make test` and `make run`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.py | sha256sum | cut -c1-12)
# pytest-xdist workers; the 2-core CI machine does best with one per core.
JOBS   ?= auto

.PHONY: venv vectors test run bench clean spectest-mainnet soak

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

# The official v0.8.3 vectors (general + minimal), downloaded once into the user cache.
vectors: venv
	$(VENV)/bin/pybeacon spectest fetch --preset minimal

test: vectors
	$(PY) -m pytest -n $(JOBS) -q -p no:cacheprovider tests spectests

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

# SIGKILL soak (issue 15): kill the validating node of a 2-node testnet SOAK_KILLS times at random
# moments, restart it each time, audit for slashable signatures, require finality afterwards.
SOAK_KILLS        ?= 100
SOAK_SLOT_SECONDS ?= 2
soak: venv
	$(PY) -m beacon.chaos.soak --kills $(SOAK_KILLS) --slot-seconds $(SOAK_SLOT_SECONDS) --out runs/soak

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
