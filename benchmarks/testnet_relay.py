"""Link relay benchmark: what the testnet's TCP relay (beacon/testnet/relay.py) costs and applies.

    python benchmarks/testnet_relay.py [--rounds N] [--megabytes M]

Over real 127.0.0.1 sockets to an echo server, in this one process:
  rtt direct / relay          median round trip of 100 bytes, without and through an unshaped relay
  rtt relay 50 ms             through a relay delaying the dialer's direction by 50 ms
  throughput direct / relay   M MB sent and echoed back, without and through an unshaped relay
  throughput 8000 kbit/s      the same through a relay pacing the dialer's direction at 8000 kbit/s
The direct figures are the same run's baseline.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time

from beacon.testnet.relay import Relay, RelayHub, Shaping, loopback_listener, tcp_connector


def echo_server() -> int:
    srv = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(262144):
                    conn.sendall(data)
            except OSError:
                pass  # the relay went away at the end

    def accept() -> None:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


def rtt_ms(port: int, rounds: int) -> float:
    times = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(rounds):
            t = time.perf_counter()
            s.sendall(b"x" * 100)
            got = 0
            while got < 100:
                got += len(s.recv(4096))
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def throughput_mb_s(port: int, megabytes: float) -> float:
    total = int(megabytes * 1_000_000)
    with socket.create_connection(("127.0.0.1", port)) as s:
        def send() -> None:
            block = b"b" * 65536
            left = total
            while left > 0:
                s.sendall(block[:left])
                left -= len(block)
        t = time.perf_counter()
        sender = threading.Thread(target=send)
        sender.start()
        got = 0
        while got < total:
            got += len(s.recv(262144))
        sender.join()
        return total / (time.perf_counter() - t) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--megabytes", type=float, default=20.0)
    args = ap.parse_args()
    echo = echo_server()
    hub = RelayHub()
    try:
        def relay(name: str, up: Shaping = Shaping()) -> int:
            return hub.add(Relay(name, loopback_listener, tcp_connector("127.0.0.1", echo), up, Shaping()))

        plain, slow, narrow = relay("plain"), relay("slow", Shaping(latency_ms=50)), \
            relay("narrow", Shaping(bandwidth_kbps=8000))
        print(f"result: relay_rtt_direct {rtt_ms(echo, args.rounds):.3f} ms")
        print(f"result: relay_rtt_unshaped {rtt_ms(plain, args.rounds):.3f} ms")
        print(f"result: relay_rtt_50ms_delay {rtt_ms(slow, max(10, args.rounds // 10)):.3f} ms")
        print(f"result: relay_throughput_direct {throughput_mb_s(echo, args.megabytes):.1f} MB/s")
        print(f"result: relay_throughput_unshaped {throughput_mb_s(plain, args.megabytes):.1f} MB/s")
        print(f"result: relay_throughput_8000kbps {throughput_mb_s(narrow, 4.0):.3f} MB/s")
    finally:
        hub.close()


if __name__ == "__main__":
    main()
