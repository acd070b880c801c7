// The front as SVG, drawn here rather than by a charting library: no download at run
// time, no WebGL (a 3-D view drawn on a machine without a GPU), a few hundred points at most.
// Pairwise panels (one per pair of objectives) and, for three objectives, a 3-D view that
// turns when dragged.  Every panel shares the callbacks: hover shows a point, click picks it.

const SVG = "http://www.w3.org/2000/svg";
const W = 360, H = 300, M = { left: 62, right: 14, top: 14, bottom: 40 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function extent(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!(hi > lo)) { const pad = Math.abs(lo) * 0.05 || 0.5; lo -= pad; hi += pad; }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

// A few round tick values across [lo, hi].
function ticks(lo, hi, count = 5) {
  const step0 = (hi - lo) / count, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

function fmt(x) {
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(1);
  return x.toLocaleString("en-GB", { maximumSignificantDigits: 4 });
}

function label(name, senses) {
  return `${name} (${senses[name] === "min" ? "min" : "max"})`;
}

function bindPoint(node, index, handlers) {
  node.dataset.index = index;
  node.addEventListener("pointerenter", (e) => handlers.onHover && handlers.onHover(index, e));
  node.addEventListener("pointermove", (e) => handlers.onHover && handlers.onHover(index, e));
  node.addEventListener("pointerleave", () => handlers.onLeave && handlers.onLeave(index));
  node.addEventListener("click", () => handlers.onPick && handlers.onPick(index));
}

function pickNames(picks) {
  const byIndex = new Map();
  for (const p of picks) byIndex.set(p.index, [...(byIndex.get(p.index) || []), p.name]);
  return byIndex;
}

// A pick's name beside its point, on the side with room.
function pickLabel(x, y, text) {
  const left = x > W * 0.62;
  return svg("text", { class: "picklabel", x: left ? x - 9 : x + 9, y: y - 7, "text-anchor": left ? "end" : "start" }, text);
}

function pairPanel(points, x, y, senses, picked, handlers) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `front: ${x} against ${y}`, class: "pair" });
  const xs = points.map((p) => p.values[x]), ys = points.map((p) => p.values[y]);
  const [x0, x1] = extent(xs), [y0, y1] = extent(ys);
  const sx = (v) => M.left + (v - x0) / (x1 - x0) * (W - M.left - M.right);
  const sy = (v) => H - M.bottom - (v - y0) / (y1 - y0) * (H - M.top - M.bottom);
  for (const t of ticks(x0, x1)) {
    root.append(svg("line", { class: "grid", x1: sx(t), x2: sx(t), y1: M.top, y2: H - M.bottom }));
    root.append(svg("text", { x: sx(t), y: H - M.bottom + 14, "text-anchor": "middle" }, fmt(t)));
  }
  for (const t of ticks(y0, y1)) {
    root.append(svg("line", { class: "grid", x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t) }));
    root.append(svg("text", { x: M.left - 5, y: sy(t) + 4, "text-anchor": "end" }, fmt(t)));
  }
  root.append(svg("line", { class: "axis", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
  root.append(svg("line", { class: "axis", x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }));
  root.append(svg("text", { class: "label", x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle" }, label(x, senses)));
  root.append(svg("text", { class: "label", x: 12, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(M.top + H - M.bottom) / 2})` }, label(y, senses)));
  const order = points.map((_, i) => i).sort((a, b) => picked.has(a) - picked.has(b)); // picks on top
  for (const i of order) {
    const isPick = picked.has(i);
    const dot = svg("circle", { class: isPick ? "pt pick" : "pt", cx: sx(xs[i]), cy: sy(ys[i]), r: isPick ? 6.5 : 4.2 });
    dot.append(svg("title", {}, `point ${i}`));
    bindPoint(dot, i, handlers);
    root.append(dot);
    if (isPick) root.append(pickLabel(sx(xs[i]), sy(ys[i]), picked.get(i).join(", ")));
  }
  return root;
}

// The 3-D view: each objective scaled to [-1, 1], turned by yaw and pitch, projected orthographically.
function cubePanel(points, names, senses, picked, handlers) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `front in 3-D: ${names.join(", ")}`, class: "cube" });
  const ranges = names.map((n) => extent(points.map((p) => p.values[n])));
  const unit = points.map((p) => names.map((n, k) => 2 * (p.values[n] - ranges[k][0]) / (ranges[k][1] - ranges[k][0]) - 1));
  // Turned so that the cube's main diagonal lies across the view: a front where F1 and F3 rise together
  // (more benefit, more footprint) runs along it, and seen end-on it would collapse to a dot.
  const view = { yaw: 0.75, pitch: 0.35 };
  const scale = Math.min(W, H) * 0.26, cx = W / 2, cy = H / 2 + 4;
  const project = ([a, b, c]) => {
    // x right, y (second objective) up, z (third) toward the viewer before turning.
    const cosY = Math.cos(view.yaw), sinY = Math.sin(view.yaw), cosP = Math.cos(view.pitch), sinP = Math.sin(view.pitch);
    const x1 = a * cosY + c * sinY, z1 = -a * sinY + c * cosY;
    const y2 = b * cosP - z1 * sinP, z2 = b * sinP + z1 * cosP;
    return [cx + scale * x1, cy - scale * y2, z2];
  };
  const axes = names.map((n, k) => {
    const end = [-1, -1, -1]; end[k] = 1;
    return { line: svg("line", { class: "axis" }), text: svg("text", { class: "label" }, label(n, senses)), end };
  });
  const corner = svg("circle", { r: 2, fill: "#889" });
  axes.forEach((a) => root.append(a.line, a.text));
  root.append(corner);
  const layer = svg("g");
  root.append(layer);
  const dots = unit.map((_, i) => {
    const isPick = picked.has(i);
    const dot = svg("circle", { class: isPick ? "pt pick" : "pt", r: isPick ? 6.5 : 4.2 });
    dot.append(svg("title", {}, `point ${i}`));
    bindPoint(dot, i, handlers);
    return dot;
  });
  const tags = [...picked.entries()].map(([i, nm]) => ({ i, text: nm.join(", "), node: null }));
  const draw = () => {
    const [ox, oy] = project([-1, -1, -1]);
    corner.setAttribute("cx", ox); corner.setAttribute("cy", oy);
    for (const a of axes) {
      const [ex, ey] = project(a.end);
      a.line.setAttribute("x1", ox); a.line.setAttribute("y1", oy); a.line.setAttribute("x2", ex); a.line.setAttribute("y2", ey);
      a.text.setAttribute("x", ex + (ex >= ox ? 4 : -4)); a.text.setAttribute("y", ey - 4);
      a.text.setAttribute("text-anchor", ex >= ox ? "start" : "end");
    }
    const placed = unit.map((u) => project(u));
    const order = placed.map((_, i) => i).sort((a, b) => placed[a][2] - placed[b][2]); // far first
    for (const i of order) {
      dots[i].setAttribute("cx", placed[i][0]); dots[i].setAttribute("cy", placed[i][1]);
      layer.append(dots[i]);
    }
    for (const t of tags) {
      if (t.node) t.node.remove();
      t.node = pickLabel(placed[t.i][0], placed[t.i][1], t.text);
      layer.append(t.node);
    }
  };
  let drag = null;
  root.addEventListener("pointerdown", (e) => {
    if (e.target.classList && e.target.classList.contains("pt")) return; // a click on a point picks it
    drag = { x: e.clientX, y: e.clientY, yaw: view.yaw, pitch: view.pitch };
    root.setPointerCapture(e.pointerId);
  });
  root.addEventListener("pointermove", (e) => {
    if (!drag) return;
    view.yaw = drag.yaw + (e.clientX - drag.x) * 0.01;
    view.pitch = Math.max(-1.5, Math.min(1.5, drag.pitch + (e.clientY - drag.y) * 0.01));
    draw();
  });
  root.addEventListener("pointerup", () => { drag = null; });
  draw();
  return root;
}

// Draw `front` (the result of a front job: points, objectives, picks) into `container`.
// Returns { choose(index) } to mark the chosen point in every panel.
export function drawFront(container, front, senses, handlers) {
  const { points, objectives } = front;
  const picked = pickNames(front.picks || []);
  const figures = [];
  const figure = (node, caption) => {
    const f = document.createElementNS("http://www.w3.org/1999/xhtml", "figure");
    f.className = "plot";
    f.style.margin = "0";
    const c = document.createElement("figcaption");
    c.textContent = caption;
    f.append(node, c);
    figures.push(f);
  };
  if (objectives.length === 3) figure(cubePanel(points, objectives, senses, picked, handlers), `3-D: ${objectives.join(", ")} (drag to turn)`);
  for (let a = 0; a < objectives.length; a++)
    for (let b = a + 1; b < objectives.length; b++)
      figure(pairPanel(points, objectives[a], objectives[b], senses, picked, handlers), `${objectives[a]} against ${objectives[b]}`);
  container.replaceChildren(...figures);
  return {
    choose(index) {
      for (const dot of container.querySelectorAll("circle.pt")) dot.classList.toggle("chosen", Number(dot.dataset.index) === index);
    },
  };
}

// -- series over the periods of a day (the market's charts) -------------------------------------
// A chart of one value per period for each series: lines (prices, states of charge) or bars stacked
// above and below zero (energy bought + and sold −).  Axes carry their units; hovering a period
// calls handlers.onHover(period, event) so the caller can show every series' value there.

export const PALETTE = ["#2f7d4f", "#c06000", "#3a63b8", "#a3307a", "#7a6a00", "#00838f", "#6d4c41", "#5e35b1", "#d81b60", "#558b2f"];
const SW = 720, SH = 300, SM = { left: 66, top: 16, bottom: 44 };

function clock(period, minutes) {
  const m = period * minutes;
  return `${String(Math.floor(m / 60) % 24).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

// chart: { title, unit (the y axis's label, with its unit), periods, minutes (per period), kind: "line" | "bars",
//          series: [{ name, values, colour? }], band?: [[low, high] per period] (drawn behind the first series) }
export function drawSeries(container, chart, handlers = {}) {
  const { periods, minutes, series, kind } = chart;
  const root = svg("svg", { viewBox: `0 0 ${SW} ${SH}`, role: "img", "aria-label": chart.title, class: `series ${kind}`, "data-chart": chart.id || "" });
  const colours = series.map((s, i) => s.colour || PALETTE[i % PALETTE.length]);
  let lo = 0, hi = 0;
  if (kind === "bars") {
    for (let t = 0; t < periods; t++) {
      let up = 0, down = 0;
      for (const s of series) { const v = s.values[t]; if (v > 0) up += v; else down += v; }
      hi = Math.max(hi, up); lo = Math.min(lo, down);
    }
  } else {
    const all = series.flatMap((s) => s.values).concat((chart.band || []).flat());
    lo = Math.min(...all); hi = Math.max(...all);
    if (chart.zero !== false) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
  }
  const [y0, y1] = extent([lo, hi]);
  // The legend sits right of the plot, where it hides no bar.
  const right = 150;
  const plotW = SW - SM.left - right, plotH = SH - SM.top - SM.bottom;
  const step = plotW / periods;
  const sx = (t) => SM.left + t * step; // the left edge of period t
  const sy = (v) => SH - SM.bottom - (v - y0) / (y1 - y0) * plotH;
  for (const t of ticks(y0, y1)) {
    root.append(svg("line", { class: "grid", x1: SM.left, x2: SW - right, y1: sy(t), y2: sy(t) }));
    root.append(svg("text", { x: SM.left - 5, y: sy(t) + 4, "text-anchor": "end" }, fmt(t)));
  }
  const every = Math.max(1, Math.ceil(periods / 12));
  for (let t = 0; t <= periods; t += every) {
    root.append(svg("line", { class: "grid", x1: sx(t), x2: sx(t), y1: SM.top, y2: SH - SM.bottom }));
    root.append(svg("text", { x: sx(t), y: SH - SM.bottom + 14, "text-anchor": "middle" }, clock(t, minutes)));
  }
  if (y0 < 0 && y1 > 0) root.append(svg("line", { class: "zero", x1: SM.left, x2: SW - right, y1: sy(0), y2: sy(0) }));
  root.append(svg("line", { class: "axis", x1: SM.left, x2: SW - right, y1: SH - SM.bottom, y2: SH - SM.bottom }));
  root.append(svg("line", { class: "axis", x1: SM.left, x2: SM.left, y1: SM.top, y2: SH - SM.bottom }));
  root.append(svg("text", { class: "label", x: (SM.left + SW - right) / 2, y: SH - 8, "text-anchor": "middle" }, chart.xLabel || `time of day (periods of ${minutes} min)`));
  const mid = (SM.top + SH - SM.bottom) / 2;
  root.append(svg("text", { class: "label", x: 14, y: mid, "text-anchor": "middle", transform: `rotate(-90 14 ${mid})` }, chart.unit));
  if (chart.band) {
    const top = chart.band.map(([, h], t) => `${sx(t)},${sy(h)} ${sx(t + 1)},${sy(h)}`).join(" ");
    const bottom = chart.band.map(([l], t) => `${sx(t + 1)},${sy(l)} ${sx(t)},${sy(l)}`).reverse().join(" ");
    root.append(svg("polygon", { class: "band", points: `${top} ${bottom}` }));
  }
  const layer = svg("g", { class: "data" });
  root.append(layer);
  if (kind === "bars") {
    const width = step * 0.78;
    for (let t = 0; t < periods; t++) {
      let up = 0, down = 0;
      series.forEach((s, i) => {
        const v = s.values[t];
        if (!v) return;
        const from = v > 0 ? up : down, to = from + v;
        if (v > 0) up = to; else down = to;
        layer.append(svg("rect", { class: "bar", "data-series": s.name, "data-period": t, x: sx(t) + (step - width) / 2, width,
          y: Math.min(sy(from), sy(to)), height: Math.max(0.5, Math.abs(sy(from) - sy(to))), fill: colours[i] }));
      });
    }
  } else {
    series.forEach((s, i) => {
      // Each value holds for its whole period: a step line through the periods' middles reads as "per period".
      const points = s.values.map((v, t) => `${sx(t)},${sy(v)} ${sx(t + 1)},${sy(v)}`).join(" ");
      layer.append(svg("polyline", { class: "line", "data-series": s.name, points, stroke: colours[i] }));
    });
  }
  // Legend, top right, one swatch per series.
  const legend = svg("g", { class: "legend" });
  series.forEach((s, i) => {
    const y = SM.top + 4 + i * 15;
    legend.append(svg("rect", { x: SW - right + 12, y: y - 8, width: 10, height: 10, fill: colours[i] }));
    legend.append(svg("text", { x: SW - right + 26, y: y + 1 }, s.name));
  });
  root.append(legend);
  // Hover: a transparent column per period, and a guide line at the hovered one.
  const guide = svg("line", { class: "guide", y1: SM.top, y2: SH - SM.bottom, visibility: "hidden" });
  root.append(guide);
  for (let t = 0; t < periods; t++) {
    const column = svg("rect", { class: "hover", "data-period": t, x: sx(t), y: SM.top, width: step, height: plotH, fill: "transparent" });
    column.append(svg("title", {}, `${clock(t, minutes)}–${clock(t + 1, minutes)}`));
    const show = (e) => {
      guide.setAttribute("x1", sx(t) + step / 2); guide.setAttribute("x2", sx(t) + step / 2); guide.setAttribute("visibility", "visible");
      handlers.onHover && handlers.onHover(t, e);
    };
    column.addEventListener("pointerenter", show);
    column.addEventListener("pointermove", show);
    column.addEventListener("pointerleave", () => { guide.setAttribute("visibility", "hidden"); handlers.onLeave && handlers.onLeave(t); });
    root.append(column);
  }
  const f = document.createElementNS("http://www.w3.org/1999/xhtml", "figure");
  f.className = "plot";
  f.style.margin = "0";
  const c = document.createElement("figcaption");
  c.textContent = chart.title;
  f.append(root, c);
  container.append(f);
  return f;
}

export { clock };
