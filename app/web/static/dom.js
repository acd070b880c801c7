// Small DOM helpers: elements from tags, attributes and children; text only, never innerHTML
// (every string shown comes from an upload or the ledger).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

export function replace(target, ...children) {
  const node = typeof target === "string" ? $(target) : target;
  node.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

// Numbers as people read them: up to `digits` significant digits, thousands grouped.
export function num(x, digits = 6) {
  if (typeof x !== "number" || !Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) >= 1e9 || Math.abs(x) < 1e-4)) return x.toExponential(3);
  return x.toLocaleString("en-GB", { maximumSignificantDigits: digits });
}

export function table(headers, rows, { numeric = [] } = {}) {
  return el("table", {},
    headers.some((h) => h) ? el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : null }, h)))) : null,
    el("tbody", {}, rows.map((row) => row instanceof Node ? row
      : el("tr", {}, row.map((cell, i) => el("td", { class: numeric.includes(i) ? "num" : null }, cell))))));
}

export function showError(target, error) {
  replace(target, error && error.message ? error.message : String(error));
}
