// Analytics charts (Chart.js) from the call records and the latency API.
import { api, flash } from "./api.js";

const COLORS = ["#1d4ed8", "#0f766e", "#b45309", "#7c3aed", "#be123c", "#4d7c0f"];

function countBy(items, key) {
  const counts = new Map();
  for (const item of items) {
    const label = key(item);
    if (label != null) counts.set(label, (counts.get(label) || 0) + 1);
  }
  return counts;
}

function bar(canvas, labels, datasets, options = {}) {
  return new window.Chart(canvas, {
    type: "bar",
    data: { labels, datasets: datasets.map((set, i) => ({ backgroundColor: COLORS[i % COLORS.length], ...set })) },
    options: { responsive: true, animation: false, plugins: { legend: { display: datasets.length > 1 } }, ...options },
  });
}

function loadChartJs() {
  if (window.Chart) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/static/vendor/chart.umd.min.js";
    script.onload = resolve;
    script.onerror = () => reject(new Error("The charting library did not load."));
    document.head.append(script);
  });
}

export async function initAnalytics(root) {
  const canvas = (name) => root.querySelector(`[data-chart="${name}"]`);
  let calls;
  let latency;
  let agents;
  try {
    [calls, latency, agents] = await Promise.all([
      api("GET", "/v1/calls?limit=100"),
      api("GET", "/v1/latency"),
      api("GET", "/v1/routing/agents?limit=100"),
      loadChartJs(),
    ]);
  } catch (error) {
    flash(root, error.message);
    return;
  }
  const records = calls.data;

  const minutes = new Map();
  for (const call of records) {
    const day = call.started_at.slice(0, 10);
    minutes.set(day, (minutes.get(day) || 0) + (call.duration_seconds || 0) / 60);
  }
  const days = [...minutes.keys()].sort();
  bar(canvas("minutes"), days, [{ label: "Minutes", data: days.map((day) => minutes.get(day).toFixed(1)) }]);

  const pairs = countBy(records, (call) => `${call.caller_language || "?"} → ${call.agent_language || "?"}`);
  bar(canvas("pairs"), [...pairs.keys()], [{ label: "Calls", data: [...pairs.values()] }], { indexAxis: "y" });

  const series = [
    ["End of speech → transcript", latency.end_of_speech_to_asr_final],
    ["End of speech → first translated audio", latency.end_of_speech_to_first_audio],
  ];
  bar(
    canvas("latency"),
    ["p50", "p95", "max"],
    series.map(([label, stats]) => ({ label, data: [stats.p50_ms, stats.p95_ms, stats.max_ms] })),
  );

  const names = new Map(agents.data.map((agent) => [agent.id, agent.display_name]));
  const answered = countBy(
    records.filter((call) => call.answered_at),
    (call) => names.get(call.agent_id) || call.agent_id,
  );
  bar(canvas("agents"), [...answered.keys()], [{ label: "Calls answered", data: [...answered.values()] }]);
  root.dataset.ready = "true";
}
