from setuptools import find_packages, setup

TEST_RUNNER = ["pytest>=8,<10", "pytest-xdist>=3.5,<4", "pytest-timeout>=2.3,<3", "pytest-trio>=0.8,<0.9"]

setup(
    name="pybeacon",
    version="0.1.0",
    description="A Python Ethereum 2.0 phase-0 beacon chain client (spec v0.8.2) for the 2019 interop",
    # Tested on CPython 3.11 (the whole suite), 3.12 and 3.13 (noxfile.py's fast part). No upper
    # bound: no incompatibility with a newer CPython is known, only the testing is missing.
    python_requires=">=3.11",
    packages=find_packages(include=["beacon", "beacon.*", "genesis", "genesis.*", "spectests", "spectests.*"]),
    package_data={"beacon.config": ["presets/*.yaml"]},
    install_requires=[
        "trio>=0.22,<0.40",
        "libp2p>=0.8.1,<0.9",
        "ssz>=0.6,<0.7",
        "py_ecc>=8.0,<9",
        "plyvel>=1.5,<2",
        "milagro-bls-binding>=1.9,<2",
        "py-arkworks-bls12381>=0.5,<0.6",
        "PyYAML>=6,<7",
        "numpy>=1.26,<3",
        "prometheus_client>=0.20,<1",
    ],
    extras_require={
        # matplotlib: the testnet harness's plots are checked by the suite.
        "test": [*TEST_RUNNER, "matplotlib>=3.8,<4"],
        # The version matrix's fast part (noxfile.py): the runner alone, no plots.
        "test-runner": TEST_RUNNER,
        "plot": ["matplotlib>=3.8,<4"],
    },
    entry_points={"console_scripts": ["pybeacon=beacon.cli:main"]},
)
