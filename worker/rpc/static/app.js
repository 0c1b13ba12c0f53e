// GradientCoin status page. Renders the data embedded in the page at
// once, then polls the node's API (same origin, auth cookie) every 3 s.
"use strict";

const ATOMS = 100000000;
const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";

function short(h) { return h ? h.slice(0, 10) + "…" + h.slice(-6) : ""; }

function coins(atoms) {
  const whole = Math.floor(atoms / ATOMS);
  let frac = String(atoms % ATOMS).padStart(8, "0").replace(/0+$/, "");
  if (frac.length > 4) frac = frac.slice(0, 4);
  return whole.toLocaleString("en-US") + (frac ? "." + frac : "");
}

function rate(hs) {
  const units = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"];
  let i = 0;
  while (hs >= 1000 && i < units.length - 1) { hs /= 1000; i++; }
  return (hs >= 100 ? hs.toFixed(0) : hs >= 10 ? hs.toFixed(1) : hs.toFixed(2)) + " " + units[i];
}

function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  return (n / (1 << 20)).toFixed(1) + " MiB";
}

function ago(unix) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

function duration(sec) {
  sec = Math.floor(sec);
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + s + "s";
  return s + "s";
}

function set(id, text) { const e = $(id); if (e && e.textContent !== String(text)) e.textContent = text; }

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderStatus(st) {
  set("network", st.network);
  document.title = "GradientCoin · " + st.network + " · " + st.height;
  set("height", st.height.toLocaleString("en-US"));
  set("tip", short(st.tip));
  set("peers", st.peers);
  const sync = st.syncing ? "syncing…" : !st.sync_enabled ? "offline" : st.peers === 0 ? "no peers" : "in sync";
  set("syncing", sync + " · " + st.mempool_txs + " mempool txs");
  set("hashrate", rate(st.hashrate || 0));
  set("device", "effective; " + rate(st.mining_hashrate || 0) + " while mining · " + (st.device || ""));
  set("loss", st.loss === null || st.loss === undefined ? "–" : st.loss.toFixed(4));
  set("loss-at", st.loss === null || st.loss === undefined ? "not measured yet" : "nats/byte at height " + st.loss_height);
  set("balance", coins(st.balance) + " GC");
  set("immature", "+" + coins(st.immature) + " immature");
  const now = [];
  if (st.training) now.push("training");
  if (st.mining) now.push("mining");
  set("activity", now.length ? now.join(" + ") : "idle");
  const modes = [];
  if (st.sync_enabled) modes.push("sync");
  if (st.train_enabled) modes.push("train");
  if (st.mine_enabled) modes.push("mine");
  set("mempool", modes.length ? modes.join(" · ") + " on" : "all off");
  set("state-root", "state root " + short(st.state_root));
  set("footer", "gradientcoin " + st.version + (st.cuda_build ? " (CUDA)" : "") + " · up " + duration(st.uptime_seconds) + " · peer " + short(st.peer_id || "offline") + " · " + st.datadir);
}

function renderLoss(points) {
  const el = $("loss-curve");
  while (el.firstChild) el.removeChild(el.firstChild);
  el.setAttribute("data-points", String(points.length));
  // The view box follows the element's width so text keeps its size.
  const W = Math.max(320, Math.round(el.getBoundingClientRect().width) || 720), H = 240, L = 52, R = 14, T = 12, B = 28;
  el.setAttribute("viewBox", "0 0 " + W + " " + H);
  if (points.length === 0) {
    el.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no loss measured yet"));
    set("loss-range", "");
    return;
  }
  let lo = Infinity, hi = -Infinity;
  for (const p of points) { lo = Math.min(lo, p.loss); hi = Math.max(hi, p.loss); }
  if (hi - lo < 1e-6) { hi += 0.05; lo -= 0.05; }
  const pad = (hi - lo) * 0.08; hi += pad; lo -= pad;
  const h0 = points[0].height, h1 = points[points.length - 1].height;
  const span = Math.max(1, h1 - h0);
  const x = (h) => L + (W - L - R) * (points.length === 1 ? 0.5 : (h - h0) / span);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  for (let i = 0; i <= 4; i++) {
    const v = lo + (hi - lo) * i / 4, yy = y(v);
    el.appendChild(svg("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }));
    el.appendChild(svg("text", { x: L - 6, y: yy + 4, "text-anchor": "end", class: "axis" }, v.toFixed(2)));
  }
  const ticks = Math.min(8, span);
  for (let i = 0; i <= ticks; i++) {
    const hh = Math.round(h0 + span * i / Math.max(1, ticks));
    el.appendChild(svg("text", { x: x(hh), y: H - 8, "text-anchor": "middle", class: "axis" }, String(hh)));
  }
  const pts = points.map((p) => x(p.height).toFixed(1) + "," + y(p.loss).toFixed(1));
  el.appendChild(svg("polygon", { class: "area", points: x(h0).toFixed(1) + "," + (H - B) + " " + pts.join(" ") + " " + x(h1).toFixed(1) + "," + (H - B) }));
  el.appendChild(svg("polyline", { class: "line", id: "loss-line", points: pts.join(" ") }));
  const last = points[points.length - 1];
  el.appendChild(svg("circle", { class: "dot", cx: x(last.height), cy: y(last.loss), r: 3.5 }));
  set("loss-range", points[0].loss.toFixed(3) + " → " + last.loss.toFixed(3) + " over heights " + h0 + "–" + h1);
}

function renderBlocks(blocks) {
  const tb = $("blocks");
  while (tb.firstChild) tb.removeChild(tb.firstChild);
  for (const b of blocks) {
    const tr = document.createElement("tr");
    const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; };
    cell(String(b.height));
    cell(short(b.hash), "mono");
    cell(ago(b.time));
    cell(String(b.txs), "num");
    cell(String(b.contributions), "num");
    cell(bytes(b.size), "num");
    const m = cell(short(b.miner), "mono" + (b.mine ? " mine" : ""));
    if (b.mine) { const s = document.createElement("span"); s.className = "badge"; s.textContent = "you"; m.appendChild(s); }
    cell(coins(b.reward), "num");
    tb.appendChild(tr);
  }
}

function render(d) {
  renderStatus(d.status);
  renderLoss(d.loss || []);
  renderBlocks(d.blocks || []);
}

async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

async function refresh() {
  try {
    const [status, loss, blocks] = await Promise.all([
      getJSON("/api/v1/status"), getJSON("/api/v1/loss"), getJSON("/api/v1/blocks?limit=12"),
    ]);
    render({ status, loss, blocks });
    document.body.setAttribute("data-source", "live");
    $("conn").className = "conn ok";
    set("conn", "live");
    set("updated", "updated " + new Date().toLocaleTimeString());
  } catch (e) {
    $("conn").className = "conn bad";
    set("conn", "disconnected");
    set("updated", String(e.message || e));
  }
}

render(JSON.parse($("initial").textContent));
refresh();
setInterval(refresh, 3000);
