from setuptools import Extension, find_packages, setup

# hypothesis: generated inputs in the unit tests the matrix runs too (tests/chain/test_slasher.py)
# as well as in the fuzz targets.
TEST_RUNNER = ["pytest>=8,<10", "pytest-xdist>=3.5,<4", "pytest-timeout>=2.3,<3", "pytest-trio>=0.8,<0.9",
               "hypothesis>=6.100,<7"]

setup(
    name="pybeacon",
    version="0.1.0",
    description="A Python Ethereum 2.0 phase-0 beacon chain client (spec v0.8.2) for the 2019 interop",
    # Tested on CPython 3.11 (the whole suite), 3.12 and 3.13 (noxfile.py's fast part). No upper
    # bound: no incompatibility with a newer CPython is known, only the testing is missing.
    python_requires=">=3.11",
    packages=find_packages(include=["beacon", "beacon.*", "genesis", "genesis.*", "spectests", "spectests.*"]),
    package_data={"beacon.config": ["presets/*.yaml"], "beacon.testnet": ["clients/*.yaml"],
                  # the monitor page; static/vendor/ is filled from npm by `make vendor`
                  "beacon.monitor": ["static/*.html", "static/*.js", "static/*.css", "static/vendor/*.js"]},
    install_requires=[
        "trio>=0.22,<0.40",
        "libp2p>=0.8.1,<0.9",
        "ssz>=0.6,<0.7",
        "py_ecc>=8.0,<9",
        "plyvel>=1.5,<2",
        "milagro-bls-binding>=1.9,<2",
        "py-arkworks-bls12381>=0.5,<0.6",
        # blst (supranational's C/assembly BLS12-381) for G1 and the pairings: its Miller loop is
        # 1.6x faster than arkworks' (0.26 against 0.41 ms), which the block and verify targets of
        # issue 14 need (docs/performance.md). Wheels on PyPI for manylinux x86_64 (CPython 3.11 installed here).
        "pyblst>=0.3.15,<0.4",
        "PyYAML>=6,<7",
        "numpy>=1.26,<3",
        "prometheus_client>=0.20,<1",
        # The HTTP API: Starlette (routing, SSE streaming) on Hypercorn's trio worker, so the API
        # runs inside the node's trio nursery instead of a hand-written HTTP parser.
        "starlette>=0.37,<2",
        "hypercorn>=0.16,<0.19",
        # The monitor's client of the nodes' APIs (async, runs on trio through anyio).
        "httpx>=0.27,<0.29",
        # discv5/ENR (beacon/p2p/discv5): RLP of records and messages (rlp 5 needs eth-utils>=2, which
        # libp2p already brings; eth-enr/ddht would pull eth-utils 1.x and old trio). coincurve
        # (secp256k1), cryptography (AES-CTR/GCM, HKDF) and pycryptodome (keccak) come with libp2p
        # already; named here because we import them directly.
        "rlp>=4,<6",
        "coincurve>=18",
        "cryptography>=41",
        "pycryptodome>=3.19",
    ],
    extras_require={
        # matplotlib: the testnet harness's plots are checked by the suite (and benchmarks plot).
        "test": [*TEST_RUNNER, "matplotlib>=3.8,<4",
                 # the monitor page is checked in a real browser (Debian's chromium + chromedriver)
                 "selenium>=4.20,<5",
                 # Fuzzing (tests/fuzz): atheris is libFuzzer for Python (coverage-guided; wheels
                 # for CPython 3.11 on Linux), Hypothesis (in TEST_RUNNER) structured SSZ values.
                 "atheris>=2.3,<4"],
        # The version matrix's fast part (noxfile.py): the runner alone, no plots.
        "test-runner": TEST_RUNNER,
        # py-spy: the flame graphs of docs/performance.md (benchmarks/flamegraphs.py; a sampling
        # profiler whose wheel ships the binary); not needed by the suite.
        "bench": ["py-spy>=0.3.14,<0.5"],
        "plot": ["matplotlib>=3.8,<4"],
    },
    entry_points={"console_scripts": ["pybeacon=beacon.cli:main"]},
    # One Merkle layer of SHA-256 in C (beacon/state/_hashlayer.c, against OpenSSL's libcrypto):
    # 3-4x fewer cycles per hash than hashlib for the epoch's compact committees root. Optional:
    # without a compiler or OpenSSL's headers the install goes on and roots.py uses hashlib.
    ext_modules=[Extension("beacon.state._hashlayer", ["beacon/state/_hashlayer.c"], libraries=["crypto"],
                           optional=True)],
)
