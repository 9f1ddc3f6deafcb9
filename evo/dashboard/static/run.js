// A run's page: its headline and live charts (polled while it runs), its lineage, one individual, its noise model.
"use strict";

const STATUS_COLOURS = {
  ok: "#1e88e5", pruned: "#fb8c00", crash: "#e53935", timeout: "#8e24aa", invalid: "#757575",
  running: "#43a047", pending: "#bdbdbd",
};
const LAYOUT = { margin: { l: 60, r: 20, t: 10, b: 40 }, hovermode: "closest", showlegend: false };
const CONFIG = { displaylogo: false, responsive: true };
let lineageKey = null;
let shown = null;
let runIsLive = null;  // polled every POLL s while the run is live, every 10 s once it is not
let lineageDrawn = 0;  // when the lineage was last drawn: at most every LINEAGE s while the run is live
const POLL = 3, LINEAGE = 10;

function axis(title, extra = {}) { return { title: { text: title }, zeroline: false, ...extra }; }

// Charts are drawn once they come into view (and redrawn while in view), so a page with thousands of individuals
// shows its headline and first charts without waiting for the lineage further down.
const pending = new Map();
const inView = new Set();
const observer = new IntersectionObserver((entries) => entries.forEach((entry) => {
  if (!entry.isIntersecting || inView.has(entry.target.id)) return;
  inView.add(entry.target.id);
  const args = pending.get(entry.target.id);
  pending.delete(entry.target.id);
  if (args) plot(...args);
}));

function plot(id, traces, layout, after) {
  Plotly.react(id, traces, { ...LAYOUT, ...layout }, CONFIG);
  if (after) after(document.getElementById(id));
}

function draw(id, traces, layout, after) {
  if (inView.has(id)) { plot(id, traces, layout, after); return; }
  if (!pending.has(id)) observer.observe(document.getElementById(id));
  pending.set(id, [id, traces, layout, after]);
}

function stepTrace(x, y, name, extra = {}) {
  return { x, y, name, type: "scatter", mode: "lines+markers", line: { shape: "hv" }, ...extra };
}

function showProgress(p) {
  runIsLive = p.live;
  document.title = `${p.name} · evo dashboard`;
  setText("run-name", `${p.name} (${p.mode})`);
  setText("live", liveText(p.live)).className = p.live ? "badge live" : "badge";
  const warning = document.getElementById("warning");
  warning.hidden = !p.warning;
  warning.textContent = p.warning || "";
  setText("metric-name", p.metric);
  setText("best-value", p.best ? p.best.text : "-");
  const bestLink = setText("best-id", p.best ? p.best.id : "-");
  bestLink.onclick = (event) => { event.preventDefault(); if (p.best) select(p.best.id); };
  setText("heldout", p.heldout === null ? "-" : p.heldout.toFixed(6));
  setText("heldout-source", p.heldout_source);
  setText("individuals", p.individuals);
  setText("counts", Object.entries(p.counts).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", "));
  setText("compute", Math.round(p.compute.used).toLocaleString());
  setText("saved", p.compute.saved ? `${Math.round(p.compute.saved).toLocaleString()} saved by early termination` : "");
  setText("tokens", (p.llm.prompt_tokens + p.llm.completion_tokens).toLocaleString());
  setText("cost", `cost ${p.llm.cost.toFixed(4)}` + (p.llm.cached_tokens ? `, ${p.llm.cached_tokens} cached` : ""));
  const early = document.getElementById("early-termination");
  early.hidden = !p.early_termination;
  early.textContent = p.early_termination ? `early termination: ${p.early_termination}` : "";
  const pooledAudit = document.getElementById("early-termination-pooled");
  pooledAudit.hidden = !p.early_termination_pooled;
  pooledAudit.textContent = p.early_termination_pooled ? `early termination, ${p.early_termination_pooled}` : "";
  const metricAxis = axis(p.metric + (p.direction === "minimize" ? " (lower is better)" : " (higher is better)"));
  const cloud = {
    x: p.evaluated.x, y: p.evaluated.y, customdata: p.evaluated.id, type: "scatter", mode: "markers",
    marker: { size: 4, color: p.evaluated.status.map((s) => STATUS_COLOURS[s] || "#999") }, opacity: 0.45,
    hovertemplate: "%{customdata}: %{y}<extra></extra>",
  };
  draw("chart-best-compute", [cloud, stepTrace(p.best_by_compute.x, p.best_by_compute.y, "best", {
    customdata: p.best_by_compute.id, hovertemplate: "%{customdata}: %{y}<extra>best so far</extra>",
  })], { xaxis: axis("budget seconds spent"), yaxis: metricAxis });
  draw("chart-best-wall", [stepTrace(p.best_by_wall.x, p.best_by_wall.y, "best", {
    customdata: p.best_by_wall.id, hovertemplate: "%{customdata}: %{y} at %{x:.1f} min<extra></extra>",
  })], { xaxis: axis("minutes since the start"), yaxis: metricAxis });
  draw("chart-slots", [stepTrace(p.slots.x, p.slots.y, "training", { mode: "lines", fill: "tozeroy" })],
    { xaxis: axis("minutes since the start"), yaxis: axis("candidates training", { rangemode: "tozero" }) });
  draw("chart-llm", [
    stepTrace(p.llm_use.x, p.llm_use.tokens, "tokens", { mode: "lines" }),
    stepTrace(p.llm_use.x, p.llm_use.cost, "cost", { mode: "lines", yaxis: "y2", line: { shape: "hv", dash: "dot" } }),
  ], {
    xaxis: axis("minutes since the start"), yaxis: axis("tokens", { rangemode: "tozero" }),
    yaxis2: axis("cost", { overlaying: "y", side: "right", rangemode: "tozero" }), showlegend: true,
    annotations: p.llm_use.x.length ? [] : [{
      text: "no LLM calls yet (offline operators, or none made)", xref: "paper", yref: "paper", x: 0.5, y: 0.5,
      showarrow: false,
    }],
  });
  const top = document.querySelector("#top tbody");
  top.replaceChildren(...p.top.map((t) => row([individualLink(t.id), t.text, t.operator, t.description], [1])));
  const settings = document.querySelector("#settings tbody");
  settings.replaceChildren(...p.settings.map(([name, value]) => row([name, value])));
}

function individualLink(id) {
  const link = element("a", id, { href: `#${id}` });
  link.onclick = (event) => { event.preventDefault(); select(id).catch(showError); };
  return link;
}

function showLineage(data) {
  const nodes = data.nodes;
  const at = Object.fromEntries(nodes.map((n) => [n.id, [Number(n.id), n.generation]]));
  const ex = [], ey = [];
  nodes.forEach((n) => n.parents.forEach((parent) => {
    if (!at[parent]) return;
    ex.push(at[parent][0], at[n.id][0], null);
    ey.push(at[parent][1], at[n.id][1], null);
  }));
  const traces = [{ x: ex, y: ey, type: "scatter", mode: "lines", line: { color: "#c5cae9", width: 1 }, hoverinfo: "skip" }];
  const hover = (n) => plotlyText(`${n.id} ${n.status} ${n.metric ?? ""} [${n.operator}] ${n.description}`);
  const ok = nodes.filter((n) => n.status === "ok" && n.metric !== null);
  traces.push({
    x: ok.map((n) => at[n.id][0]), y: ok.map((n) => at[n.id][1]), customdata: ok.map((n) => n.id),
    text: ok.map(hover), hovertemplate: "%{text}<extra></extra>", type: "scatter", mode: "markers", name: "ok",
    marker: {
      size: 10, color: ok.map((n) => n.metric), colorscale: "Viridis", reversescale: data.direction === "minimize",
      showscale: true, colorbar: { title: { text: "metric" }, thickness: 12 }, line: { width: 0.5, color: "#333" },
    },
  });
  for (const [status, colour] of Object.entries(STATUS_COLOURS)) {
    const group = nodes.filter((n) => n.status === status && !(status === "ok" && n.metric !== null));
    if (!group.length) continue;
    traces.push({
      x: group.map((n) => at[n.id][0]), y: group.map((n) => at[n.id][1]), customdata: group.map((n) => n.id),
      text: group.map(hover), hovertemplate: "%{text}<extra></extra>", type: "scatter", mode: "markers", name: status,
      marker: { size: 9, color: colour, symbol: status === "ok" ? "circle" : "x", line: { width: 0.5, color: "#333" } },
    });
  }
  const best = nodes.find((n) => n.id === data.best);
  if (best) {
    traces.push({
      x: [at[best.id][0]], y: [at[best.id][1]], customdata: [best.id], text: [hover(best)], name: "best",
      hovertemplate: "best: %{text}<extra></extra>", type: "scatter", mode: "markers",
      marker: { size: 20, symbol: "star-open", color: "#d81b60", line: { width: 2 } },
    });
  }
  draw("lineage", traces, {
    xaxis: axis("individual (birth order)"), yaxis: axis("generation", { autorange: "reversed", dtick: 1 }),
  }, (chart) => {
    if (chart.dataset.wired) return;
    chart.dataset.wired = "1";
    chart.on("plotly_click", (event) => {
      const point = event.points.find((p) => p.customdata);
      if (point) select(point.customdata);
    });
  });
}

function diffBlock(text) {
  const pre = element("pre", undefined, { class: "diff" });
  for (const line of text.split("\n")) {
    const kind = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.appendChild(element("span", line + "\n", kind ? { class: kind } : {}));
  }
  return pre;
}

function showIndividual(d, scroll) {
  const section = document.getElementById("individual");
  section.hidden = false;
  if (scroll) section.scrollIntoView();
  setText("ind-id", d.id);
  setText("ind-status", d.status);
  const fields = document.getElementById("ind-fields");
  const entries = [
    ["metric", d.metric_text], ["parents", d.parents.join(", ") || "none (the baseline)"], ["operator", d.operator],
    ["model", d.model], ["seeds", d.seeds.join(", ")], ["budget seconds", d.budget_seconds.toFixed(1)],
    ["saved seconds", d.saved_seconds.toFixed(1)], ["wall seconds", d.wall_seconds.toFixed(1)],
    ["confirmed", d.confirmed === null ? "not tested" : String(d.confirmed)], ["LLM tokens", d.tokens],
    ["cost", d.cost.toFixed(4)],
  ];
  fields.replaceChildren(...entries.flatMap(([name, value]) => [element("dt", name), element("dd", value ?? "-")]));
  setText("ind-description", d.description);
  setText("ind-rationale", d.rationale);
  document.getElementById("ind-reason").textContent = d.reason ? `reason: ${d.reason}` : "";
  const diffs = document.getElementById("diffs");
  diffs.replaceChildren(...d.diffs.flatMap((diff) => [
    element("p", diff.parent ? `against parent ${diff.parent}` : "the baseline's files", { class: "muted" }),
    diffBlock(diff.diff || "(no change)"),
  ]));
  if (!d.diffs.length) diffs.appendChild(element("p", "No code stored for it.", { class: "muted" }));
  const evaluations = document.querySelector("#evaluations tbody");
  evaluations.replaceChildren(...d.evaluations.map((e) => row([
    e.seed, e.status, e.metric === null ? "-" : e.metric.toFixed(6),
    e.budget_seconds === null ? "-" : e.budget_seconds.toFixed(1),
    e.wall_seconds === null ? "-" : e.wall_seconds.toFixed(1), e.reason,
  ], [2, 3, 4])));
  document.getElementById("log").textContent = d.log || "(no log)";
  showCurve(d);
}

function showCurve(d) {
  const traces = [{
    x: d.curve.map((p) => p[0]), y: d.curve.map((p) => p[1]), name: d.id, type: "scatter", mode: "lines",
    line: { color: "#1e88e5" },
  }];
  const shapes = [], annotations = [];
  const stop = d.stop;
  let said = "The early-termination test did not watch it.";
  if (stop) {
    if (stop.reference) {
      traces.push({
        x: stop.reference_curve.map((p) => p[0]), y: stop.reference_curve.map((p) => p[1]),
        name: `reference ${stop.reference}`, type: "scatter", mode: "lines", line: { color: "#757575", dash: "dash" },
      });
    }
    const statistic = stop.llr === null ? "" : `log likelihood ratio ${stop.llr.toFixed(2)}`
      + (stop.threshold === null ? "" : ` (threshold ${stop.threshold.toFixed(2)}, alpha ${stop.alpha})`);
    if (stop.at !== null) {
      shapes.push({ type: "line", x0: stop.at, x1: stop.at, yref: "paper", y0: 0, y1: 1, line: { color: "#e53935", dash: "dot" } });
      annotations.push({ x: stop.at, yref: "paper", y: 1, text: stop.audited ? "would stop (audited)" : "stopped", showarrow: false, yanchor: "bottom" });
      said = (stop.audited ? `The test decided to stop it at ${(100 * stop.fraction).toFixed(0)}% of the budget but `
        + "the audit let it run to the end" : `Stopped at ${(100 * stop.fraction).toFixed(0)}% of the budget`)
        + ` against ${stop.reference}: ${statistic}.`;
    } else {
      said = `Watched against ${stop.reference} and ran to the end.`;
    }
    if (stop.gain !== null && stop.gain !== undefined) {
      said += ` Its final gain over the reference: ${stop.gain.toFixed(2)} noise units (${stop.won ? "a win" : "no win"}).`;
    }
  }
  setText("stop-text", said);
  draw("chart-curve", traces, {
    xaxis: axis("budget seconds", { range: [0, d.budget] }), yaxis: axis("progress value"), shapes, annotations,
    showlegend: true,
  });
}

async function select(id, scroll = true) {
  shown = id;
  if (location.hash !== `#${id}`) history.replaceState(null, "", `#${id}`);
  showIndividual(await api("individual", { path: PATH, id }), scroll);
}

async function showNoise() {
  const { noise } = await api("noise", { path: PATH });
  if (!noise) return;
  if (noise.error) { setText("noise-summary", noise.error); return; }
  setText("noise-summary", noise.summary);
  const chart = document.getElementById("chart-noise");
  chart.hidden = false;
  const seconds = noise.fractions.map((f) => f * noise.budget);
  draw("chart-noise", [
    { x: seconds, y: noise.mean.map((m, k) => m + noise.sd[k]), type: "scatter", mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false },
    { x: seconds, y: noise.mean.map((m, k) => m - noise.sd[k]), type: "scatter", mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(30,136,229,0.2)", hoverinfo: "skip", showlegend: false },
    { x: seconds, y: noise.mean, name: "mean", type: "scatter", mode: "lines", line: { color: "#1e88e5" } },
    { x: seconds, y: noise.sd, name: "seed sd", type: "scatter", mode: "lines", yaxis: "y2", line: { color: "#e53935", dash: "dot" } },
  ], {
    xaxis: axis("budget seconds"), yaxis: axis(`baseline's progress (mean ± sd over ${noise.seeds.length} seeds)`),
    yaxis2: axis("seed sd", { overlaying: "y", side: "right", rangemode: "tozero" }), showlegend: true,
  });
}

async function refreshRun() {
  const first = lineageKey === null;
  const early = first ? api("lineage", { path: PATH }) : null;  // the first time, both requests at once
  const progress = await api("progress", { path: PATH });
  showProgress(progress);
  const key = JSON.stringify(progress.counts) + (progress.best ? progress.best.id : "");
  const due = !progress.live || Date.now() - lineageDrawn > 1000 * LINEAGE || first;
  if (key !== lineageKey && due) {
    lineageKey = key;
    lineageDrawn = Date.now();
    showLineage(await (early || api("lineage", { path: PATH })));
    if (shown) await select(shown, false);
  }
}

document.getElementById("goto").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.value.trim()) select(event.target.value.trim()).catch(showError);
});
showNoise().catch(showError);
if (location.hash.length > 1) select(decodeURIComponent(location.hash.slice(1))).catch(showError);
every(() => (runIsLive === false ? 10 : POLL), refreshRun);
