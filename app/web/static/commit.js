// An allocation commit's transactions, built in the browser exactly as `coopchain commit` builds
// them (service/commit.py; docs/contracts.md): a front's point is certified as max F2 with F1
// and F3 no worse than the point's, then allocation.register_problem (when the ledger lacks the
// problem) and allocation.commit_allocation carry the problem text and the certificate.

import { hex } from "./canonical.js";

// A double as Python's repr writes it (the shortest text that reads back as the same double):
// the contract reads volumes as decimal strings, and the command line writes them this way.
export function pyFloat(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) throw new Error(`${x} is not a finite number`);
  if (Object.is(x, -0)) return "-0.0";
  const [mantissa, e] = x.toExponential().split("e"); // shortest round-trip digits, as repr's
  const exp = Number(e);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
    const whole = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
    return `${sign}${whole}.${digits.slice(exp + 1) || "0"}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${head}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}

// The problem's identity: SHA-256 of its canonical text (models/certificate.py problem_hash).
export async function problemHash(text) {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

// What to ask the API for a certificate of a front's point: max F2 with F1 and F3 no worse than
// the point's, a hair of slack for the rounding of its values (as service.commit.from_front).
export function certifyRequest(values) {
  return { method: "epsilon", objective: "F2", limits: { F1: values.F1 - 1e-7 * Math.abs(values.F1), F3: values.F3 + 1e-7 * Math.abs(values.F3) } };
}

// The canonical problem a solution is for: beside its certificate (certificate v2, which names it by
// hash), or inside it (v1) (service.commit.problem_text).
export function problemText(solution) {
  if (solution && typeof solution.problem_text === "string") return solution.problem_text;
  const cert = solution && solution.certificate;
  return cert && typeof cert.problem === "string" ? cert.problem : null;
}

// allocation.commit_allocation's arguments from a certified solution (service.commit.commit_arguments).
export async function commitArguments(solution, chosenBy, { supersedes = null, reason = null } = {}) {
  const cert = solution && solution.certificate;
  const text = problemText(solution);
  if (!cert || typeof text !== "string") throw new Error("the solution carries no certificate with its problem");
  if (solution.status !== "optimal") throw new Error(`the solution's status is ${solution.status}; only a certified optimum can be committed`);
  const doc = JSON.parse(text);
  // The output's {id: volume} (a v2 certificate holds the same volumes as one array, in the problem's order).
  const allocation = solution.allocation && !Array.isArray(solution.allocation) ? solution.allocation : cert.allocation;
  return {
    cooperative: doc.cooperative ?? null,
    round: doc.round ?? null,
    problem: await problemHash(text),
    allocation: Object.fromEntries(Object.entries(allocation).map(([id, w]) => [id, pyFloat(Number(w))])),
    certificate: JSON.stringify(cert), // the contract reads it strictly (numbers, no NaN); its layout is free
    chosen_by: chosenBy,
    supersedes,
    reason,
    endorsements: [],
  };
}
