// Helpers every page shares. Text from runs (descriptions, logs, diffs: written by a candidate or an LLM) only ever
// reaches the page through textContent, never as markup.
"use strict";

const PATH = document.body.dataset.path;

async function api(name, params = {}) {
  const response = await fetch(`/api/${name}?` + new URLSearchParams(params));
  if (!response.ok) throw new Error(`${name}: ${response.status} ${await response.text()}`);
  return response.json();
}

function setText(id, value) {
  const node = document.getElementById(id);
  node.textContent = value === null || value === undefined || value === "" ? "-" : String(value);
  return node;
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function row(cells, numeric = []) {
  const tr = document.createElement("tr");
  cells.forEach((cell, k) => {
    const td = cell instanceof Node ? element("td") : element("td", cell ?? "-");
    if (cell instanceof Node) td.appendChild(cell);
    if (numeric.includes(k)) td.className = "n";
    tr.appendChild(td);
  });
  return tr;
}

function pageLink(kind, path, text) {
  return element("a", text, { href: `/${kind}?` + new URLSearchParams({ path }) });
}

function liveText(live) {
  return live === true ? "live" : live === null ? "elsewhere" : "finished";
}

function showError(error) {
  const node = document.getElementById("error");
  if (node) { node.hidden = false; node.textContent = String(error.message || error); }
}

// Plotly renders a few tags in text; escaping keeps a description as text there too.
function plotlyText(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Run `task` now and again after `seconds` (a number, or a function giving it) once each run has finished.
function every(seconds, task) {
  const tick = async () => {
    try { await task(); } catch (error) { showError(error); }
    setTimeout(tick, 1000 * (typeof seconds === "function" ? seconds() : seconds));
  };
  tick();
}
