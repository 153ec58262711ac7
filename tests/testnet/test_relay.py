"""The link relay over real sockets: delay, bandwidth, resets and cuts are measurably applied."""
from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest

from beacon.testnet.relay import Relay, RelayHub, Shaping, loopback_listener, tcp_connector


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A real TCP echo server on 127.0.0.1 (one thread per connection)."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    srv.close()


@pytest.fixture
def hub() -> Iterator[RelayHub]:
    h = RelayHub()
    yield h
    h.close()


def relay_to(hub: RelayHub, port: int, up: Shaping = Shaping(), down: Shaping = Shaping(), name: str = "r") -> int:
    return hub.add(Relay(name, loopback_listener, tcp_connector("127.0.0.1", port), up, down, seed=1))


def round_trip(port: int, payload: bytes = b"x" * 100) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"warm")
        assert s.recv(16) == b"warm"
        start = time.perf_counter()
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += s.recv(65536)
        assert got == payload
        return time.perf_counter() - start


def test_latency_applies_per_direction(hub: RelayHub, echo_port: int) -> None:
    base = min(round_trip(echo_port) for _ in range(3))
    up_only = min(round_trip(relay_to(hub, echo_port, up=Shaping(latency_ms=80), name="up")) for _ in range(3))
    both = min(round_trip(relay_to(hub, echo_port, up=Shaping(latency_ms=80), down=Shaping(latency_ms=40),
                                   name="both")) for _ in range(3))
    assert base < 0.05
    assert 0.08 <= up_only < 0.08 + 0.15
    assert 0.12 <= both < 0.12 + 0.15


def test_jitter_varies_the_delay_but_keeps_order(hub: RelayHub, echo_port: int) -> None:
    port = relay_to(hub, echo_port, up=Shaping(latency_ms=50, jitter_ms=40))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        sent = b"".join(i.to_bytes(2, "big") for i in range(500))
        for i in range(0, len(sent), 20):  # many small writes, each its own delay draw
            s.sendall(sent[i:i + 20])
            time.sleep(0.001)
        got = b""
        while len(got) < len(sent):
            got += s.recv(65536)
    assert got == sent  # TCP order survives the jitter
    times = [round_trip(port) for _ in range(8)]
    assert min(times) >= 0.01 and max(times) - min(times) > 0.01


def test_bandwidth_paces_a_bulk_transfer(hub: RelayHub, echo_port: int) -> None:
    payload = b"b" * 100_000
    base = round_trip(echo_port, payload)
    # 800 kbit/s = 100 kB/s up; the echo back is unshaped: ~1 s for 100 kB.
    shaped = round_trip(relay_to(hub, echo_port, up=Shaping(bandwidth_kbps=800)), payload)
    assert base < 0.2
    assert 0.85 <= shaped < 2.0, shaped


def test_resets_end_connections_with_rst(hub: RelayHub, echo_port: int) -> None:
    port = relay_to(hub, echo_port, up=Shaping(resets_per_min=600))  # one per 0.1 s on average
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with pytest.raises(ConnectionResetError):
            while time.perf_counter() - start < 5:
                s.sendall(b"ping")
                if not s.recv(16):
                    break  # an orderly close would not be a reset
                time.sleep(0.01)
    assert time.perf_counter() - start < 5
    assert hub.relays["r"].stats.resets == 1


def test_cut_resets_and_refuses_until_healed(hub: RelayHub, echo_port: int) -> None:
    port = relay_to(hub, echo_port)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"a")
    assert s.recv(4) == b"a"
    hub.set_cut({"r"}, True)
    with pytest.raises(ConnectionResetError):
        s.sendall(b"b")
        s.recv(4)
    s.close()
    with pytest.raises(ConnectionResetError):  # at connect or at the first read, as the RST races
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s2:
            s2.recv(4)
    hub.set_cut({"r"}, False)
    assert round_trip(port) < 0.1
    stats = hub.relays["r"].stats
    assert (stats.cut, stats.refused) == (1, 1)
