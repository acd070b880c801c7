// The manager's view (SPEC §5): upload the data and see errors beside their rows, the three
// optima, the front as a job with progress, and the chosen point's allocation in a table.

import { ApiProblem, follow, get, post, postRaw, request } from "./api.js";
import { $, el, num, replace, showError, table } from "./dom.js";
import { chooseForCommit, initCommitting } from "./committing.js";
import { drawFront } from "./plot.js";
import { csvSheet, enterpriseSheet, placeErrors, renderSheet } from "./sheet.js";

const SENSES = { F1: "max", F2: "max", F3: "min", T: "max" };
const OBJECTIVE_NAMES = { F1: "economic benefit", F2: "coordination degree", F3: "ecological footprint", T: "development level" };
const state = { problem: null, document: null, front: null, plot: null, job: null, abort: null };

async function readFile(file) { return file.text(); }

function isCsv(file) { return /\.csv$/i.test(file.name) || file.type === "text/csv"; }

function onFileChosen() {
  const file = $("upload-file").files[0];
  $("header-box").hidden = !(file && isCsv(file));
}

async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  if (state.abort) state.abort.abort(); // stop following an earlier problem's front
  replace("upload-errors"); replace("upload-status", "Checking…");
  for (const id of ["optima-card", "front-card", "pick-card", "commit-card"]) $(id).hidden = true;
  for (const id of ["optima", "front-summary", "front-plots", "front-status", "pick-summary", "pick-table"]) replace(id);
  $("front-progress").hidden = true;
  const text = await readFile(file);
  let sheet = null, response;
  try {
    if (isCsv(file)) {
      sheet = csvSheet(text);
      const form = new FormData();
      form.append("table", new Blob([text], { type: "text/csv" }), file.name);
      form.append("header", $("upload-header").value);
      response = await request("POST", "/problems/csv", { body: form });
    } else {
      try { sheet = enterpriseSheet(JSON.parse(text)); } catch { sheet = null; } // the server names a syntax error
      response = await request("POST", "/problems", { body: text });
    }
  } catch (error) {
    replace("upload-status");
    return showUploadErrors(error, sheet);
  }
  replace("upload-status", el("span", { class: "ok" }, "Stored. "), `Problem ${response.cooperative} · ${response.round} `,
    el("span", { class: "hash", id: "problem-hash" }, response.hash),
    response.notices.length ? el("ul", {}, response.notices.map((n) => el("li", {}, typeof n === "string" ? n : JSON.stringify(n)))) : null);
  const stored = await get(`/problems/${response.hash}`);
  state.problem = response.hash;
  state.document = stored.document;
  const storedSheet = enterpriseSheet(stored.document);
  replace("sheet", el("details", {}, el("summary", {}, `The stored enterprise table (${storedSheet.rows.length} enterprises)`), renderSheet(storedSheet)));
  if (await optima()) $("front-card").hidden = false;
}

function showUploadErrors(error, sheet) {
  if (!(error instanceof ApiProblem)) return showError("upload-errors", error);
  const { byRow, general } = placeErrors(error.errors);
  replace("upload-errors",
    el("p", {}, el("b", {}, `Not stored (${error.status}). `), byRow.size ? `${error.errors.length} problem(s); those of a row are shown beside it.` : error.message),
    general.length ? el("ul", {}, general.map((e) => el("li", {}, el("b", {}, e.path || "document"), ": ", e.detail))) : null);
  replace("sheet", sheet ? renderSheet(sheet, error.errors) : null);
}

async function optima() {
  const card = $("optima-card");
  card.hidden = false;
  replace("optima", "Solving each objective…");
  const runs = [["max F1", "F1"], ["max F2", "F2"], ["min F3", "F3"]];
  let answers;
  try {
    answers = await Promise.all(runs.map(([, objective]) => postRaw(`/problems/${state.problem}/solutions`, { objective })));
  } catch (error) { showError("optima", error); return false; }
  const results = answers.map((a) => a.json);
  // Each optimum's JSON exactly as the API sent it, to check offline with coopchain verify.
  const saved = (i) => {
    const file = `solution-${runs[i][1]}.json`;
    const url = URL.createObjectURL(new Blob([answers[i].text], { type: "application/json" }));
    return el("span", {}, el("a", { href: url, download: file, class: "solution-link", "data-objective": runs[i][1] }, file), " ",
      el("code", { class: "solution-command" }, `coopchain verify ${file}`));
  };
  const rows = results.map((s, i) => s.status === "infeasible"
    ? [runs[i][0], "infeasible", "", "", "", "", ""]
    : [runs[i][0], num(s.values.F1), num(s.values.F2, 4), s.values.class, num(s.values.F3, 4), `${s.status}, gap ${s.gap.toExponential(1)}`, saved(i)]);
  const infeasible = results.find((s) => s.status === "infeasible");
  replace("optima",
    table(["optimum", "F1 economic benefit (benefit units)", "F2 coordination", "class", "F3 footprint", "certified", "check it offline"], rows, { numeric: [1, 2, 4] }),
    infeasible ? conflicts(infeasible) : null,
    infeasible ? null : shadowPrices(results[0]));
  return !infeasible;
}

// Why the data cannot be met: the conflicting constraints (HiGHS's irreducible set), in words.
function conflicts(solution) {
  return el("div", { id: "conflicts", class: "error" },
    el("p", {}, el("b", {}, "No allocation meets all the constraints. "), solution.message || ""),
    el("p", {}, "These constraints conflict; relax one of them and upload again:"),
    el("ul", {}, (solution.conflicts || []).map((c) => el("li", {}, el("code", {}, c.constraint), " — ", c.sentence))));
}

function shadowPrices(solution) {
  const prices = (solution && solution.shadow_prices) || [];
  const caps = solution && solution.enterprise_cap_prices;
  const binding = caps ? caps.price.length : 0;
  if (!prices.length && !binding) return null;
  // Enterprise caps come as columns (tens of thousands in a large cooperative): a few shown, all in the JSON.
  const shown = Math.min(binding, 20);
  const capItems = [];
  for (let i = 0; i < shown; i++) {
    capItems.push(el("li", {}, `One more unit of ${caps.resource[i]} in ${caps.enterprise[i]}'s cap (${caps.cap[i]}) would change the objective by ${caps.price[i].toPrecision(4)}.`));
  }
  if (binding > shown) capItems.push(el("li", {}, `… and ${binding - shown} more binding enterprise caps (all in the solution's JSON).`));
  return el("details", {}, el("summary", {}, `What the caps cost at max F1 (${prices.length + binding} shadow price(s))`),
    el("ul", {}, prices.map((p) => el("li", {}, p.sentence)).concat(capItems)));
}

async function startFront(event) {
  event.preventDefault();
  const body = { method: $("front-method").value, points: Number($("front-points").value) };
  replace("front-summary"); replace("front-plots"); $("pick-card").hidden = true; $("commit-card").hidden = true;
  const progress = $("front-progress");
  progress.hidden = false; progress.value = 0;
  $("front-button").disabled = true;
  try {
    const job = await post(`/problems/${state.problem}/fronts`, body);
    state.job = job;
    $("front-cancel").hidden = false;
    replace("front-status", "queued");
    state.abort = new AbortController();
    let end = null;
    await follow(job.events, (name, data) => {
      if (name === "progress") { progress.value = data.progress; replace("front-status", `${data.state}: ${data.message}`); }
      if (name === "end") end = data;
    }, state.abort.signal);
    const done = await get(job.url);
    if (done.state !== "done") { replace("front-status", `${done.state}: ${done.message}`); return; }
    progress.value = 1;
    replace("front-status", done.message);
    showFront(done.result);
    return end;
  } catch (error) {
    if (error.name !== "AbortError") showError("front-status", error);
  } finally {
    $("front-button").disabled = false;
    $("front-cancel").hidden = true;
  }
}

async function cancelFront() {
  if (!state.job) return;
  try { await post(`${state.job.url}/cancel`, {}); } catch (error) { showError("front-status", error); }
}

function showFront(front) {
  state.front = front;
  const hv = front.hypervolume;
  replace("front-summary",
    el("p", {}, `${front.points.length} efficient allocations (${front.method}); hypervolume ${num(hv.value)}. `, front.message),
    front.reported && front.reported.length ? el("ul", { class: "muted" }, front.reported.map((r) => el("li", {}, r))) : null,
    table(["pick", "point", ...front.objectives, "why"],
      front.picks.map((p) => el("tr", { class: "clickable", onclick: () => choose(p.index) },
        el("td", {}, p.name), el("td", { class: "num" }, p.index), front.objectives.map((o) => el("td", { class: "num" }, num(p.values[o], 5))),
        el("td", {}, p.sentence)))));
  state.plot = drawFront($("front-plots"), front, SENSES, { onHover: hover, onLeave: unhover, onPick: choose });
  $("front-help").hidden = false;
  if (front.picks.length) choose(front.picks[0].index);
}

function enterprises() { return (state.document && state.document.enterprises) || []; }

function hover(index, event) {
  const point = state.front.points[index];
  const names = new Map(enterprises().map((e) => [e.id, e.name || e.id]));
  const picks = state.front.picks.filter((p) => p.index === index).map((p) => p.name);
  const tip = $("tooltip");
  replace(tip,
    el("div", {}, el("b", {}, `point ${index}`), picks.length ? ` — ${picks.join(", ")}` : ""),
    el("div", {}, state.front.objectives.map((o) => `${o} ${num(point.values[o], 5)}`).join(" · ")),
    el("table", {}, Object.entries(point.allocation).map(([id, w]) => el("tr", {}, el("td", {}, names.get(id) || id), el("td", { class: "num" }, num(w, 5))))));
  tip.hidden = false;
  const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
  const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
  tip.style.left = `${Math.max(0, x)}px`; tip.style.top = `${Math.max(0, y)}px`;
}

function unhover() { $("tooltip").hidden = true; }

// The chosen point's allocation: volume, development level, benefit and resource use per
// enterprise, in the units of docs/problem.md (the problem's own units).
function choose(index) {
  const point = state.front.points[index];
  state.plot.choose(index);
  const doc = state.document;
  const indicators = doc.indicators || {};
  const resources = Object.keys(doc.resources || {});
  const picks = state.front.picks.filter((p) => p.index === index);
  let total = 0, benefitTotal = 0;
  const use = Object.fromEntries(resources.map((r) => [r, 0]));
  const rows = enterprises().map((e) => {
    const w = point.allocation[e.id] ?? 0;
    const benefit = Object.entries(indicators).reduce((s, [k, a]) => s + a * ((e.benefit || {})[k] || 0) * w, 0);
    total += w; benefitTotal += benefit;
    const uses = resources.map((r) => { const u = ((e.use || {})[r] || 0) * w; use[r] += u; return u; });
    return el("tr", {}, el("td", {}, e.id), el("td", {}, e.name || ""), el("td", { class: "num" }, num(w, 6)),
      el("td", { class: "num" }, `${num(e.min)} – ${num(e.max)}`), el("td", { class: "num" }, num(e.u0 + e.g * w, 4)),
      el("td", { class: "num" }, num(benefit, 6)), uses.map((u) => el("td", { class: "num" }, num(u, 5))));
  });
  rows.push(el("tr", {}, el("th", {}, "total"), el("th", {}), el("th", { class: "num" }, num(total, 6)),
    el("th", { class: "num" }, `demand ${num(doc.demand.min)} – ${num(doc.demand.max)}`), el("th", {}),
    el("th", { class: "num" }, num(benefitTotal, 6)), resources.map((r) => el("th", { class: "num" }, `${num(use[r], 5)} of ${num(doc.resources[r].cap)}`))));
  $("pick-card").hidden = false;
  replace("pick-summary",
    el("p", {}, el("b", {}, `Point ${index}`), picks.length ? ` (${picks.map((p) => p.name).join(", ")})` : "", ": ",
      state.front.objectives.map((o) => `${o} ${OBJECTIVE_NAMES[o]} ${num(point.values[o], 6)}`).join(" · "),
      point.values.class ? ` · ${point.values.class}` : ""),
    picks.map((p) => el("p", { class: "muted" }, p.sentence)));
  replace("pick-table", table(
    ["id", "enterprise", "volume W (units of volume)", "allowed", "development U", "benefit Σ a·e·W (benefit units)", ...resources.map((r) => `${r} used (unit of ${r})`)],
    rows, { numeric: [2, 3, 4, 5, ...resources.map((_, i) => 6 + i)] }));
  $("pick-table").dataset.point = index;
  chooseForCommit(state.problem, point, picks.length ? picks[0].name : `index ${index}`);
}

export function initManager() {
  $("upload-file").addEventListener("change", onFileChosen);
  $("upload-header-file").addEventListener("change", async () => {
    const file = $("upload-header-file").files[0];
    if (file) $("upload-header").value = await file.text();
  });
  $("upload-form").addEventListener("submit", upload);
  $("front-form").addEventListener("submit", startFront);
  $("front-cancel").addEventListener("click", cancelFront);
  initCommitting();
}
