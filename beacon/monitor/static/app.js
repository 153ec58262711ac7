// pybeacon monitor page: applies the monitor's deltas (server-sent events) to two cytoscape.js
// graphs and a few tables. Nothing is redrawn from scratch after the first snapshot: a block
// is one cy.add at a fixed position (x = slot, y = its branch's lane), so 10,000 blocks stay
// cheap. window.monitor exposes counters for the browser tests.
"use strict";

const XS = 34, YS = 46;           // pixels per slot, per lane
const state = {
  blocks: new Map(),             // root -> block doc
  nodes: new Map(),              // name -> node doc
  heads: new Map(),              // root -> [node names] whose head it is
  checkpoints: {justified: new Set(), finalized: new Set()},
  spe: 8, maxSlot: 0, seq: 0, alerts: 0, reorgs: 0, lanes: 0, orphaned: 0,
  participation: new Map(), selected: null,
};
window.monitor = state;

const short = (r) => (r ? r.slice(0, 8) : "-");
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

const tree = cytoscape({
  container: document.getElementById("tree"),
  minZoom: 0.02, maxZoom: 3,
  textureOnViewport: true, hideEdgesOnViewport: true, motionBlur: false, pixelRatio: 1,
  boxSelectionEnabled: false, autoungrabify: true, autounselectify: true,
  style: [
    // Cheap styles first: at 10,000 blocks the canvas cost is in labels and edge geometry,
    // so only heads carry a label and edges are haystack lines.
    {selector: "node.block", style: {width: 20, height: 20, "background-color": "#3b6fd1"}},
    {selector: "node.block.orphaned", style: {"background-color": "#d32f2f"}},
    {selector: "node.block.bad", style: {"background-color": "#000", "border-width": 3, "border-color": "#f0a"}},
    {selector: "node.block.justified", style: {"border-width": 4, "border-color": "#ff9800"}},
    {selector: "node.block.finalized", style: {"border-width": 4, "border-color": "#2e7d32"}},
    {selector: "node.block.head", style: {"outline-width": 3, "outline-color": "#7b1fa2", "outline-offset": 2,
      "font-weight": "bold", label: "data(label)", "font-size": 10, "text-valign": "top", "text-margin-y": -3,
      color: "#4a148c", "text-wrap": "wrap", "text-max-width": 160, "min-zoomed-font-size": 4}},
    {selector: "node.block.picked", style: {width: 28, height: 28, "border-width": 5, "border-color": "#ffd600"}},
    {selector: "node.missed", style: {width: 7, height: 7, "background-color": "#bbb", shape: "ellipse"}},
    {selector: "node.slotmark", style: {width: 1, height: 1, "background-opacity": 0, label: "data(label)",
      "font-size": 10, color: "#888", "text-valign": "center", "min-zoomed-font-size": 6}},
    {selector: "edge", style: {width: 2, "line-color": "#9aa7c0", "curve-style": "haystack",
      "haystack-radius": 0}},
    {selector: "edge.orphaned", style: {"line-color": "#e57373"}},
  ],
});

window.monitorTree = tree;

const peerGraph = cytoscape({
  container: document.getElementById("peers"),
  boxSelectionEnabled: false, userZoomingEnabled: true, maxZoom: 1.2,
  style: [
    {selector: "node", style: {label: "data(label)", "font-size": 10, width: 16, height: 16,
      "background-color": "#3b6fd1"}},
    {selector: "node.offline", style: {"background-color": "#bbb"}},
    {selector: "node.other", style: {"background-color": "#fff", "border-width": 1, "border-color": "#888"}},
    {selector: "edge", style: {width: 1.5, "line-color": "#9aa7c0"}},
  ],
});

// --- the tree -----------------------------------------------------------------------------
function blockLabel(root) {
  const names = state.heads.get(root);
  return names && names.length ? "\u25B2 " + names.join(", ") : "";
}

function blockElements(b) {
  const els = [{group: "nodes", data: {id: b.root, label: blockLabel(b.root), slot: b.slot},
                position: {x: b.slot * XS, y: b.lane * YS}, classes: blockClasses(b)}];
  if (b.parent && (state.blocks.has(b.parent))) {
    els.push({group: "edges", data: {id: "e" + b.root, source: b.parent, target: b.root},
              classes: b.orphaned ? "orphaned" : ""});
  }
  return els;
}

function blockClasses(b) {
  const c = ["block"];
  if (b.orphaned) c.push("orphaned");
  if (b.replay && !b.replay.startsWith("ok") && !b.replay.startsWith("not replayed")) c.push("bad");
  if (state.checkpoints.finalized.has(b.root)) c.push("finalized");
  else if (state.checkpoints.justified.has(b.root)) c.push("justified");
  if (state.heads.has(b.root)) c.push("head");
  if (state.selected === b.root) c.push("picked");
  return c.join(" ");
}

function refreshBlock(root) {
  const b = state.blocks.get(root);
  const el = tree.getElementById(root);
  if (!b || el.empty()) return;
  el.classes(blockClasses(b));
  el.data("label", blockLabel(root));
}

function slotMarks(upTo) {
  // A faint slot number every epoch along the top.
  const els = [];
  for (let s = Math.floor(state.maxSlot / state.spe) * state.spe + state.spe; s <= upTo; s += state.spe) {
    els.push({group: "nodes", data: {id: "s" + s, label: "slot " + s + " | epoch " + s / state.spe},
              position: {x: s * XS, y: -YS}, classes: "slotmark"});
  }
  if (state.maxSlot === 0 && upTo >= 0 && !tree.getElementById("s0").length) {
    els.push({group: "nodes", data: {id: "s0", label: "slot 0"}, position: {x: 0, y: -YS}, classes: "slotmark"});
  }
  return els;
}

function addBlocks(list) {
  const els = [];
  let top = state.maxSlot;
  for (const b of list) {
    if (state.blocks.has(b.root)) continue;
    state.blocks.set(b.root, b);
    state.lanes = Math.max(state.lanes, b.lane + 1);
    if (b.orphaned) state.orphaned += 1;
    els.push(...blockElements(b));
    if (b.slot > top) top = b.slot;
  }
  els.push(...slotMarks(top));
  state.maxSlot = Math.max(state.maxSlot, top);
  if (els.length) tree.add(els);
  renderCounts();
  follow();
}

function renderCounts() {
  document.getElementById("counts").textContent =
    `${state.blocks.size} blocks, ${state.lanes} branch row(s), ${state.orphaned} orphaned`;
}

function addMissed(slots, lane) {
  const els = [];
  for (const s of slots) {
    const id = "m" + lane + ":" + s;
    if (!tree.getElementById(id).length) {
      els.push({group: "nodes", data: {id}, position: {x: s * XS, y: lane * YS}, classes: "missed"});
    }
  }
  if (els.length) tree.add(els);
}

function follow() {
  if (!document.getElementById("follow").checked) return;
  const z = tree.zoom();
  const w = tree.width();
  tree.pan({x: w - 60 - state.maxSlot * XS * z, y: 50});
}

document.getElementById("fit").onclick = () => {
  document.getElementById("follow").checked = false;
  tree.fit(tree.nodes(".block"), 30);
  if (tree.zoom() > 1) tree.zoom({level: 1, renderedPosition: {x: tree.width() / 2, y: tree.height() / 2}});
};
tree.on("tap", "node.block", (evt) => selectBlock(evt.target.id()));

// --- nodes, heads, checkpoints --------------------------------------------------------------
function setNode(n) {
  const old = state.nodes.get(n.name);
  state.nodes.set(n.name, n);
  const touched = new Set();
  if (old && old.head_root !== n.head_root && old.head_root) {
    const names = (state.heads.get(old.head_root) || []).filter((x) => x !== n.name);
    if (names.length) state.heads.set(old.head_root, names); else state.heads.delete(old.head_root);
    touched.add(old.head_root);
  }
  if (n.head_root) {
    const names = state.heads.get(n.head_root) || [];
    if (!names.includes(n.name)) { names.push(n.name); names.sort(); }
    state.heads.set(n.head_root, names);
    touched.add(n.head_root);
  }
  // Checkpoint classes: the union over nodes (cheap: a handful of roots).
  const just = new Set(), fin = new Set();
  for (const m of state.nodes.values()) {
    if (m.justified) just.add(m.justified.root);
    if (m.finalized) fin.add(m.finalized.root);
  }
  for (const r of [...state.checkpoints.justified, ...state.checkpoints.finalized, ...just, ...fin]) touched.add(r);
  state.checkpoints = {justified: just, finalized: fin};
  tree.batch(() => touched.forEach(refreshBlock));
  renderNodes();
  renderPeers();
}

function renderNodes() {
  const rows = [];
  const byHead = new Map();
  for (const n of state.nodes.values()) {
    if (n.online && n.head_root && n.head_state) {
      if (!byHead.has(n.head_root)) byHead.set(n.head_root, new Set());
      byHead.get(n.head_root).add(n.head_state);
    }
  }
  for (const n of state.nodes.values()) {
    const split = n.head_root && byHead.has(n.head_root) && byHead.get(n.head_root).size > 1;
    const sr = n.head_state ? `<span class="${split ? "bad" : "ok"}">${short(n.head_state)} ${split ? "\u2717 differs" : "\u2713"}</span>` : "-";
    rows.push(`<tr class="${n.online ? "online" : "offline"}" data-node="${esc(n.name)}" title="${esc(n.url)} ${esc(n.version || "")} ${esc(n.error || "")}">
      <td>${esc(n.name)}${n.source === "metrics" ? " <small>(metrics)</small>" : ""}${n.online ? "" : " (offline)"}</td>
      <td class="mono">${n.head_slot ?? "-"} ${short(n.head_root)}</td><td class="mono">${sr}</td>
      <td class="mono">${n.justified ? n.justified.epoch + " " + short(n.justified.root) : "-"}</td>
      <td class="mono">${n.finalized ? n.finalized.epoch + " " + short(n.finalized.root) : "-"}</td>
      <td>${n.source === "metrics" ? (n.peer_count ?? "-") : (n.peers || []).length}</td><td>${n.reorgs}</td></tr>`);
  }
  document.querySelector("#nodes tbody").innerHTML = rows.join("");
}

function renderSummary(s) {
  const box = document.getElementById("disagreement");
  const online = [...state.nodes.values()].filter((n) => n.online);
  if (s.disagreement) {
    box.className = "split";
    box.innerHTML = `<b>Nodes disagree since slot ${s.disagreement.since_slot ?? "?"}</b>: ` +
      s.disagreement.groups.map((g) => `${g.nodes.map(esc).join(", ")} on ${short(g.head)} (slot ${g.slot})`).join("; ");
  } else if (online.length) {
    const h = online[0].head_root;
    box.className = "agree";
    box.textContent = `All ${online.length} online node(s) agree on head ${short(h)}.`;
  }
  state.summary = s;
}

// --- peers ------------------------------------------------------------------------------------
let peerKey = "";
function renderPeers() {
  const nodes = [...state.nodes.values()];
  const key = JSON.stringify(nodes.map((n) => [n.name, n.peer_id, n.online, n.peers]));
  if (key === peerKey) return;
  peerKey = key;
  const byPeer = new Map(nodes.filter((n) => n.peer_id).map((n) => [n.peer_id, n.name]));
  const els = [];
  const ids = new Set();
  for (const n of nodes) {
    const id = n.peer_id || "name:" + n.name;
    ids.add(id);
    els.push({group: "nodes", data: {id, label: n.name}, classes: n.online ? "" : "offline"});
  }
  const seen = new Set();
  for (const n of nodes) {
    if (!n.peer_id) continue;
    for (const p of n.peers || []) {
      if (!ids.has(p)) { ids.add(p); els.push({group: "nodes", data: {id: p, label: p.slice(-6)}, classes: "other"}); }
      const k = [n.peer_id, p].sort().join("|");
      if (seen.has(k)) continue;
      seen.add(k);
      els.push({group: "edges", data: {id: "p" + k, source: n.peer_id, target: p}});
    }
  }
  peerGraph.elements().remove();
  peerGraph.add(els);
  peerGraph.layout({name: els.length > 2 ? "circle" : "grid", padding: 20}).run();
  state.peerEdges = seen.size;
  void byPeer;
}

// --- participation, alerts ----------------------------------------------------------------------
function setParticipation(list) {
  for (const p of list) state.participation.set(p.epoch, p);
  const rows = [...state.participation.values()].sort((a, b) => b.epoch - a.epoch).slice(0, 12).map((p) => {
    const pct = p.rate == null ? null : Math.round(p.rate * 100);
    return `<tr><td>${p.epoch}</td><td><div class="bar"><div style="width:${pct ?? 0}%"></div></div></td>
      <td>${p.attested}/${p.active ?? "?"}${pct == null ? "" : ` (${pct}%)`}</td></tr>`;
  });
  document.querySelector("#participation tbody").innerHTML = rows.join("");
}

function addAlert(a) {
  state.alerts += 1;
  if (a.kind === "reorg") state.reorgs += 1;
  const li = document.createElement("li");
  li.className = a.kind;
  li.textContent = new Date(a.time * 1000).toLocaleTimeString() + "  " + a.message;
  const ul = document.getElementById("alerts");
  ul.insertBefore(li, ul.firstChild);
  while (ul.children.length > 200) ul.removeChild(ul.lastChild);
  document.getElementById("alert-count").textContent = `(${state.alerts}, ${state.reorgs} reorgs)`;
}

// --- block details ------------------------------------------------------------------------------
function bitString(hex) {
  // SSZ bitlist: little-endian bits, the highest set bit marks the length.
  const bytes = hex.slice(2).match(/../g) || [];
  const bits = [];
  bytes.forEach((h) => { const v = parseInt(h, 16); for (let i = 0; i < 8; i++) bits.push((v >> i) & 1); });
  const last = bits.lastIndexOf(1);
  return last < 0 ? "" : bits.slice(0, last).join("");
}

async function selectBlock(root) {
  if (state.selected) tree.getElementById(state.selected).removeClass("picked");
  state.selected = root;
  tree.getElementById(root).addClass("picked");
  const box = document.getElementById("details");
  box.innerHTML = `<p class="hint">loading ${esc(short(root))}…</p>`;
  let d;
  try {
    const r = await fetch("/api/block/" + root);
    d = await r.json();
    if (!r.ok) throw new Error(d.message || r.status);
  } catch (e) {
    box.innerHTML = `<p class="bad">could not load the block: ${esc(e.message)}</p>`;
    return;
  }
  if (state.selected !== root) return;
  const m = d.block ? d.block.message : null;
  const body = m ? m.body : null;
  const atts = body ? body.attestations : [];
  const attRows = atts.map((a) => {
    const bits = bitString(a.aggregation_bits);
    const n = [...bits].filter((c) => c === "1").length;
    return `<tr class="att"><td>${a.data.target.epoch}</td><td>${a.data.source.epoch}</td><td>${a.data.crosslink.shard}</td>
      <td class="mono">${short(a.data.beacon_block_root)}</td><td class="bits">${bits}</td><td>${n}/${bits.length}</td></tr>`;
  }).join("");
  const roots = Object.entries(d.state_roots).sort().map(([name, v]) => {
    const mark = v.state_root ? (v.match ? `<span class="ok">\u2713 same as the block</span>` : `<span class="bad">\u2717 differs</span>`) : esc(v.note || "");
    return `<tr class="sr" data-node="${esc(name)}"><td>${esc(name)}</td><td class="mono">${v.state_root || "-"}</td><td>${mark}</td></tr>`;
  }).join("");
  const replay = d.replay == null ? "pending" : d.replay;
  box.innerHTML = `
    <h2>Block at slot ${d.slot}${d.orphaned ? ' <span class="bad">orphaned</span>' : ""}</h2>
    <table class="kv">
      <tr><td>root</td><td class="mono">${d.root}</td></tr>
      <tr><td>parent</td><td class="mono">${d.parent || "-"}</td></tr>
      <tr><td>proposer</td><td>${d.proposer ?? "(after replay)"}</td></tr>
      <tr><td>state root (claimed)</td><td class="mono">${d.claimed_state_root}</td></tr>
      <tr><td>monitor replay</td><td class="${replay === "ok" ? "ok" : (replay.startsWith("differs") || replay.startsWith("refused") ? "bad" : "")}">${esc(replay)}</td></tr>
      <tr><td>seen by</td><td>${d.seen_by.map(esc).join(", ")}</td></tr>
      ${body ? `<tr><td>graffiti</td><td class="mono">${body.graffiti}</td></tr>
      <tr><td>randao reveal</td><td class="mono">${body.randao_reveal.slice(0, 34)}…</td></tr>
      <tr><td>eth1 data</td><td class="mono">deposits ${body.eth1_data.deposit_count}, block ${short(body.eth1_data.block_hash)}</td></tr>
      <tr><td>operations</td><td>${atts.length} attestations, ${body.deposits.length} deposits, ${body.voluntary_exits.length} exits,
        ${body.proposer_slashings.length} proposer slashings, ${body.attester_slashings.length} attester slashings, ${body.transfers.length} transfers</td></tr>
      <tr><td>signature</td><td class="mono">${d.block.signature.slice(0, 34)}…</td></tr>` : `<tr><td colspan="2">no node served the block's contents</td></tr>`}
    </table>
    <h2>Attestations (${atts.length})</h2>
    <table id="attestations"><thead><tr><th>target</th><th>source</th><th>shard</th><th>votes for</th><th>aggregation bits</th><th>set</th></tr></thead>
      <tbody>${attRows}</tbody></table>
    <h2>State root per node</h2>
    <table id="state-roots"><tbody>${roots}</tbody></table>`;
}

// --- the stream -----------------------------------------------------------------------------------
function apply(msg) {
  state.seq = msg.seq ?? state.seq;
  switch (msg.type) {
    case "snapshot": {
      const t0 = performance.now();
      tree.elements().remove();
      state.blocks.clear(); state.nodes.clear(); state.heads.clear(); state.participation.clear();
      state.maxSlot = 0; state.spe = msg.spe || 8; state.alerts = 0; state.reorgs = 0;
      state.lanes = 0; state.orphaned = 0;
      document.getElementById("alerts").innerHTML = "";
      tree.batch(() => {
        addBlocks(msg.blocks);
        const byLane = new Map();
        for (const m of msg.missed) { if (!byLane.has(m.lane)) byLane.set(m.lane, []); byLane.get(m.lane).push(m.slot); }
        byLane.forEach((slots, lane) => addMissed(slots, lane));
      });
      msg.nodes.forEach(setNode);
      msg.alerts.forEach(addAlert);
      setParticipation(msg.participation);
      renderSummary(msg.summary);
      state.snapshotMs = performance.now() - t0;  // the benchmark reads it
      break;
    }
    case "block": addBlocks([msg]); break;
    case "missed": addMissed(msg.slots, msg.lane); break;
    case "mark":
      tree.batch(() => msg.roots.forEach((r) => {
        const b = state.blocks.get(r);
        if (!b || b.orphaned === msg.orphaned) return;
        b.orphaned = msg.orphaned;
        state.orphaned += msg.orphaned ? 1 : -1;
        refreshBlock(r);
        const e = tree.getElementById("e" + r);
        if (msg.orphaned) e.addClass("orphaned"); else e.removeClass("orphaned");
      }));
      renderCounts();
      break;
    case "replay": {
      const b = state.blocks.get(msg.root);
      if (b) { b.replay = msg.replay; b.proposer = msg.proposer; refreshBlock(msg.root); }
      break;
    }
    case "node": setNode(msg); break;
    case "alert": addAlert(msg); break;
    case "participation": setParticipation(msg.epochs); break;
    case "summary": renderSummary(msg); break;
  }
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/events");
  es.onopen = () => { conn.textContent = "live"; conn.className = "conn on"; };
  es.onmessage = (e) => apply(JSON.parse(e.data));
  es.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn off"; };
}
connect();
