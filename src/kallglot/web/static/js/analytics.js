// Analytics charts (Chart.js) from the organization analytics API (/v1/analytics/...), which
// leaves out subjects who restricted processing or objected to analytics.
import { api, flash } from "./api.js";

const COLORS = ["#1d4ed8", "#0f766e", "#b45309", "#7c3aed", "#be123c", "#4d7c0f"];

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
  let minutes, pairs, latency, agents, directions, numbers;
  try {
    [minutes, pairs, latency, agents, directions, numbers] = await Promise.all([
      api("GET", "/v1/analytics/minutes"),
      api("GET", "/v1/analytics/language-pairs"),
      api("GET", "/v1/analytics/latency"),
      api("GET", "/v1/analytics/agents"),
      api("GET", "/v1/analytics/directions"),
      api("GET", "/v1/analytics/numbers"),
      loadChartJs(),
    ]);
  } catch (error) {
    flash(root, error.message);
    return;
  }

  const days = minutes.data;
  bar(canvas("minutes"), days.map((row) => row.day), [{ label: "Minutes", data: days.map((row) => row.minutes) }]);

  bar(
    canvas("pairs"),
    pairs.data.map((row) => row.language_pair.replace("-", " → ")),
    [{ label: "Calls", data: pairs.data.map((row) => row.calls) }],
    { indexAxis: "y" },
  );

  bar(canvas("latency"), ["average", "p95"], [
    { label: "End of speech → first translated audio", data: [latency.average_ms, latency.p95_ms] },
  ]);

  bar(canvas("agents"), agents.data.map((row) => row.display_name || row.agent_id), [
    { label: "Calls answered", data: agents.data.map((row) => row.calls_answered) },
    { label: "Calls missed", data: agents.data.map((row) => row.calls_missed) },
  ]);

  bar(canvas("directions"), directions.data.map((row) => row.direction), [
    { label: "Answered", data: directions.data.map((row) => row.answered) },
    { label: "Missed", data: directions.data.map((row) => row.missed) },
  ]);

  bar(
    canvas("numbers"),
    numbers.data.map((row) => row.e164 || "(no number)"),
    [
      { label: "Inbound", data: numbers.data.map((row) => row.inbound) },
      { label: "Outbound", data: numbers.data.map((row) => row.outbound) },
    ],
    { indexAxis: "y" },
  );
  root.dataset.ready = "true";
}
