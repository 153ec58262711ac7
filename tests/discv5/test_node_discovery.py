"""Bad ENRs on the command line are one-line errors (a node that knows only the bootnode's ENR
joining and following is the harness test, test_testnet_discovery.py)."""
from __future__ import annotations

from tests.node.helpers import assert_one_line_error, pybeacon


def test_malformed_bootnode_and_enr_are_refused(tmp_path):
    dd = tmp_path / "dd"
    r = pybeacon("--interop-validators", "16", "--interop-genesis-time", "0", "--datadir", str(dd),
                 "--bootnode", "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj4")
    assert_one_line_error(r, "--bootnode", "not valid RLP")
    assert not dd.exists()
    r = pybeacon("enr", "enr:AAAA")
    assert_one_line_error(r, "malformed ENR", "not valid RLP")
