// Line charts as inline SVG. Drawn at the container's real pixel width (and again when it
// resizes) so labels stay legible on a phone instead of shrinking with a fixed viewBox.

const SVG = "http://www.w3.org/2000/svg";
export const COLORS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#0c8599", "#c92a2a"];
const charts = new WeakMap();
const resizer = typeof ResizeObserver === "function"
  ? new ResizeObserver((entries) => {
    for (const entry of entries) {
      const spec = charts.get(entry.target);
      if (spec && Math.abs(entry.contentRect.width - spec.drawnWidth) > 1) draw(entry.target, spec);
    }
  })
  : null;

function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Round tick positions covering [low, high], about `count` of them. */
export function niceTicks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const raw = (high - low) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) {
    ticks.push(Number(tick.toPrecision(12)));
  }
  return ticks;
}

function tickLabel(value) {
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (magnitude >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  if (magnitude !== 0 && magnitude < 1e-2) return value.toExponential(0);
  return String(Number(value.toPrecision(3)));
}

/**
 * Draw (or redraw) a chart into `container`.
 *
 * spec: {series: [{name, points: [[x, y], ...]}], xLabel, title, height, emptyText}
 * The container gets `data-points` (total points drawn) so tests and people can tell it grew.
 */
export function lineChart(container, spec) {
  const isNew = !charts.has(container);
  charts.set(container, spec);
  draw(container, spec);
  if (isNew && resizer) resizer.observe(container);
}

function draw(container, spec) {
  const width = Math.max(200, Math.floor(container.clientWidth || 320));
  const height = spec.height || 200;
  spec.drawnWidth = width;
  const series = spec.series.map((s, i) => ({
    ...s,
    color: s.color || COLORS[i % COLORS.length],
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .sort((a, b) => a[0] - b[0]),
  }));
  const total = series.reduce((sum, s) => sum + s.points.length, 0);
  container.dataset.points = String(total);
  container.replaceChildren();
  container.classList.add("chart");

  if (total === 0) {
    container.append(Object.assign(document.createElement("p"), {
      className: "chart-empty", textContent: spec.emptyText || "No data yet.",
    }));
    return;
  }
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [xLow, xHigh] = [Math.min(...xs), Math.max(...xs)];
  let [yLow, yHigh] = [Math.min(...ys), Math.max(...ys)];
  if (xLow === xHigh) [xLow, xHigh] = [xLow - 1, xHigh + 1];
  if (yLow === yHigh) {
    const pad = Math.abs(yLow) * 0.1 || 1;
    [yLow, yHigh] = [yLow - pad, yHigh + pad];
  } else {
    const pad = (yHigh - yLow) * 0.08;
    [yLow, yHigh] = [yLow - pad, yHigh + pad];
  }
  const yTicks = niceTicks(yLow, yHigh, 4);
  const xTicks = niceTicks(xLow, xHigh, Math.max(2, Math.floor(width / 90)));
  const labelWidth = Math.max(...yTicks.map((t) => tickLabel(t).length)) * 7 + 10;
  const box = { left: labelWidth, right: width - 12, top: 10, bottom: height - 34 };
  const x = (v) => box.left + ((v - xLow) / (xHigh - xLow)) * (box.right - box.left);
  const y = (v) => box.bottom - ((v - yLow) / (yHigh - yLow)) * (box.bottom - box.top);

  const latest = series.filter((s) => s.points.length)
    .map((s) => `${s.name} ${tickLabel(s.points[s.points.length - 1][1])}`).join(", ");
  const root = svg("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${spec.title || "Chart"}: ${total} points; latest ${latest}`,
  });
  const grid = svg("g", { class: "grid" });
  for (const tick of yTicks) {
    if (tick < yLow || tick > yHigh) continue;
    grid.append(svg("line", { x1: box.left, x2: box.right, y1: y(tick), y2: y(tick) }));
    grid.append(svg("text", { x: box.left - 6, y: y(tick) + 4, "text-anchor": "end" }, tickLabel(tick)));
  }
  for (const tick of xTicks) {
    if (tick < xLow || tick > xHigh) continue;
    grid.append(svg("text", { x: x(tick), y: box.bottom + 16, "text-anchor": "middle" }, tickLabel(tick)));
  }
  grid.append(svg("line", { class: "axis", x1: box.left, x2: box.right, y1: box.bottom, y2: box.bottom }));
  grid.append(svg("text", { x: (box.left + box.right) / 2, y: height - 3, "text-anchor": "middle",
    class: "axis-label" }, spec.xLabel || "step"));
  root.append(grid);

  for (const s of series) {
    if (!s.points.length) continue;
    const sorted = s.points;
    const path = sorted.map(([px, py], i) => `${i ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`);
    root.append(svg("path", { d: path.join(""), fill: "none", stroke: s.color, "stroke-width": 2,
      "stroke-linejoin": "round", "stroke-linecap": "round" }));
    if (sorted.length <= 40) {
      for (const [px, py] of sorted) {
        root.append(svg("circle", { cx: x(px), cy: y(py), r: 2.5, fill: s.color }));
      }
    }
  }
  container.append(root);

  if (series.length > 1 || spec.legend) {
    const legend = document.createElement("ul");
    legend.className = "legend";
    for (const s of series) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = s.color;
      const last = s.points.length ? s.points[s.points.length - 1][1] : null;
      item.append(swatch, `${s.name}${last === null ? "" : ` ${tickLabel(last)}`}`);
      legend.append(item);
    }
    container.append(legend);
  }
}
