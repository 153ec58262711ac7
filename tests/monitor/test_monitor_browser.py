"""The monitor page in a real browser (Debian's chromium + chromedriver through Selenium)
against a live two-node testnet on 127.0.0.1 (1-second slots).

A fork is induced: A (validators 0..11) and B (12..15) start without knowing each other, so
each builds its own branch from genesis. B is then restarted with A as its static peer; A's
branch carries 3/4 of the votes, so B reorgs onto it. The page must show the tree growing, the
two branches, the reorg (an alert and orphaned blocks), and a clicked block's attestations.
Screenshots land in the test's tmp dir (PYBEACON_MONITOR_SCREENSHOT=path also copies the one
taken during the fork there, as docs/monitor.md uses).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.node.helpers import REPO, env, free_ports, node, write_config  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
VENDOR = REPO / "beacon" / "monitor" / "static" / "vendor" / "cytoscape.min.js"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
                allow_module_level=True)


def collect_reorg(port: int, out: list, timeout: float = 60) -> None:
    """The first chain_reorg event of the node at `port` (connecting as soon as it listens)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not out:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /eth/v1/events?topics=chain_reorg HTTP/1.0\r\n\r\n")
                buf = b""
                while time.monotonic() < deadline:
                    try:
                        chunk = s.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    buf += chunk
                    for frame in buf.split(b"\n\n"):
                        if frame.startswith(b"event: chain_reorg\ndata: "):
                            out.append(json.loads(frame.split(b"data: ", 1)[1]))
                            return
        except OSError:
            time.sleep(0.1)


def browser(tmp: Path):
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'chromium-profile'}", "--window-size=1500,950"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_js(d, script: str, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = d.execute_script(script)
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"page: no {what} within {timeout:.0f} s (last {value!r}); snapshot "
                         f"{d.execute_script('return JSON.stringify(window.monitor.summary)')}")


@pytest.fixture
def testnet(tmp_path):
    assert VENDOR.is_file(), f"{VENDOR} missing: run `make vendor` (npm)"
    cfg = write_config(tmp_path / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis_time = int(time.time()) + 6
    common = ["--interop-validators", "16", "--interop-genesis-time", str(genesis_time), "--config", str(cfg)]
    a = node(tmp_path, "a", *common, "--validators", "0:12").start()
    b = node(tmp_path, "b", *common, "--validators", "12:4").start()
    (mport,) = free_ports(1)
    mlog = open(tmp_path / "monitor.log", "wb")
    # C is node A again, read only through its interop metrics, as another 2019 client would be.
    mon = subprocess.Popen([sys.executable, "-m", "beacon.cli", "monitor", f"A=http://127.0.0.1:{a.http_port}",
                            f"B=http://127.0.0.1:{b.http_port}",
                            f"C=metrics:http://127.0.0.1:{a.metrics_port}/metrics", "--port", str(mport)],
                           stdout=mlog, stderr=subprocess.STDOUT, env=env(), cwd=REPO, start_new_session=True)
    mlog.close()
    try:
        yield a, b, f"http://127.0.0.1:{mport}/", tmp_path
    finally:
        mon.terminate()
        try:
            mon.wait(5)
        except subprocess.TimeoutExpired:
            mon.kill()
        for n in (a, b):
            n.kill()


def test_monitor_page_shows_growth_fork_reorg_and_attestations(testnet):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    a, b, url, tmp = testnet
    d = browser(tmp)
    try:
        deadline = time.monotonic() + 30
        while True:  # the monitor process needs a moment to bind
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp / "monitor.log").read_text()
                time.sleep(0.3)
        d.get(url)
        # 1. The page loads and goes live with both nodes.
        wait_js(d, "return document.getElementById('conn').textContent === 'live'"
                   " && window.monitor.nodes.size === 3", 20, "live connection")
        assert d.find_element(By.ID, "tree").size["height"] > 200
        # 2. The tree grows when a block is imported.
        n0 = wait_js(d, "return window.monitor.blocks.size >= 2 && window.monitorTree.nodes('.block').length", 40,
                     "first blocks")
        wait_js(d, f"return window.monitorTree.nodes('.block').length > {n0}", 20, "a new block drawn")
        # The metrics-only view of A is placed on A's head (matched by the root's int64 gauge).
        wait_js(d, "const c = window.monitor.nodes.get('C'); return c && c.online && c.head_root &&"
                   " window.monitor.blocks.has(c.head_root) && window.monitor.blocks.get(c.head_root).lane ==="
                   " window.monitor.blocks.get(window.monitor.nodes.get('A').head_root).lane", 20, "C on A's branch")
        # 3. The induced fork: two branches (a second lane) and the nodes disagree.
        wait_js(d, "return window.monitor.lanes >= 2 && window.monitor.summary"
                   " && window.monitor.summary.disagreement", 40, "two branches")
        lanes = d.execute_script("return [...new Set([...window.monitor.blocks.values()].map(b => b.lane))]")
        assert len(lanes) >= 2
        assert "disagree since slot" in d.find_element(By.ID, "disagreement").text
        wait_js(d, "return window.monitor.blocks.size >= 8", 30, "eight blocks")
        # 4. Clicking a block shows its attestations (a block of A's branch after slot 2 has some).
        root = wait_js(d, """
            const tree = window.monitorTree;
            for (const b of [...window.monitor.blocks.values()].reverse()) {
              const ahead = window.monitor.nodes.get('A').head_root;
              if (b.slot >= 3 && b.lane === window.monitor.blocks.get(ahead).lane) return b.root;
            }
            return null;""", 20, "a block of A's branch")
        d.execute_script("document.getElementById('follow').checked = false;"
                         "window.monitorTree.center(window.monitorTree.getElementById(arguments[0]));", root)
        time.sleep(0.5)
        pos = d.execute_script("const p = window.monitorTree.getElementById(arguments[0]).renderedPosition();"
                               "return [p.x, p.y];", root)
        tree = d.find_element(By.ID, "tree")
        size = tree.size
        ActionChains(d).move_to_element_with_offset(tree, int(pos[0] - size["width"] / 2),
                                                    int(pos[1] - size["height"] / 2)).click().perform()
        wait_js(d, "return document.querySelectorAll('#attestations tr.att').length > 0", 15, "attestations listed")
        bits = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#attestations td.bits")]
        assert bits and all(set(x) <= {"0", "1"} and "1" in x for x in bits), bits
        assert root in d.find_element(By.ID, "details").text
        srs = d.find_elements(By.CSS_SELECTOR, "#state-roots tr.sr")
        assert any("same as the block" in r.text for r in srs), [r.text for r in srs]
        d.find_element(By.ID, "fit").click()
        time.sleep(0.5)
        d.save_screenshot(str(tmp / "monitor-fork.png"))  # during the fork, a block selected
        if target := os.environ.get("PYBEACON_MONITOR_SCREENSHOT"):
            shutil.copy(tmp / "monitor-fork.png", target)
        # 5. Resolution: B restarts with A as its static peer and reorgs onto A's heavier branch.
        b_old_head = d.execute_script("return window.monitor.nodes.get('B').head_root")
        b.stop()
        b.args += ["--peer", a.multiaddr()]
        b.start()
        # B's own event stream reports the reorg as chain_reorg (the API opens before p2p syncs).
        reorg_events: list[dict] = []
        listener = threading.Thread(target=collect_reorg, args=(b.http_port, reorg_events), daemon=True)
        listener.start()
        wait_js(d, "return window.monitor.reorgs >= 1", 60, "a reorg alert")
        wait_js(d, "return window.monitor.summary && !window.monitor.summary.disagreement"
                   " && window.monitorTree.nodes('.block.orphaned').length > 0", 40, "agreement with orphaned blocks")
        wait_js(d, "return window.monitor.peerEdges >= 1", 20, "the A-B edge in the peer graph")
        listener.join(30)
        assert reorg_events, "no chain_reorg event from B's /eth/v1/events"
        ev = reorg_events[0]
        assert int(ev["depth"]) >= 1 and ev["new_head_block"].startswith("0x")
        alerts = d.find_element(By.ID, "alerts").text
        assert "B: reorg at slot" in alerts, alerts
        assert "different state roots" not in alerts and "monitor replay differs" not in alerts, alerts
        d.save_screenshot(str(tmp / "monitor-after-reorg.png"))
        snap = json.loads(urllib.request.urlopen(url + "api/snapshot", timeout=5).read())
        heads = {n["name"]: n["head_root"] for n in snap["nodes"]}
        states = {n["name"]: n["head_state"] for n in snap["nodes"]}
        # B's old head (or a later block of its branch) is what it left: orphaned in the tree.
        by_root = {blk["root"]: blk for blk in snap["blocks"]}
        assert by_root[ev["old_head_block"]]["orphaned"] and by_root[b_old_head]["orphaned"]
        if heads["A"] == heads["B"]:
            assert states["A"] == states["B"]
        replays = [blk["replay"] for blk in snap["blocks"] if blk["replay"]]
        assert replays and all(r == "ok" or r.startswith("not replayed") for r in replays), set(replays)
        severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        d.quit()
