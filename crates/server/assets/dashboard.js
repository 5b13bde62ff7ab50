// switchyard dashboard: plain DOM and SVG, no dependencies. Every figure comes from the
// gateway's /dashboard/api endpoints (the ledger); money arrives as exact decimal strings.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const WINDOWS = ["1h", "24h", "7d", "30d"];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v; // CSSOM, which the page's CSP allows

    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === undefined || k === null) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function s(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids.flat()) {
    if (k === undefined || k === null) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function usd(v) {
  if (v === null || v === undefined) return "unpriced";
  const n = Number(v);
  if (n === 0) return "$0";
  if (n < 0) return "−" + usd(-n);
  const a = Math.abs(n);
  if (a >= 100) return "$" + n.toLocaleString("en-US", { maximumFractionDigits: 0 });
  if (a >= 1) return "$" + n.toFixed(2);
  const digits = Math.min(10, 2 - Math.floor(Math.log10(a)) + 1);
  return "$" + n.toFixed(digits);
}
const pct = (x) => (100 * x).toFixed(x > 0 && x < 0.1 ? 1 : 0) + "%";
const ms = (v) => (v === null || v === undefined ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : v + " ms");
const when = (t) => new Date(t).toLocaleString();

async function getJson(url) {
  const r = await fetch(url, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || r.status + " " + r.statusText);
  return body;
}

function kpi(label, value, sub, cls) {
  return el("div", { class: "kpi " + (cls || "") }, el("div", { class: "label" }, label),
    el("div", { class: "value" }, value), sub ? el("div", { class: "sub" }, sub) : null);
}

function card(title, body, wide) {
  return el("section", { class: "card" + (wide ? " wide" : "") }, el("h2", {}, title), body);
}

function empty(text) {
  return el("p", { class: "muted" }, text);
}

// Cumulative spend against cumulative baseline; the gap between them is the saving.
function spendChart(series, bucketMs) {
  const W = 900, H = 280, L = 84, R = 16, T = 14, B = 34;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-chart": "spend", "data-points": series.length, role: "img",
    "aria-label": "cumulative spend against the baseline" });
  if (!series.length) return el("div", {}, svg, empty("No traffic in this window yet."));
  let c = 0, b = 0;
  const pts = series.map((p) => ({ t: p.t_ms, c: (c += Number(p.cost_usd)), b: (b += Number(p.baseline_usd)) }));
  if (pts.length === 1) pts.unshift({ t: pts[0].t - bucketMs, c: 0, b: 0 });
  const t0 = pts[0].t, t1 = pts[pts.length - 1].t;
  const ymax = Math.max(1e-12, ...pts.map((p) => Math.max(p.c, p.b))) * 1.08;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / ymax) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e7ec" }));
    svg.append(s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, usd(v)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    const d = new Date(t);
    const label = t1 - t0 > 2 * 86400000 ? d.toLocaleDateString() : d.toLocaleTimeString();
    svg.append(s("text", { x: x(t), y: H - 10, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, label));
  }
  const line = (key) => pts.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p[key]).toFixed(1)).join(" ");
  const gap = line("b") + " " + pts.slice().reverse().map((p) => "L" + x(p.t).toFixed(1) + " " + y(p.c).toFixed(1)).join(" ") + " Z";
  svg.append(s("path", { d: gap, fill: "var(--save)", "fill-opacity": "0.14", stroke: "none" }));
  svg.append(s("path", { d: line("b"), fill: "none", stroke: "var(--base)", "stroke-width": 2, "stroke-dasharray": "5 4" }));
  svg.append(s("path", { d: line("c"), fill: "none", stroke: "var(--spend)", "stroke-width": 2.5 }));
  const last = pts[pts.length - 1];
  svg.append(s("text", { x: x(last.t) - 4, y: y(last.c) - 8, "text-anchor": "end", class: "value-label" }, usd(last.c)));
  const legend = el("div", { class: "legend" },
    el("span", {}, el("i", { style: "background:var(--spend)" }), "spend"),
    el("span", {}, el("i", { style: "background:var(--base)" }), "baseline (the same tokens on the baseline model)"),
    el("span", {}, el("i", { style: "background:var(--save);opacity:.4" }), "saved"));
  return el("div", {}, svg, legend);
}

// Horizontal bars: rows of {label, value, text}; `color` per row or fixed.
function bars(name, rows, opts) {
  const o = Object.assign({ color: "var(--spend)", max: null }, opts);
  const rowH = 26, L = 120, R = 130, W = 560;
  const H = Math.max(1, rows.length) * rowH + 8;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-chart": name, "data-bars": rows.length, role: "img" });
  const max = o.max || Math.max(1e-12, ...rows.map((r) => r.value));
  rows.forEach((r, i) => {
    const yy = 4 + i * rowH;
    const w = Math.max(r.value > 0 ? 2 : 0, ((W - L - R) * r.value) / max);
    svg.append(s("text", { x: L - 8, y: yy + 16, "text-anchor": "end", class: "value-label" }, r.label));
    svg.append(s("rect", { x: L, y: yy + 4, width: W - L - R, height: rowH - 10, fill: "#f0f2f5", rx: 3 }));
    svg.append(s("rect", { x: L, y: yy + 4, width: w, height: rowH - 10, fill: r.color || o.color, rx: 3 },
      s("title", {}, r.label + ": " + r.text)));
    svg.append(s("text", { x: L + w + 6, y: yy + 16 }, r.text));
  });
  return svg;
}

// p50 and p95 latency per group, one pair of bars each.
function latencyChart(name, groups) {
  const rowH = 34, L = 120, R = 100, W = 560;
  const H = Math.max(1, groups.length) * rowH + 8;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-chart": name, "data-bars": groups.length, role: "img" });
  const max = Math.max(1, ...groups.map((g) => g.p95_ms));
  groups.forEach((g, i) => {
    const yy = 4 + i * rowH;
    const w = (v) => Math.max(2, ((W - L - R) * v) / max);
    svg.append(s("text", { x: L - 8, y: yy + 19, "text-anchor": "end", class: "value-label" }, g.key));
    svg.append(s("rect", { x: L, y: yy + 4, width: w(g.p95_ms), height: 11, fill: "var(--p95)", rx: 2 },
      s("title", {}, "p95 " + ms(g.p95_ms))));
    svg.append(s("rect", { x: L, y: yy + 17, width: w(g.p50_ms), height: 11, fill: "var(--spend)", rx: 2 },
      s("title", {}, "p50 " + ms(g.p50_ms))));
    svg.append(s("text", { x: L + w(g.p95_ms) + 6, y: yy + 14 }, "p95 " + ms(g.p95_ms)));
    svg.append(s("text", { x: L + w(g.p50_ms) + 6, y: yy + 27 }, "p50 " + ms(g.p50_ms)));
  });
  return svg;
}

function table(cols, rows, onRow) {
  const head = el("tr", {}, cols.map((c) => el("th", { class: c.num ? "num" : "" }, c.label)));
  const body = rows.map((r) => el("tr", onRow ? { class: "link", onclick: () => onRow(r) } : {},
    cols.map((c) => el("td", { class: c.num ? "num" : "" }, c.get(r)))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

function status(r) {
  return el("span", { class: "badge " + (r.status === "ok" ? "ok" : "err") }, r.status);
}

// Pass rate per (model, task) from the evaluators' verdicts, with the clients' feedback.
function qualityGrid(rows) {
  if (!rows.length) return empty("No quality signals yet: add evaluators to a route, or send POST /v1/feedback.");
  const tasks = [...new Set(rows.map((r) => r.task || "(none)"))];
  const models = [...new Set(rows.map((r) => r.model))];
  const at = (m, t) => rows.find((r) => r.model === m && (r.task || "(none)") === t);
  const color = (x) => `hsl(${Math.round(120 * x)}, 55%, 42%)`;
  const head = el("tr", {}, el("th", {}, "model \\ task"), tasks.map((t) => el("th", {}, t)));
  const body = models.map((m) => el("tr", {}, el("td", {}, m), tasks.map((t) => {
    const r = at(m, t);
    if (!r) return el("td", { class: "muted" }, "–");
    if (r.verdicts) {
      const x = r.passed / r.verdicts;
      return el("td", { class: "cell", style: `background:${color(x)}`, title: `${r.passed}/${r.verdicts} verdicts passed` +
        (r.feedback ? `; feedback ${r.feedback_mean.toFixed(2)} over ${r.feedback}` : "") }, pct(x));
    }
    return el("td", { class: "cell", style: `background:${color(r.feedback_mean)}`, title: `feedback over ${r.feedback}` },
      r.feedback_mean.toFixed(2));
  })));
  return el("table", { class: "heat", "data-chart": "quality", "data-cells": rows.length }, el("thead", {}, head), el("tbody", {}, body));
}

function findings(audit) {
  if (!audit) return empty("The audit has not run (it needs the ledger).");
  if (!audit.findings.length) return empty(`No findings over ${audit.requests} request(s). Prices, routes and rules look current.`);
  return el("ul", { class: "findings" }, audit.findings.map((f) => el("li", {},
    el("span", { class: "badge " + f.severity }, f.severity), " ", el("b", {}, f.kind.replace(/_/g, " ")), " · ", f.subject,
    el("div", {}, f.message), el("div", { class: "fix" }, "→ " + f.fix))));
}

function windowNav(current) {
  const nav = document.getElementById("windows");
  nav.replaceChildren(...WINDOWS.map((w) => el("a", { href: "/dashboard?window=" + w, class: w === current ? "on" : "" }, w)));
}

async function overview(app) {
  const win = new URLSearchParams(location.search).get("window") || "7d";
  windowNav(win);
  const [o, recent] = await Promise.all([
    getJson("/dashboard/api/overview?window=" + encodeURIComponent(win)),
    getJson("/dashboard/api/requests?limit=25"),
  ]);
  const t = o.totals;
  const saved = Number(t.savings_usd), base = Number(t.baseline_usd);
  const f = o.forecast;
  const kpis = el("div", { class: "kpis" },
    kpi("Spend", usd(t.cost_usd), `${t.requests} requests · ${usd(t.cost_per_request_usd)} each`),
    kpi("Baseline", usd(t.baseline_usd), "the same tokens on the baseline model"),
    kpi("Saved", usd(t.savings_usd), base > 0 ? pct(saved / base) + " of the baseline" : "no baseline priced", "good"),
    kpi("Success", pct(t.success_rate), `${t.errors} error(s) · ${pct(t.retried_rate)} retried · ${pct(t.escalated_rate)} escalated`),
    kpi("Effective cost", usd(t.cost_usd), Number(t.answer_cost_usd) > 0
      ? `+${pct(Number(t.cost_usd) / Number(t.answer_cost_usd) - 1)} over the answers' list price (${usd(t.answer_cost_usd)}): failed attempts, escalations`
      : "every attempt included"),
    kpi("Month end", "$" + f.month_end_usd.toFixed(2), `90%: $${f.month_end_low_usd.toFixed(2)}–$${f.month_end_high_usd.toFixed(2)} · ${f.history_days} day(s) of history`),
    t.unpriced ? kpi("Unpriced", String(t.unpriced), "requests without a known price (never counted as $0)") : null);
  const byCost = o.providers.slice().sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd));
  const providerCost = bars("provider-cost", byCost.map((p) => ({ label: p.key, value: Number(p.cost_usd), text: `${usd(p.cost_usd)} · ${p.requests} req` })));
  const providerOk = bars("provider-success", o.providers.map((p) => ({
    label: p.key, value: p.success_rate, text: `${pct(p.success_rate)} of ${p.requests}`,
    color: p.success_rate >= 0.99 ? "var(--save)" : p.success_rate >= 0.9 ? "var(--warn)" : "var(--bad)" })), { max: 1 });
  const models = table([
    { label: "model", get: (r) => r.key },
    { label: "requests", num: 1, get: (r) => r.requests },
    { label: "spend", num: 1, get: (r) => usd(r.cost_usd) },
    { label: "per request", num: 1, get: (r) => usd(r.cost_per_request_usd) },
    { label: "saved", num: 1, get: (r) => usd(r.savings_usd) },
    { label: "success", num: 1, get: (r) => pct(r.success_rate) },
    { label: "escalated", num: 1, get: (r) => pct(r.escalated_rate) },
    { label: "p50", num: 1, get: (r) => ms(r.p50_ms) },
    { label: "p50 TTFT", num: 1, get: (r) => (r.p50_ttft_ms ? ms(r.p50_ttft_ms) : "–") },
  ], o.models);
  const requests = table([
    { label: "time", get: (r) => el("a", { href: "/dashboard/requests/" + encodeURIComponent(r.id), title: r.id }, when(r.ts_ms)) },
    { label: "route", get: (r) => r.route || "–" },
    { label: "rule", get: (r) => r.rule || "–" },
    { label: "answered by", get: (r) => (r.provider ? r.provider + " / " + r.model : "–") },
    { label: "status", get: (r) => [status(r), r.escalated ? el("span", { class: "badge esc" }, "escalated") : null] },
    { label: "attempts", num: 1, get: (r) => r.attempts },
    { label: "cost", num: 1, get: (r) => usd(r.cost_usd) },
    { label: "baseline", num: 1, get: (r) => usd(r.baseline_usd) },
    { label: "latency", num: 1, get: (r) => ms(r.latency_ms) },
  ], recent.requests, (r) => { location.href = "/dashboard/requests/" + encodeURIComponent(r.id); });
  app.replaceChildren(
    el("h1", {}, "Where the money went, and what routing saved ", el("span", { class: "muted" }, `· last ${win}`)),
    kpis,
    card("Spend against the baseline", spendChart(o.series, o.window.bucket_ms), true),
    el("div", { class: "grid" },
      card("Spend per provider", o.providers.length ? providerCost : empty("No traffic yet.")),
      card("Success rate per provider", o.providers.length ? providerOk : empty("No traffic yet.")),
      card("Latency by route", o.routes.length ? latencyChart("latency-route", o.routes) : empty("No traffic yet.")),
      card("Latency by rule", o.rules.length ? latencyChart("latency-rule", o.rules) : empty("No traffic yet."))),
    card("Quality per model and task (evaluator pass rate; feedback where there are no verdicts)", qualityGrid(o.quality), true),
    card("Models", models, true),
    card("Audit findings", findings(o.audit), true),
    card("Recent requests (click one for its decision and attempts)", recent.requests.length ? requests : empty("No requests yet."), true));
}

// One request: what was decided, what was tried, what it cost, how it was judged.
function attemptsChart(attempts, totalMs) {
  const rowH = 30, L = 190, R = 20, W = 900;
  const H = attempts.length * rowH + 30;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, "data-chart": "attempts", "data-bars": attempts.length, role: "img" });
  const end = Math.max(1, totalMs, ...attempts.map((a) => a.offset_us / 1000 + a.latency_ms));
  const x = (v) => L + ((W - L - R) * v) / end;
  attempts.forEach((a, i) => {
    const yy = 4 + i * rowH;
    const ok = a.status >= 200 && a.status < 300 && !a.rejected;
    const color = a.rejected ? "#7a43c9" : ok ? "var(--save)" : "var(--bad)";
    svg.append(s("text", { x: L - 8, y: yy + 17, "text-anchor": "end", class: "value-label" }, `${i + 1}. ${a.model}`));
    const x0 = x(a.offset_us / 1000);
    svg.append(s("rect", { x: x0, y: yy + 5, width: Math.max(3, x(a.offset_us / 1000 + a.latency_ms) - x0), height: rowH - 12, fill: color, rx: 3 },
      s("title", {}, `${a.provider}/${a.model}: ${a.status || "no response"} in ${a.latency_ms} ms`)));
  });
  svg.append(s("text", { x: L, y: H - 6 }, "0"));
  svg.append(s("text", { x: W - R, y: H - 6, "text-anchor": "end" }, ms(Math.round(end))));
  return svg;
}

async function request(app, id) {
  windowNav(null);
  const r = await getJson("/dashboard/api/requests/" + encodeURIComponent(id));
  const d = r.decision || {};
  const facts = el("dl", { class: "facts" }, [
    ["request id", r.id], ["time", when(r.ts_ms)], ["ingress", r.ingress], ["route", r.route || "–"], ["rule", r.rule || "–"],
    ["strategy", d.strategy || "–"], ["task", r.task || "–"], ["tenant", r.tenant || "–"], ["stream", String(r.stream)],
    ["answered by", r.provider ? r.provider + " / " + r.model : "nobody"], ["status", `${r.status} (HTTP ${r.http_status})`],
    ["error class", r.error_class || "–"], ["catalog", r.catalog_version || "–"],
    ["gateway overhead", (r.overhead_us / 1000).toFixed(3) + " ms"],
  ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const attempts = table([
    { label: "#", get: (a) => r.attempts.indexOf(a) + 1 },
    { label: "provider / model", get: (a) => a.provider + " / " + a.model },
    { label: "answer named", get: (a) => a.served_model || "–" },
    { label: "HTTP", num: 1, get: (a) => a.status || "–" },
    { label: "outcome", get: (a) => (a.rejected ? el("span", { class: "badge esc" }, "rejected: " + a.rejected) : a.error_class ? el("span", { class: "badge err" }, a.error_class) : el("span", { class: "badge ok" }, "answered")) },
    { label: "latency", num: 1, get: (a) => ms(a.latency_ms) },
    { label: "TTFT", num: 1, get: (a) => ms(a.ttft_ms) },
    { label: "tokens in / out", num: 1, get: (a) => `${a.usage.input + a.usage.cache_read + a.usage.cache_write_5m + a.usage.cache_write_1h} / ${a.usage.output}` },
    { label: "cost", num: 1, get: (a) => (a.billed ? usd(a.cost_usd) : "not billed") },
  ], r.attempts);
  const cands = (d.candidates || []).map((c, i) => ({ ...c, rank: i + 1 }));
  const candidates = table([
    { label: "order", num: 1, get: (c) => c.rank },
    { label: "model", get: (c) => c.model },
    { label: "estimated cost", num: 1, get: (c) => (c.est_cost_usd ? usd(c.est_cost_usd) : "unpriced") },
  ], cands);
  const excluded = (d.excluded || []).length ? table([
    { label: "excluded model", get: (c) => c.model }, { label: "why", get: (c) => c.reason },
  ], d.excluded) : empty("No candidate was excluded.");
  const signals = r.signals.length ? table([
    { label: "source", get: (x) => x.source }, { label: "name", get: (x) => x.name }, { label: "model", get: (x) => x.model || "–" },
    { label: "score", num: 1, get: (x) => (x.score === null ? "–" : Number(x.score).toFixed(2)) },
    { label: "verdict", get: (x) => (x.passed === null ? "–" : el("span", { class: "badge " + (x.passed ? "ok" : "err") }, x.passed ? "pass" : "fail")) },
    { label: "detail", get: (x) => x.detail || x.label || "" },
  ], r.signals) : empty("No quality signals for this request.");
  const c = r.capture;
  const captured = c ? [
    el("p", { class: "muted" }, `Captured ${when(c.captured_ms)}, kept until ${when(c.expires_ms)}` + (c.truncated ? "; cut at the route's max_bytes." : ".")),
    el("h3", {}, "Prompt"), el("pre", { class: "capture", "data-capture": "prompt" }, c.prompt),
    el("h3", {}, "Answer"), c.answer === null ? empty("No answer was served.") : el("pre", { class: "capture", "data-capture": "answer" }, c.answer),
  ] : empty("Not captured: prompts and answers are kept only for routes with `capture = { retention = \"7d\" }` (or it expired).");
  const saved = r.cost_usd !== null && r.baseline_usd !== null ? Number(r.baseline_usd) - Number(r.cost_usd) : null;
  app.replaceChildren(
    el("p", {}, el("a", { href: "/dashboard" }, "← dashboard")),
    el("h1", {}, "Request ", el("span", { class: "muted" }, r.id)),
    el("div", { class: "kpis" },
      kpi("Cost", usd(r.cost_usd), r.unpriced ? "a price is unknown" : `answer alone ${usd(r.answer_cost_usd)}`),
      kpi("Baseline", usd(r.baseline_usd), saved === null ? "" : saved >= 0 ? "saved " + usd(saved) : usd(-saved) + " above the baseline", saved > 0 ? "good" : ""),
      kpi("Latency", ms(r.latency_ms), r.ttft_ms ? "first token " + ms(r.ttft_ms) : ""),
      kpi("Attempts", String(r.attempts.length), r.escalated ? "escalated" : r.attempts.length > 1 ? "retried or fell back" : "first try")),
    el("div", { class: "grid" }, card("What happened", facts), card("Routing decision: candidates in order", [candidates, el("br"), excluded])),
    card("Attempts", r.attempts.length ? [attemptsChart(r.attempts, r.latency_ms), attempts] : empty("No upstream was called."), true),
    card("Quality signals", signals, true),
    card("Prompt and answer", captured, true),
    card("Raw decision", el("details", {}, el("summary", {}, "JSON"), el("pre", {}, JSON.stringify(r.decision, null, 2))), true));
}

async function main() {
  const app = document.getElementById("app");
  const m = location.pathname.match(/^\/dashboard\/requests\/(.+)$/);
  try {
    if (m) await request(app, decodeURIComponent(m[1]));
    else await overview(app);
    document.body.setAttribute("data-ready", "1");
  } catch (e) {
    app.replaceChildren(el("div", { class: "error", role: "alert" }, "The dashboard could not load: " + e.message));
    document.body.setAttribute("data-ready", "error");
  }
}

main();
