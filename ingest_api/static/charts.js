// Small hand-written SVG charts: an x/y chart (bars and lines on one or two axes), a funnel,
// and the "no data" placeholder. No dependencies. Every chart is an <svg role="img"> with a
// <title> and <desc> for screen readers, a <title> on each mark for a hover tooltip, and a
// data-points attribute giving the number of marks drawn (tests and tools read it).

const NS = "http://www.w3.org/2000/svg";

export const COLORS = {
  blue: "#0b6fb0",
  orange: "#c77700",
  green: "#00806a",
  red: "#c2410c",
  purple: "#a3468a",
  grey: "#6b7280",
};

let uid = 0;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Replace the content of `host` with a "no data" note. */
export function placeholder(host, message) {
  const p = document.createElement("p");
  p.className = "empty";
  p.dataset.empty = "";
  p.textContent = message;
  host.replaceChildren(p);
}

/** Round numbers for axis ticks covering [0, max]. */
export function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function svgRoot(width, height, title, desc) {
  const id = `chart-${++uid}`;
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": `${id}-t ${id}-d`,
    class: "chart",
  });
  svg.append(el("title", { id: `${id}-t` }, title), el("desc", { id: `${id}-d` }, desc));
  return svg;
}

function legend(host, series) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  for (const s of series) {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch ${s.type === "bar" ? "bar" : s.dashed ? "dashed" : "line"}`;
    swatch.style.setProperty("--swatch", s.color);
    li.append(swatch, document.createTextNode(s.name));
    ul.append(li);
  }
  host.append(ul);
}

/**
 * Bars and lines over shared x labels.
 * opts: {title, desc, labels: [..], series: [{name, type: "bar"|"line", values: [..], color,
 *        axis: "left"|"right", dashed, format}], xFormat, leftFormat, rightFormat,
 *        leftMax, rightMax, xTicks}
 */
export function xyChart(host, opts) {
  const W = opts.width || 640;
  const H = opts.height || 240;
  const M = { top: 14, right: opts.series.some((s) => s.axis === "right") ? 56 : 16, bottom: 30, left: 56 };
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const n = opts.labels.length;
  const svg = svgRoot(W, H, opts.title, opts.desc);
  const plot = el("g", { transform: `translate(${M.left},${M.top})` });
  svg.append(plot);

  const axisMax = (axis, given) => {
    const vals = opts.series.filter((s) => (s.axis || "left") === axis).flatMap((s) => s.values);
    const max = Math.max(0, ...vals.filter((v) => Number.isFinite(v)));
    return given ?? ticks(max).at(-1);
  };
  const scales = {};
  for (const axis of ["left", "right"]) {
    const max = axisMax(axis, axis === "left" ? opts.leftMax : opts.rightMax) || 1;
    scales[axis] = { max, y: (v) => ih - (v / max) * ih };
  }
  const band = iw / Math.max(n, 1);
  const xc = (i) => band * i + band / 2;

  // Grid and the left axis.
  const grid = el("g", { class: "grid" });
  for (const t of ticks(scales.left.max)) {
    if (t > scales.left.max * 1.0001) continue;
    const y = scales.left.y(t);
    grid.append(el("line", { x1: 0, x2: iw, y1: y, y2: y }));
    grid.append(
      el("text", { x: -8, y: y + 4, "text-anchor": "end" }, (opts.leftFormat || String)(t)),
    );
  }
  if (opts.series.some((s) => s.axis === "right")) {
    for (const t of ticks(scales.right.max)) {
      if (t > scales.right.max * 1.0001) continue;
      grid.append(
        el(
          "text",
          { x: iw + 8, y: scales.right.y(t) + 4, "text-anchor": "start" },
          (opts.rightFormat || String)(t),
        ),
      );
    }
  }
  const every = Math.max(1, Math.ceil(n / (opts.xTicks || 8)));
  for (let i = 0; i < n; i += every) {
    grid.append(
      el("text", { x: xc(i), y: ih + 20, "text-anchor": "middle" }, (opts.xFormat || String)(opts.labels[i])),
    );
  }
  grid.append(el("line", { class: "axis", x1: 0, x2: iw, y1: ih, y2: ih }));
  plot.append(grid);

  let points = 0;
  const bars = opts.series.filter((s) => s.type === "bar");
  bars.forEach((s, k) => {
    const sc = scales[s.axis || "left"];
    const g = el("g", { class: "bars", fill: s.color, "data-series": s.name });
    const bw = Math.max(1, (band * 0.8) / bars.length);
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = xc(i) - (band * 0.8) / 2 + k * bw;
      const rect = el("rect", { x, y: sc.y(v), width: bw, height: Math.max(0, ih - sc.y(v)) });
      rect.append(el("title", {}, `${(opts.xFormat || String)(opts.labels[i])}: ${s.name} ${(s.format || String)(v)}`));
      g.append(rect);
      points += 1;
    });
    plot.append(g);
  });
  for (const s of opts.series.filter((s) => s.type !== "bar")) {
    const sc = scales[s.axis || "left"];
    const g = el("g", { class: "line", "data-series": s.name });
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${xc(i).toFixed(1)},${sc.y(v).toFixed(1)}`;
      pen = true;
    });
    const path = el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2.5 });
    if (s.dashed) path.setAttribute("stroke-dasharray", "6 4");
    g.append(path);
    if (!s.noDots) {
      s.values.forEach((v, i) => {
        if (!Number.isFinite(v)) return;
        const dot = el("circle", { cx: xc(i), cy: sc.y(v), r: n > 40 ? 1.8 : 3.5, fill: s.color });
        dot.append(el("title", {}, `${(opts.xFormat || String)(opts.labels[i])}: ${s.name} ${(s.format || String)(v)}`));
        g.append(dot);
        points += 1;
      });
    } else {
      points += s.values.filter((v) => Number.isFinite(v)).length;
    }
    plot.append(g);
  }
  svg.dataset.points = String(points);
  host.replaceChildren(svg);
  legend(host, opts.series);
  return points;
}

/**
 * Horizontal funnel: steps [{label, value}], each bar as a share of the first step.
 */
export function funnelChart(host, { title, desc, steps, format }) {
  const W = 640;
  const rowH = 34;
  const labelW = 120;
  const H = steps.length * rowH + 8;
  const svg = svgRoot(W, H, title, desc);
  const first = steps[0]?.value || 0;
  const iw = W - labelW - 150;
  let points = 0;
  steps.forEach((step, i) => {
    const y = i * rowH + 4;
    const share = first > 0 ? step.value / first : 0;
    const g = el("g", { class: "funnel-step" });
    g.append(el("text", { x: labelW - 10, y: y + rowH / 2 + 1, "text-anchor": "end" }, step.label));
    g.append(el("rect", { class: "track", x: labelW, y: y + 4, width: iw, height: rowH - 10, rx: 3 }));
    const bar = el("rect", {
      x: labelW,
      y: y + 4,
      width: Math.max(share > 0 ? 2 : 0, share * iw),
      height: rowH - 10,
      rx: 3,
      fill: COLORS.blue,
    });
    bar.append(el("title", {}, `${step.label}: ${format(step.value)} (${(share * 100).toFixed(1)} % of started)`));
    g.append(bar);
    g.append(
      el(
        "text",
        { x: labelW + iw + 10, y: y + rowH / 2 + 1 },
        `${format(step.value)} · ${(share * 100).toFixed(0)} %`,
      ),
    );
    svg.append(g);
    points += 1;
  });
  svg.dataset.points = String(points);
  host.replaceChildren(svg);
  return points;
}
