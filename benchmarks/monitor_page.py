"""The monitor page at scale: 16 nodes and 10,000 blocks (with a fork every 50 blocks), in
headless chromium. Baseline from the same run: 2 nodes and 1,000 blocks.

Figures: how long the page takes to draw the first snapshot, and how far behind the page is
when 200 more blocks arrive as deltas at 50 a second (the time from the last delta sent to
the page having drawn it). Also the model's cost per added block (Python side).

    python benchmarks/monitor_page.py
Needs /usr/bin/chromium and /usr/bin/chromedriver, selenium, and `make vendor`.
"""
from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from beacon.api.server import serve  # noqa: E402
from beacon.monitor.model import Model  # noqa: E402
from beacon.monitor.server import MonitorServer  # noqa: E402


def r(n: int) -> str:
    return "0x" + f"{n:064x}"


def build(nodes: int, blocks: int) -> tuple[Model, float]:
    m = Model([(f"n{i}", f"http://127.0.0.1:{6000 + i}") for i in range(nodes)])
    for i in range(nodes):
        m.set_node(f"n{i}", online=True, peer_id=f"16Uiu2Peer{i}", peers=[f"16Uiu2Peer{(i + 1) % nodes}"])
    t0 = time.perf_counter()
    m.add_block(r(1), 0, None, r(10**9))
    parent, n = 1, 1
    for slot in range(1, blocks):
        n += 1
        m.add_block(r(n), slot, r(parent), r(10**9 + n))
        if slot % 50 == 0:  # a short side branch from here
            side = n
            for k in range(3):
                n += 1
                m.add_block(r(n), slot + 1 + k, r(side), r(10**9 + n))
                side = n
        parent = n - (3 if slot % 50 == 0 else 0)
        if slot % 25 == 0:
            for i in range(nodes):
                m.set_head(f"n{i}", r(parent), slot, r(10**9 + parent))
    per_block = (time.perf_counter() - t0) / max(1, len(m.blocks))
    return m, per_block


class Served:
    """The monitor server for a ready-made model, on trio in a background thread."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.port = 0
        self.token: trio.lowlevel.TrioToken | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self.thread.start()
        self.ready.wait(20)

    async def _main(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        server = MonitorServer(self.model, {})
        async with trio.open_nursery() as nursery:
            self.port = await nursery.start(serve, server.app(), "127.0.0.1", 0, "bench")
            self.ready.set()

    def call(self, fn, *args):  # noqa: ANN001
        return trio.from_thread.run_sync(fn, *args, trio_token=self.token)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={tempfile.mkdtemp(prefix='bench-chromium-')}", "--window-size=1500,950"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def measure(nodes: int, blocks: int) -> dict[str, float]:
    model, per_block = build(nodes, blocks)
    total = len(model.blocks)
    srv = Served(model)
    d = browser()
    try:
        t0 = time.perf_counter()
        d.get(f"http://127.0.0.1:{srv.port}/")
        while d.execute_script("return window.monitor ? window.monitor.blocks.size : 0") < total:
            time.sleep(0.05)
        load = time.perf_counter() - t0
        apply_ms = d.execute_script("return window.monitor.snapshotMs")
        # 200 more blocks as live deltas, 50 a second.
        top = max(b.slot for b in model.blocks.values())
        tip = max(model.blocks.values(), key=lambda b: (b.slot, b.lane == 0)).root
        n = 10**6
        for k in range(200):
            n += 1
            srv.call(model.add_block, r(n), top + 1 + k, tip, r(n))
            tip = r(n)
            time.sleep(0.02)
        sent = time.perf_counter()
        while d.execute_script("return window.monitor.blocks.size") < total + 200:
            time.sleep(0.01)
        lag = time.perf_counter() - sent
    finally:
        d.quit()
    return {"load": load, "lag": lag, "apply_ms": apply_ms, "per_block_ms": per_block * 1000, "blocks": total}


def main() -> None:
    base = measure(2, 1000)
    big = measure(16, 10000)
    print("(figures taken on a shared 2-core machine, under load from other work)")
    print(f"result: page_first_draw_{base['blocks']}_blocks_2_nodes {base['load']:.2f} s")
    print(f"result: page_first_draw_{big['blocks']}_blocks_16_nodes {big['load']:.2f} s")
    print(f"result: page_snapshot_apply_{base['blocks']}_blocks {base['apply_ms']:.0f} ms")
    print(f"result: page_snapshot_apply_{big['blocks']}_blocks {big['apply_ms']:.0f} ms")
    print(f"result: page_lag_after_200_deltas_{base['blocks']}_blocks {base['lag'] * 1000:.0f} ms")
    print(f"result: page_lag_after_200_deltas_{big['blocks']}_blocks {big['lag'] * 1000:.0f} ms")
    print(f"result: model_add_block_{base['blocks']}_blocks {base['per_block_ms']:.3f} ms")
    print(f"result: model_add_block_{big['blocks']}_blocks {big['per_block_ms']:.3f} ms")


if __name__ == "__main__":
    main()
