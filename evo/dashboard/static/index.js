"use strict";

async function refreshIndex() {
  const data = await api("runs");
  const body = document.querySelector("#runs tbody");
  body.replaceChildren(...data.entries.map((entry) => row([
    pageLink(entry.kind, entry.path, entry.path),
    entry.kind,
    entry.mode,
    entry.individuals,
    entry.best ? `${entry.best.text} (${entry.best.id})` : (entry.error || "-"),
    entry.kind === "run" ? liveText(entry.live) : "",
  ], [3, 4])));
  document.getElementById("empty").hidden = data.entries.length > 0;
}

every(5, refreshIndex);
