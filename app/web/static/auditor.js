// The auditor's view (SPEC §5): blocks newest first, a block's transactions with their receipts,
// one transaction with its receipt (applied, or rejected with the code and why), its inclusion
// proof, and its audit bundle with the exact command that checks it offline against the genesis
// hash shown here (which the auditor should compare with the one they were given, not trust from
// this page).

import { download, get } from "./api.js";
import { $, el, num, replace, showError, table } from "./dom.js";
import { showCheckpoint } from "./trust.js";

const PAGE = 20;
const RECEIPTS = 100; // a block's receipts fetched with its list; a larger block's others show on opening one
const state = { offset: 0, count: 0, genesis: null };

function when(microseconds) {
  return new Date(microseconds / 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

async function showHead() {
  const [head, genesis] = await Promise.all([get("/blocks/head"), get("/blocks/0")]);
  state.genesis = genesis.hash;
  showCheckpoint(genesis); // the checkpoint and its witnesses (trust.js), beside the head
  // The head as a file to keep: a later bundle made "since" it proves the ledger only grew.
  const keep = `head-${head.height}.json`;
  const kept = el("a", { id: "head-link", download: keep, href: URL.createObjectURL(new Blob([JSON.stringify(head.header)], { type: "application/json" })) }, `Keep this head (${keep})`);
  replace("head", table(["", ""], [
    ["chain", head.header.chain_id],
    ["head", el("span", {}, `block ${head.height} · `, el("span", { class: "hash" }, head.hash))],
    ["genesis", el("span", { class: "hash", id: "genesis-hash" }, genesis.hash)],
    ["seal", genesis.header.config ? JSON.stringify(genesis.header.config.seal ?? genesis.header.seal) : JSON.stringify(head.header.seal)],
  ]), el("p", {}, kept, " — later, a bundle made since it proves the ledger only grew from what you saw today."));
}

async function showBlocks() {
  let page;
  try { page = await get(`/blocks?offset=${state.offset}&limit=${PAGE}`); } catch (error) { return showError("lookup-error", error); }
  state.count = page.count;
  replace("blocks", table(["height", "time", "transactions", "hash"], page.data.map((b) =>
    el("tr", { class: "clickable", "data-height": b.height, onclick: () => showBlock(b.height) },
      el("td", { class: "num" }, b.height), el("td", {}, when(b.header.timestamp)), el("td", { class: "num" }, b.header.transaction_count),
      el("td", { class: "hash" }, b.hash))), { numeric: [0, 2] }));
  $("blocks-newer").disabled = state.offset === 0;
  $("blocks-older").disabled = state.offset + PAGE >= state.count;
}

async function showBlock(height) {
  replace("lookup-error");
  let block, txs = null;
  try { block = await get(`/blocks/${height}`); } catch (error) { return showError("lookup-error", error); }
  try { txs = await get(`/blocks/${height}/transactions?limit=500`); } catch (error) { txs = { error }; }
  const receipts = txs.error ? [] : await Promise.all(txs.data.slice(0, RECEIPTS).map((t) => get(`/transactions/${t.hash}/receipt`).catch(() => null)));
  $("block-card").hidden = false;
  replace("block-title", `Block ${height}`);
  replace("block-detail",
    table(["field", "value"], Object.entries(block.header).map(([k, v]) => [k, el("span", { class: "hash" }, typeof v === "object" ? JSON.stringify(v) : String(v))])),
    txs.error ? el("p", { class: "muted" }, `Its transactions: ${txs.error.message}`)
      : table(["position", "kind", "sender", "what", "receipt", "hash"], txs.data.map((t, i) =>
        el("tr", { class: "clickable", "data-tx": t.hash, onclick: () => showTransaction(t.hash) },
          el("td", { class: "num" }, t.position), el("td", {}, t.transaction.kind), el("td", { class: "hash" }, t.transaction.sender),
          el("td", {}, describe(t.transaction)), el("td", {}, receipts[i] ? verdict(receipts[i].receipt) : "open it"), el("td", { class: "hash" }, t.hash)))));
  $("block-card").scrollIntoView({ block: "nearest" });
}

// A receipt in words: applied, or rejected with the failed condition's code and sentence.
function verdict(receipt) {
  if (receipt.status === "applied") return el("span", { class: "ok receipt", "data-status": "applied" }, "applied");
  return el("span", { class: "error receipt", "data-status": "rejected", "data-code": receipt.code },
    "rejected: ", el("code", {}, receipt.code), " — ", receipt.message);
}

function describe(tx) {
  const p = tx.payload || {};
  if (p.key) return p.key;
  const args = p.args || {};
  const what = [args.cooperative, args.round].filter(Boolean).join(" ");
  return [tx.kind, what].filter(Boolean).join(": ");
}

// An allocation commit's round, how it was chosen, and what it amends (a link back along the
// round's amendments: each names the commit it supersedes).
function commitFacts(tx) {
  if (tx.kind !== "allocation.commit_allocation") return null;
  const p = tx.payload || {};
  const chosen = p.chosen_by || {};
  const how = [chosen.objective === "scalarised" ? `${chosen.method} scalarisation` : chosen.objective, chosen.pick && `pick ${chosen.pick}`].filter(Boolean).join(", ");
  return el("div", { id: "tx-commit" }, el("h3", {}, "Allocation commit"), table(["", ""], [
    ["cooperative", el("span", { id: "tx-cooperative" }, p.cooperative)], ["round", el("span", { id: "tx-round" }, p.round)],
    ["problem", el("span", { class: "hash" }, p.problem)], ["chosen by", el("span", { id: "tx-chosen" }, how)],
    ["amends", p.supersedes ? el("a", { href: "#", id: "tx-supersedes", onclick: (e) => { e.preventDefault(); showTransaction(p.supersedes); } }, p.supersedes)
      : "nothing: the round's first commit"],
    ...(p.reason ? [["why", p.reason]] : []),
  ]));
}

// The first value under `key` anywhere in a transaction's payload (records and contract calls nest differently).
function findKey(node, key) {
  if (!node || typeof node !== "object") return undefined;
  if (!Array.isArray(node) && key in node) return node[key];
  for (const child of Object.values(node)) {
    const found = findKey(child, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

export async function showTransaction(hash) {
  replace("lookup-error");
  let tx, proof;
  let receipt;
  try {
    [tx, proof, receipt] = await Promise.all([get(`/transactions/${hash}`), get(`/proofs/transactions/${hash}`), get(`/transactions/${hash}/receipt`)]);
  } catch (error) { return showError("lookup-error", error); }
  $("tx-card").hidden = false;
  const allocation = findKey(tx.transaction.payload, "allocation");
  const method = findKey(tx.transaction.payload, "method");
  const link = el("a", { id: "bundle-link", href: "#", "aria-disabled": "true" }, "");
  const commandText = el("code", { id: "verify-command" });
  const since = el("input", { id: "since-height", type: "number", min: "1", size: "8", placeholder: "height" });
  replace("tx-detail",
    table(["", ""], [
      ["hash", el("span", { class: "hash", id: "tx-hash" }, tx.hash)],
      ["block", el("span", {}, `${tx.height}, position ${tx.position}`)],
      ["kind", tx.transaction.kind], ["sender", el("span", { class: "hash" }, tx.transaction.sender)], ["nonce", tx.transaction.nonce],
      ["what", describe(tx.transaction)],
      ["receipt", el("span", { id: "tx-receipt" }, verdict(receipt.receipt))],
    ]),
    commitFacts(tx.transaction),
    allocation && typeof allocation === "object" ? el("div", { id: "tx-allocation" }, el("h3", {}, `Allocation${typeof method === "string" ? ` (${method})` : ""}`),
      table(["enterprise", "volume W"], Object.entries(allocation).map(([id, w]) => [id, num(Number(w), 8)]), { numeric: [1] })) : null,
    el("h3", {}, "Inclusion proof (RFC 9162) in block ", String(proof.height)),
    el("pre", { id: "proof" }, JSON.stringify(proof, null, 1)),
    el("h3", {}, "Check it yourself, offline"),
    el("p", {}, link, " then run, in the folder you saved it to:"),
    el("div", { class: "command" }, commandText,
      el("button", { type: "button", onclick: () => navigator.clipboard && navigator.clipboard.writeText(commandText.textContent) }, "Copy")),
    el("p", { class: "muted" }, "Compare the genesis hash with the one your cooperative published: the bundle is checked against it, not against this server."),
    el("form", { id: "since-form", class: "row", onsubmit: (e) => { e.preventDefault(); bundle(hash, link, commandText, Number(since.value) || null); } },
      el("label", {}, "Kept a head earlier (head-HEIGHT.json)? Its height: ", since),
      el("button", { type: "submit" }, "Bundle since that head")));
  await bundle(hash, link, commandText, null);
  $("tx-card").scrollIntoView({ block: "nearest" });
}

// The audit bundle as a download, and the command that checks it; `since`: the height of a head
// the auditor kept (head-HEIGHT.json), which the bundle then proves this ledger extends.
async function bundle(hash, link, commandText, since) {
  const file = `bundle-${hash.slice(0, 12)}${since ? `-since-${since}` : ""}.json`;
  link.dataset.ready = "";
  link.setAttribute("aria-disabled", "true");
  link.textContent = `Download ${file}`;
  link.download = file;
  commandText.textContent = `coopchain verify ${file} --genesis ${state.genesis}${since ? ` --since head-${since}.json` : ""}`;
  replace("lookup-error");
  try {
    const blob = await download(`/bundles/${hash}${since ? `?since=${since}` : ""}`);
    link.href = blob.url;
    link.removeAttribute("aria-disabled");
    link.dataset.ready = since ? `since-${since}` : "1";
  } catch (error) { showError("lookup-error", new Error(`No bundle: ${error.message}`)); }
}

async function lookup(event) {
  event.preventDefault();
  const text = $("lookup").value.trim();
  replace("lookup-error");
  if (/^\d+$/.test(text)) return showBlock(Number(text));
  if (/^[0-9a-fA-F]{64}$/.test(text)) return showTransaction(text.toLowerCase());
  replace("lookup-error", "Give a block height (a whole number) or a transaction hash (64 hex digits).");
}

export async function initAuditor() {
  $("lookup-form").addEventListener("submit", lookup);
  $("blocks-newer").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); showBlocks(); });
  $("blocks-older").addEventListener("click", () => { state.offset += PAGE; showBlocks(); });
}

export async function openAuditor() {
  try { await showHead(); await showBlocks(); } catch (error) { showError("lookup-error", error); }
}
