// A cooperative's history (SPEC §5, auditor; a manager sees their own): its rounds, its commits
// newest first, and one round with its first commit and every amendment, which one is current,
// each linking to its transaction (opened in the auditor's view), its receipt and its audit bundle
// with the command that checks it offline.

import { download, get } from "./api.js";
import { $, el, num, replace, showError, table } from "./dom.js";
import { showTransaction } from "./auditor.js";

const PAGE = 20;
const state = { cooperative: null, offset: 0, count: 0, genesis: null };
const enc = encodeURIComponent;

function when(iso) { return iso.replace("T", " ").replace("Z", " UTC"); }

function how(chosen) {
  if (!chosen) return "";
  const what = chosen.objective === "scalarised" ? `${chosen.method} scalarisation` : `${chosen.objective === "F3" ? "min" : "max"} ${chosen.objective}`;
  return chosen.pick ? `${what}, pick ${chosen.pick}` : what;
}

function status(commit) {
  return el("span", { class: `status-${commit.status}`, "data-status": commit.status }, commit.status);
}

// The transaction, in the auditor's view (its receipt, proof and bundle are there too).
function txLink(hash) {
  return el("a", { href: "#", class: "hash tx-link", "data-tx": hash, onclick: (e) => { e.preventDefault(); openTransaction(hash); } }, hash);
}

function openTransaction(hash) {
  const tab = document.querySelector(".tab[data-view='auditor']");
  if (tab) tab.click();
  showTransaction(hash);
}

async function lookup(event) {
  if (event) event.preventDefault();
  const cooperative = $("history-cooperative").value.trim();
  if (!cooperative) return;
  state.cooperative = cooperative;
  state.offset = 0;
  $("round-card").hidden = true;
  await Promise.all([showRounds(), showCommits()]);
}

async function showRounds() {
  replace("history-error");
  let rounds;
  try { rounds = await get(`/cooperatives/${enc(state.cooperative)}/rounds?limit=500`); } catch (error) {
    replace("history-rounds"); replace("history-commits");
    return showError("history-error", error.status === 404 ? new Error(`No cooperative "${state.cooperative}" among those your key may read.`) : error);
  }
  replace("history-rounds", el("h3", {}, `Rounds of ${state.cooperative} (${rounds.count})`),
    rounds.count === 0 ? el("p", { class: "muted" }, "Nothing committed yet.") :
      table(["round", "commits", "current commit", "first block", "last block"], rounds.data.map((r) =>
        el("tr", { class: "clickable", "data-round": r.round, onclick: () => showRound(r.round) },
          el("td", {}, r.round), el("td", { class: "num" }, r.commits), el("td", { class: "hash" }, r.current),
          el("td", { class: "num" }, r.first_height), el("td", { class: "num" }, r.last_height))), { numeric: [1, 3, 4] }));
}

async function showCommits() {
  let page;
  try { page = await get(`/cooperatives/${enc(state.cooperative)}/history?offset=${state.offset}&limit=${PAGE}`); } catch (error) { return; } // showRounds says why
  state.count = page.count;
  replace("history-commits", el("h3", {}, `Commits, newest first (${page.count})`),
    table(["time", "round", "#", "status", "chosen by", "F1", "F2", "F3", "block", "transaction"], page.data.map((c) =>
      el("tr", { class: c.status, "data-tx": c.transaction },
        el("td", { class: "nowrap" }, when(c.time)), el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); showRound(c.round); } }, c.round)),
        el("td", { class: "num" }, c.sequence), el("td", {}, status(c)), el("td", {}, how(c.chosen_by)),
        el("td", { class: "num" }, num(Number(c.values.F1), 7)), el("td", { class: "num" }, num(Number(c.values.F2), 5)),
        el("td", { class: "num" }, num(Number(c.values.F3), 5)), el("td", { class: "num" }, c.height), el("td", {}, txLink(c.transaction)))),
    { numeric: [2, 5, 6, 7, 8] }),
    el("div", { class: "row" },
      el("button", { type: "button", id: "history-newer", disabled: state.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - PAGE); showCommits(); } }, "Newer"),
      el("button", { type: "button", id: "history-older", disabled: state.offset + PAGE >= state.count, onclick: () => { state.offset += PAGE; showCommits(); } }, "Older")));
}

async function genesis() {
  if (!state.genesis) state.genesis = (await get("/blocks/0")).hash;
  return state.genesis;
}

// The audit bundle of one commit as a download, and the exact command that checks it offline.
async function bundleFor(hash, holder) {
  const file = `bundle-${hash.slice(0, 12)}.json`;
  try {
    const [blob, g] = await Promise.all([download(`/bundles/${hash}`), genesis()]);
    replace(holder, el("a", { href: blob.url, download: file, class: "bundle-link", "data-tx": hash }, `Download ${file}`), " then run ",
      el("code", { class: "verify-command" }, `coopchain verify ${file} --genesis ${g}`));
  } catch (error) { replace(holder, `No bundle: ${error.message}`); }
}

export async function showRound(round) {
  replace("history-error");
  let found;
  try { found = await get(`/cooperatives/${enc(state.cooperative)}/rounds/${enc(round)}`); } catch (error) { return showError("history-error", error); }
  const receipts = await Promise.all(found.commits.map((c) => get(c.links.receipt).catch((error) => ({ error }))));
  $("round-card").hidden = false;
  replace("round-title", `Round ${found.round} of ${found.cooperative}`);
  const ids = Object.keys(found.commits[0].allocation);
  replace("round-detail",
    el("p", {}, `${found.commits.length} commit${found.commits.length === 1 ? "" : "s"}; the current one is `, el("span", { class: "hash", id: "round-current" }, found.current),
      ". Nothing is overwritten: an amendment is a new commit that names the one it supersedes and why."),
    found.commits.map((c, i) => el("div", { class: "round-commit", "data-tx": c.transaction, "data-status": c.status },
      el("h3", {}, c.sequence === 0 ? "First commit" : `Amendment ${c.sequence}`, " — ", status(c)),
      table(["", ""], [
        ["transaction", txLink(c.transaction)],
        ["block", `${c.height}, ${when(c.time)}`],
        ["signed by", el("span", { class: "hash" }, c.sender)],
        ["chosen by", how(c.chosen_by)],
        ["values", `F1 ${num(Number(c.values.F1), 7)} · F2 ${num(Number(c.values.F2), 5)} (${c.values.class || ""}) · F3 ${num(Number(c.values.F3), 5)}`],
        ["problem", el("span", { class: "hash" }, c.problem)],
        ...(c.supersedes ? [["amends", txLink(c.supersedes)], ["why", el("span", { class: "reason" }, c.reason || "")]] : []),
        ["receipt", receipts[i].error ? receipts[i].error.message
          : el("span", { class: receipts[i].receipt.status === "applied" ? "ok receipt" : "error receipt", "data-status": receipts[i].receipt.status },
            receipts[i].receipt.status, receipts[i].receipt.code ? ` (${receipts[i].receipt.code}): ${receipts[i].receipt.message}` : "")],
        ["check it offline", el("span", { class: "bundle" }, "preparing the bundle…")],
      ]))),
    el("h3", {}, "Volume W per enterprise, commit by commit"),
    el("div", { class: "scroll" }, table(["enterprise", ...found.commits.map((c) => `#${c.sequence} ${c.status}`)], ids.map((id) =>
      el("tr", { "data-enterprise": id }, el("td", {}, id), found.commits.map((c, i) => el("td", {
        class: i > 0 && found.commits[i - 1].allocation[id] !== c.allocation[id] ? "num changed" : "num" }, num(Number(c.allocation[id]), 8))))))));
  const holders = $("round-detail").querySelectorAll(".round-commit .bundle");
  await Promise.all(found.commits.map((c, i) => bundleFor(c.transaction, holders[i])));
  $("round-card").scrollIntoView({ block: "nearest" });
}

export function initHistory() {
  $("history-form").addEventListener("submit", lookup);
}

export function openHistory() {}
