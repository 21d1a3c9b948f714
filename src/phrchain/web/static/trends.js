// Trend charts of vital signs and labs. The series come from the backend (trends.py: one
// series per measure, points oldest first, each naming its record); the drawing is
// Chart.js (vendor/chartjs, loaded by index.html as window.Chart). Each chart has the
// same values as a table under it, for screen readers and for checking.
import { fmtDate, fmtFhirDate, h, t } from "./app.js";

const COLORS = ["#1f5fbf", "#b3261e", "#1b7a3a", "#8a5a00"];
const MONTH = 30 * 86400000;

function valuesTable(group) {
  return h("details", { class: "trend-values" }, h("summary", {}, t("trends.values")),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("trends.date")),
      h("th", { scope: "col" }, t("trends.measure")), h("th", { scope: "col" },
        t("trends.value")))),
    h("tbody", {}, group.series.flatMap((s) => s.points.map((p) => h("tr",
      { dataset: { record: p.record, measure: s.measure, date: p.date,
        value: String(p.value) } },
      h("td", {}, fmtFhirDate(p.date)), h("td", {}, t(`measure.${s.measure}`)),
      h("td", {}, `${p.value} ${s.unit}`)))))));
}

function draw(canvas, group) {
  if (typeof window.Chart !== "function") return; // the table still shows every value
  const datasets = group.series.map((s, i) => ({
    label: `${t(`measure.${s.measure}`)} (${s.unit})`,
    data: s.points.map((p) => ({ x: Date.parse(p.date), y: p.value })),
    borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length],
    pointRadius: 4, tension: 0,
  }));
  // Ticks at the measurements' own dates (a few of them), not at round numbers of ms.
  const xs = [...new Set(datasets.flatMap((d) => d.data.map((p) => p.x)))].sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(xs.length / 3));
  const ticks = xs.filter((_, i) => i % step === 0 || i === xs.length - 1);
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = "#1d2433";
  new window.Chart(canvas, {
    type: "line", data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
      // one measurement still gets an axis: a month either side of it
      scales: { x: { type: "linear", min: xs.length > 1 ? xs[0] : xs[0] - MONTH,
        max: xs.length > 1 ? xs[xs.length - 1] : xs[0] + MONTH, offset: true,
        afterBuildTicks: (scale) => { scale.ticks = ticks.map((value) => ({ value })); },
        ticks: { callback: (v) => fmtDate(v), maxRotation: 0, autoSkip: false } } },
      plugins: { legend: { position: "bottom" }, tooltip: { callbacks: {
        title: (items) => (items.length ? fmtDate(items[0].parsed.x) : "") } } },
    },
  });
}

// The block of charts for `trends`; charts are drawn once the block is in the page.
export function trendsBlock(trends) {
  if (!trends || !trends.length) return "";
  const figures = trends.map((group) => {
    const canvas = h("canvas", { role: "img", "aria-label": t("trends.aria", {
      measure: t(`trend.${group.group}`),
      n: group.series.reduce((n, s) => n + s.points.length, 0) }) });
    const figure = h("figure", { class: "trend", dataset: { group: group.group } },
      h("figcaption", {}, t(`trend.${group.group}`)), h("div", { class: "chart" }, canvas),
      valuesTable(group));
    figure.draw = () => draw(canvas, group);
    return figure;
  });
  const block = h("section", { id: "trends", "aria-label": t("trends.title") },
    h("h3", {}, t("trends.title")), h("div", { class: "trends" }, figures));
  block.drawCharts = () => figures.forEach((f) => f.draw());
  return block;
}
