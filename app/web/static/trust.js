// The checkpoint and its witnesses, the auditor's side (docs/trust.md): GET /checkpoint is the node's
// latest published checkpoint (C2SP signed note: origin, tree size, base64 root, then signature
// lines), as the node signed it and its witnesses cosigned it.  Shown: the origin, the size, the
// root, the node's signature (checked here with WebCrypto against the genesis's node key) and each
// witness's cosignature with its time.  A witness's key is not in the note but in the auditor's
// policy, so cosignatures are checked by `coopchain chain verify --checkpoint … --policy …`, which
// the page names; nothing on this page replaces that check (the page comes from the operator).

import { hex } from "./canonical.js";
import { $, el, replace, table } from "./dom.js";

const DASH = "\u2014 ";
const NOTE_SIGNATURE = 64; // Ed25519 (type 0x01): the signature after the 4-byte key ID
const COSIGNATURE = 72; // cosignature/v1 (type 0x04): an 8-byte timestamp, then the Ed25519 signature

function bytes(b64) {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// A signed note's text and signature lines (c2sp.org/signed-note); an Error saying why if it is not one.
export function parseCheckpoint(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Error("not a signed note (no blank line before the signatures)");
  const text = note.slice(0, split + 1);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length !== 3) throw new Error(`a checkpoint has three lines, this one ${lines.length}`);
  const [origin, size, root] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error(`the tree size ${JSON.stringify(size)} is not a decimal`);
  const rootBytes = bytes(root);
  if (rootBytes.length !== 32) throw new Error("the root hash is not 32 bytes");
  const signatures = note.slice(split + 2, -1).split("\n").map((line) => {
    if (!line.startsWith(DASH)) throw new Error("a signature line does not start with an em dash");
    const [name, b64] = line.slice(DASH.length).split(" ");
    const raw = bytes(b64);
    const signature = raw.slice(4);
    const timestamp = signature.length === COSIGNATURE ? Number(new DataView(signature.buffer, signature.byteOffset).getBigUint64(0)) : null;
    return { name, keyId: hex(raw.slice(0, 4)), signature, timestamp };
  });
  return { text, origin, size: Number(size), root: hex(rootBytes), rootBase64: root, signatures };
}

// The node's note key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] (signed-note).
async function keyId(name, publicKey) {
  const data = new Uint8Array([...new TextEncoder().encode(name + "\n"), 0x01, ...publicKey]);
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)).slice(0, 4));
}

// Whether the origin's line is the genesis node key's valid signature of the checkpoint text.
async function nodeSignatureHolds(cp, nodeKeyText) {
  if (!nodeKeyText || !nodeKeyText.startsWith("ed25519:")) return "the node key is not an Ed25519 key";
  const publicKey = Uint8Array.from(nodeKeyText.slice(8).match(/../g), (h) => parseInt(h, 16));
  const id = await keyId(cp.origin, publicKey);
  const line = cp.signatures.find((s) => s.name === cp.origin && s.keyId === id);
  if (!line) return "no signature line by the node key";
  if (line.signature.length !== NOTE_SIGNATURE) return "the node's signature line is not an Ed25519 signature";
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, line.signature, new TextEncoder().encode(cp.text)) ? null : "the node's signature does not verify";
  } catch (error) { return `this browser cannot check Ed25519 (${error.message})`; }
}

function utc(seconds) {
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

// Fill #checkpoint from GET /checkpoint; `genesis`: the genesis block as GET /blocks/0 answers it.
export async function showCheckpoint(genesis) {
  const target = $("checkpoint");
  if (!target) return;
  let note;
  try {
    const response = await fetch("/checkpoint");
    if (response.status === 404) {
      replace(target, el("p", { id: "checkpoint-none", class: "muted" }, "No checkpoint has been published yet: the operator runs ",
        el("code", {}, "coopchain chain publish-checkpoint --witness URL …"), " to have witnesses cosign the ledger's head."));
      return;
    }
    if (!response.ok) {
      const detail = await response.json().then((body) => body.detail, () => null);
      throw new Error(`GET /checkpoint: HTTP ${response.status}${detail ? `: ${detail}` : ""}`);
    }
    note = await response.text();
  } catch (error) { replace(target, el("p", { class: "error" }, error.message)); return; }
  let cp;
  try { cp = parseCheckpoint(note); } catch (error) { replace(target, el("p", { class: "error" }, `GET /checkpoint: ${error.message}`)); return; }
  const nodeKey = genesis && genesis.header && genesis.header.config ? genesis.header.config.node : null;
  const broken = await nodeSignatureHolds(cp, nodeKey);
  const witnesses = cp.signatures.filter((s) => s.timestamp !== null);
  const file = `checkpoint-${cp.size}.note`;
  const link = el("a", { id: "checkpoint-link", download: file, href: URL.createObjectURL(new Blob([note], { type: "text/plain" })) }, `Download ${file}`);
  replace(target,
    table(["", ""], [
      ["origin", el("span", { class: "hash", id: "checkpoint-origin" }, cp.origin)],
      ["tree size", el("span", { id: "checkpoint-size" }, `${cp.size} blocks (0 .. ${cp.size - 1})`)],
      ["root", el("span", { class: "hash", id: "checkpoint-root" }, cp.root)],
      ["signed by the node", el("span", { id: "checkpoint-node", class: broken ? "error" : "ok" },
        broken ? `no: ${broken}` : `yes: the genesis node key ${nodeKey} (checked in this browser)`)],
    ]),
    witnesses.length
      ? table(["witness", "key id", "cosigned at"], witnesses.map((w) =>
        el("tr", { class: "witness", "data-name": w.name }, el("td", {}, w.name), el("td", { class: "hash" }, w.keyId), el("td", {}, utc(w.timestamp)))))
      : el("p", { class: "error" }, "No witness has cosigned this checkpoint."),
    el("p", { class: "muted" }, "Cosignatures are checked against the witness keys of your own policy, not here: ", link, " and run ",
      el("code", { id: "checkpoint-command" }, `coopchain chain verify --db URL --checkpoint ${file} --policy policy.txt`),
      " on a copy of the ledger, or keep it: a later bundle or ledger must still hold it."));
}
