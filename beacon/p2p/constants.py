"""Every wire string and limit of the interop profile, in one place (docs/interop.md
lists the same table). Source: eth2.0-specs v0.8.3 p2p-interface.md, "Interop"."""
from __future__ import annotations

from typing import Final

# --- connection level -------------------------------------------------------
MULTISTREAM_ID: Final = "/multistream/1.0.0"
SECIO_ID: Final = "/secio/1.0.0"
MPLEX_ID: Final = "/mplex/6.7.0"
IDENTIFY_ID: Final = "/ipfs/id/1.0.0"  # built into py-libp2p's BasicHost

# --- gossip ----------------------------------------------------------------
MESHSUB_ID: Final = "/meshsub/1.0.0"
GOSSIP_MAX_SIZE: Final = 2**20  # 1 MiB, per message `data`

TOPIC_BEACON_BLOCK: Final = "/eth2/beacon_block/ssz"
TOPIC_BEACON_ATTESTATION: Final = "/eth2/beacon_attestation/ssz"
TOPIC_VOLUNTARY_EXIT: Final = "/eth2/voluntary_exit/ssz"
TOPIC_PROPOSER_SLASHING: Final = "/eth2/proposer_slashing/ssz"
TOPIC_ATTESTER_SLASHING: Final = "/eth2/attester_slashing/ssz"
ALL_TOPICS: Final = (
    TOPIC_BEACON_BLOCK,
    TOPIC_BEACON_ATTESTATION,
    TOPIC_VOLUNTARY_EXIT,
    TOPIC_PROPOSER_SLASHING,
    TOPIC_ATTESTER_SLASHING,
)

# gossipsub parameters of the profile
GOSSIP_D: Final = 6
GOSSIP_D_LOW: Final = 4
GOSSIP_D_HIGH: Final = 12
GOSSIP_D_LAZY: Final = 6
GOSSIP_FANOUT_TTL: Final = 60  # seconds
GOSSIP_ADVERTISE: Final = 3  # mcache windows gossiped (go: GossipSubHistoryGossip)
GOSSIP_HISTORY: Final = 5  # mcache windows kept (go: GossipSubHistoryLength)
GOSSIP_HEARTBEAT_INTERVAL: Final = 1  # seconds

# --- req/resp ----------------------------------------------------------------
REQ_PREFIX: Final = "/eth2/beacon_chain/req"
ENCODING_SSZ: Final = "ssz"


def req_protocol(message_name: str, version: int = 1, encoding: str = ENCODING_SSZ) -> str:
    """/ProtocolPrefix/MessageName/SchemaVersion/Encoding"""
    return f"{REQ_PREFIX}/{message_name}/{version}/{encoding}"


HELLO_ID: Final = req_protocol("hello")
GOODBYE_ID: Final = req_protocol("goodbye")
BEACON_BLOCKS_ID: Final = req_protocol("beacon_blocks")
RECENT_BEACON_BLOCKS_ID: Final = req_protocol("recent_beacon_blocks")
# v0.8.4 renamed three of them (same request bodies; block responses become one chunk per
# block). 2019 peers spoke one set or the other, so we serve both and request with both.
STATUS_ID: Final = req_protocol("status")
BEACON_BLOCKS_BY_RANGE_ID: Final = req_protocol("beacon_blocks_by_range")
BEACON_BLOCKS_BY_ROOT_ID: Final = req_protocol("beacon_blocks_by_root")

# Every name one request kind went by, ours first (we speak the v0.8.3 profile): offered
# together in multistream-select, so a peer that answers `na` to one gets the next.
HELLO_IDS: Final = (HELLO_ID, STATUS_ID)
BLOCKS_BY_RANGE_IDS: Final = (BEACON_BLOCKS_ID, BEACON_BLOCKS_BY_RANGE_ID)
BLOCKS_BY_ROOT_IDS: Final = (RECENT_BEACON_BLOCKS_ID, BEACON_BLOCKS_BY_ROOT_ID)
# Names whose block responses are one response_chunk per block (v0.8.4), not one SSZ list.
CHUNKED_RESPONSE_IDS: Final = frozenset({BEACON_BLOCKS_BY_RANGE_ID, BEACON_BLOCKS_BY_ROOT_ID})

TTFB_TIMEOUT: Final = 5.0  # seconds to the first response byte
RESP_TIMEOUT: Final = 10.0  # seconds for the rest of the response (and for reading a request)

# The spec leaves REQ_RESP_MAX_SIZE and SSZ_MAX_LIST_SIZE as TODO in v0.8.3; these are
# our choices (docs/interop.md). A response of MAX_REQUEST_BLOCKS minimal-preset blocks
# fits well inside 4 MiB; a bigger answer is trimmed by the responder, not rejected.
REQ_RESP_MAX_SIZE: Final = 2**22  # 4 MiB
MAX_REQUEST_BLOCKS: Final = 1024  # SSZ_MAX_LIST_SIZE for block lists and root lists
MAX_ERROR_MESSAGE_SIZE: Final = 256
MAX_CHUNK_SIZE: Final = 2**20  # v0.8.4: one response_chunk's payload

# response codes
RESULT_SUCCESS: Final = 0
RESULT_INVALID_REQUEST: Final = 1
RESULT_SERVER_ERROR: Final = 2
