"use strict";

let version = null;

async function refreshBench() {
  const data = await api("bench", { path: PATH });
  setText("bench-name", `${data.kind} ${data.name}: ${data.arms.length} arms x ${data.seeds} seeds`);
  const arms = document.getElementById("arms");
  arms.replaceChildren(...data.arms.map((arm) => {
    const section = element("section");
    section.appendChild(element("h2", arm.name));
    if (arm.early_termination) {
      section.appendChild(element("p", `early termination, ${arm.early_termination}`, { class: "muted" }));
    }
    const table = element("table");
    table.appendChild(row(["run", "individuals", "best", "state"].map((h) => element("b", h))));
    arm.runs.forEach((run) => table.appendChild(row([
      pageLink("run", run.path, run.path),
      run.started ? run.individuals : "-",
      run.best ? `${run.best.text} (${run.best.id})` : (run.error || "-"),
      run.started ? liveText(run.live) : "not started",
    ], [1, 2])));
    section.appendChild(table);
    return section;
  }));
  if (data.version !== version) {
    version = data.version;
    document.getElementById("report").src = "/bench/report?" + new URLSearchParams({ path: PATH, v: version });
  }
}

every(5, refreshBench);
