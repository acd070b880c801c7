// The ledger's canonical encoding (chain/encoding.py; docs/ledger.md): RFC 8785 over a small
// value set — objects with ASCII keys, arrays, strings, booleans, null and integers within
// ±(2^53 − 1).  What a manager signs must be these exact bytes, or the server's signature
// check fails; tests/web checks them against the Python encoder's bytes.
//
// Over that set RFC 8785 is JSON.stringify with keys sorted by UTF-16 code units (the default
// string sort; ASCII keys sort the same by code point) and no whitespace: JSON.stringify
// escapes exactly '"', '\\' and control characters, as Python's json.dumps(ensure_ascii=False)
// does.  Anything outside the set is refused with its path, as the server would refuse it.

export const MAX_DEPTH = 64;

export class EncodingError extends Error {
  constructor(message) { super(message); this.name = "EncodingError"; }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function text(value, path, depth) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new EncodingError(`${path}: the string holds a lone surrogate, which has no UTF-8 form`);
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    // A JavaScript number cannot say whether it was written 1 or 1.0: only safe integers pass,
    // so a float the server would refuse is refused here too (use a decimal string).
    if (!Number.isSafeInteger(value)) throw new EncodingError(`${path}: ${value} is not an integer within ±(2^53 − 1); write it as a decimal string`);
    return String(value === 0 ? 0 : value); // -0 prints as 0, as Python's int does
  }
  if (typeof value !== "object") throw new EncodingError(`${path}: ${typeof value} has no canonical encoding`);
  if (depth >= MAX_DEPTH) throw new EncodingError(`${path}: arrays and objects nest deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((item, i) => text(item, `${path}[${i}]`, depth + 1)).join(",")}]`;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new EncodingError(`${path}: ${proto.constructor.name} has no canonical encoding`);
  const keys = Object.keys(value);
  for (const key of keys) {
    if (!/^[\x00-\x7f]*$/.test(key)) throw new EncodingError(`${path}: object keys must be ASCII strings, got ${JSON.stringify(key)}`);
  }
  keys.sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${text(value[key], `${path}.${key}`, depth + 1)}`).join(",")}}`;
}

// The canonical text of `value` (throws EncodingError naming the field).
export function canonicalText(value) { return text(value, "$", 0); }

// The canonical bytes (UTF-8) of `value`.
export function canonical(value) { return new TextEncoder().encode(canonicalText(value)); }

export function hex(bytes) { return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join(""); }
