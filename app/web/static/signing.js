// Transactions signed in the browser with WebCrypto Ed25519 (chain/transaction.py): the
// manager's private key is imported (or generated) here as a non-extractable CryptoKey and
// is never sent anywhere; only the signed transaction leaves the page.

import { canonical, hex } from "./canonical.js";

export const TRANSACTION_TYPE = "coopchain/transaction/v1";
const ED25519 = { name: "Ed25519" };

// What the submitter signs: every field of the transaction but the signature.
export function signingFields(chainId, sender, nonce, kind, payload) {
  return { type: TRANSACTION_TYPE, chain_id: chainId, sender, nonce, kind, payload };
}

function pemBody(pem) {
  const match = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(pem);
  if (!match) throw new Error("not a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----), as `coopchain keys new` writes");
  const binary = atob(match[1].replace(/\s+/g, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

// The public key's text form, "ed25519:<64 hex>", from a key pair's public half.
async function publicText(publicKey) {
  return `ed25519:${hex(await crypto.subtle.exportKey("raw", publicKey))}`;
}

// A signer from a PKCS#8 PEM Ed25519 key (the file the command line uses).  The private key is
// imported extractable only long enough to derive its public half (WebCrypto has no other
// way from PKCS#8), then re-imported non-extractable for signing.
export async function signerFromPem(pem) {
  const der = pemBody(pem);
  let extractable;
  try { extractable = await crypto.subtle.importKey("pkcs8", der, ED25519, true, ["sign"]); } catch {
    throw new Error("not an Ed25519 private key (a P-256 key cannot sign here; use an Ed25519 key)");
  }
  const jwk = await crypto.subtle.exportKey("jwk", extractable);
  const publicKey = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, ED25519, true, ["verify"]);
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ED25519, false, ["sign"]);
  return { privateKey, sender: await publicText(publicKey) };
}

// A new key pair; `pem` is the private key for the manager to save on their own disk (a
// download from the page, not an upload) so the same key can sign again.
export async function generateSigner() {
  const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const base64 = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n").trim();
  const pem = `-----BEGIN PRIVATE KEY-----\n${base64}\n-----END PRIVATE KEY-----\n`;
  return { ...(await signerFromPem(pem)), pem };
}

// The transaction document (transaction_json): the signed fields and the signature in hex.
export async function signTransaction(signer, chainId, nonce, kind, payload) {
  const fields = signingFields(chainId, signer.sender, nonce, kind, payload);
  const signature = await crypto.subtle.sign(ED25519, signer.privateKey, canonical(fields));
  return { ...fields, signature: hex(signature) };
}

// The transaction's hash: SHA-256 of its canonical encoding, signature included.
export async function transactionHash(document) {
  return hex(await crypto.subtle.digest("SHA-256", canonical(document)));
}
