// The manager's commit (SPEC §5): the chosen point certified, its transactions built as
// `coopchain commit` builds them (commit.js), signed here with the manager's Ed25519 key
// (signing.js: never sent), submitted to POST /transactions?wait=true, and each receipt shown:
// applied, or rejected with the contract's code and sentence, with its block.  The key's next
// nonce is read from the ledger (GET /accounts/{key}) before each commit, never guessed.

import { get, post, request } from "./api.js";
import { certifyRequest, commitArguments } from "./commit.js";
import { $, el, replace, showError, table } from "./dom.js";
import { generateSigner, signerFromPem, signTransaction } from "./signing.js";

const state = { signer: null, chainId: null, chosen: null };

function showSigner() {
  const s = state.signer;
  replace("signing-who", s ? el("p", {}, "Signing as ", el("span", { class: "hash", id: "signing-sender" }, s.sender)) : null);
  $("commit-button").disabled = !(s && state.chosen);
}

async function loadKey() {
  const file = $("signing-key-file").files[0];
  if (!file) return;
  replace("commit-status");
  try { state.signer = await signerFromPem(await file.text()); } catch (error) { state.signer = null; showError("commit-status", error); }
  $("signing-key-file").value = ""; // the PEM text is not kept anywhere else in the page
  showSigner();
}

async function newKey() {
  state.signer = await generateSigner();
  const url = URL.createObjectURL(new Blob([state.signer.pem], { type: "application/x-pem-file" }));
  delete state.signer.pem;
  showSigner();
  $("signing-who").append(el("p", {}, el("a", { href: url, download: "manager.pem", id: "signing-save" }, "Save this key (manager.pem)"),
    " on your own computer, keep it private (chmod 600), and have your cooperative add its public key above as a manager."));
}

// The point the manager chose on the front: its values and the pick's name, if it has one.
export function chooseForCommit(problem, point, pickName) {
  state.chosen = { problem, point, pick: pickName };
  $("commit-card").hidden = false;
  replace("commit-receipts");
  replace("commit-status");
  showSigner();
}

async function submit(doc) {
  return request("POST", "/transactions?wait=true", { json: doc });
}

// The nonce the signer's next transaction must carry, as the chain's state says.
async function nextNonce() {
  const account = await get(`/accounts/${encodeURIComponent(state.signer.sender)}`);
  $("commit-nonce").value = String(account.next_nonce);
  return account.next_nonce;
}

// Sign and submit one call at `nonce`; once the ledger has it, the box shows the next one.
async function signAndSubmit(nonce, kind, payload) {
  const doc = await signTransaction(state.signer, state.chainId, nonce, kind, payload);
  const answer = await submit(doc);
  $("commit-nonce").value = String(nonce + 1);
  return { doc, answer };
}

function receiptRow(kind, answer, block) {
  const r = answer.receipt || {};
  return el("tr", { class: r.status === "applied" ? "applied" : "rejected", "data-tx": answer.hash },
    el("td", {}, kind), el("td", { class: r.status === "applied" ? "ok" : "error" }, r.status || answer.status),
    el("td", {}, r.code || ""), el("td", {}, r.message || ""),
    el("td", { class: "num" }, answer.height ?? ""), el("td", {}, block ? el("span", { class: "hash" }, block.hash) : ""),
    el("td", { class: "hash" }, answer.hash));
}

async function commit(event) {
  event.preventDefault();
  if (!state.signer || !state.chosen) return;
  $("commit-button").disabled = true;
  replace("commit-receipts");
  try {
    state.chainId = state.chainId || (await get("/blocks/0")).header.chain_id;
    replace("commit-status", "Certifying the chosen point…");
    const { problem, point, pick } = state.chosen;
    const solution = await post(`/problems/${problem}/solutions`, certifyRequest(point.values));
    if (solution.status !== "optimal") throw new Error(`the point could not be certified: ${solution.message}`);
    // An amendment names the round's current commit and says why (the contract: bad_supersedes otherwise).
    const supersedes = $("commit-supersedes").value.trim().toLowerCase() || null;
    const reason = $("commit-reason").value.trim() || null;
    if ((supersedes === null) !== (reason === null)) throw new Error("An amendment gives both the commit it amends and why; a first commit neither.");
    const args = await commitArguments(solution, { objective: "scalarised", method: "epsilon", pick }, { supersedes, reason });
    const calls = [];
    if ($("commit-register").checked) calls.push(["allocation.register_problem", { problem: solution.certificate.problem }]);
    calls.push(["allocation.commit_allocation", args]);
    const rows = [];
    let nonce = await nextNonce();
    for (const [kind, payload] of calls) {
      replace("commit-status", `Signing and submitting ${kind}…`);
      const { answer } = await signAndSubmit(nonce++, kind, payload);
      const block = answer.height === null || answer.height === undefined ? null : await get(`/blocks/${answer.height}`);
      rows.push(receiptRow(kind, answer, block));
      replace("commit-receipts", table(["transaction", "receipt", "code", "why", "block", "block hash", "transaction hash"], rows, { numeric: [4] }));
    }
    const last = calls.length && rows[rows.length - 1];
    replace("commit-status", last && last.classList.contains("applied")
      ? el("span", { class: "ok", id: "commit-done" }, "Committed: the allocation is on the ledger.")
      : el("span", { class: "error", id: "commit-done" }, "Not committed: the receipt says why."));
  } catch (error) {
    showError("commit-status", error);
  } finally {
    $("commit-button").disabled = !(state.signer && state.chosen);
  }
}

export function initCommitting() {
  $("signing-key-file").addEventListener("change", loadKey);
  $("signing-generate").addEventListener("click", () => newKey().catch((error) => showError("commit-status", error)));
  $("commit-form").addEventListener("submit", commit);
}
