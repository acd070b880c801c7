// The uploaded enterprise table as a spreadsheet, each validation error beside its row.
// The server validates; this module only parses the file for display and places the
// API's error paths (docs/api.md): "enterprises[3] (CSV row 5).benefit.profit" names the
// enterprise, its CSV row (the header is row 1) and the column.

import { el } from "./dom.js";

// RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF.
export function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows.filter((r) => !(r.length === 1 && r[0] === ""));
}

// A problem document's enterprises as the same dotted columns a CSV upload uses.
export function enterpriseSheet(document) {
  const enterprises = Array.isArray(document && document.enterprises) ? document.enterprises : [];
  const columns = [];
  const add = (name) => { if (!columns.includes(name)) columns.push(name); };
  const flat = enterprises.map((e) => {
    const out = {};
    if (e && typeof e === "object") {
      for (const [key, value] of Object.entries(e)) {
        if (value && typeof value === "object" && !Array.isArray(value)) {
          for (const [inner, v] of Object.entries(value)) { add(`${key}.${inner}`); out[`${key}.${inner}`] = v; }
        } else { add(key); out[key] = value; }
      }
    }
    return out;
  });
  // The CSV's column order (docs/problem.md), not the canonical document's alphabetical one.
  const first = ["id", "name", "min", "max", "u0", "g", "alpha", "reservation"];
  const group = (c) => { const i = first.indexOf(c); return i >= 0 ? i : 10 + ["benefit", "use", "cap"].indexOf(c.split(".")[0]); };
  columns.sort((a, b) => group(a) - group(b));
  return { header: columns, rows: flat.map((r) => columns.map((c) => (c in r ? String(r[c]) : ""))), csvRows: null };
}

export function csvSheet(text) {
  const [header = [], ...rows] = parseCsv(text);
  return { header, rows, csvRows: rows.map((_, i) => i + 2) };
}

const PATH = /^enterprises\[(\d+)\](?: \(CSV row (\d+)\))?(?:\.(.+))?$/;

// Split errors into those of a row (by enterprise index) and the rest.
export function placeErrors(errors) {
  const byRow = new Map(), general = [];
  for (const e of errors) {
    const m = PATH.exec(e.path || "");
    if (!m) { general.push(e); continue; }
    const index = Number(m[1]);
    byRow.set(index, [...(byRow.get(index) || []), { column: m[3] || null, csvRow: m[2] ? Number(m[2]) : null, detail: e.detail, path: e.path }]);
  }
  return { byRow, general };
}

export function renderSheet(sheet, errors = []) {
  const { byRow } = placeErrors(errors);
  const head = el("tr", {}, el("th", {}, "row"), errors.length ? el("th", {}, "problem") : null, sheet.header.map((h) => el("th", {}, h)));
  const body = sheet.rows.map((cells, i) => {
    const rowErrors = byRow.get(i) || [];
    const badColumns = new Set(rowErrors.map((e) => e.column && e.column.split(".").slice(0, 2).join(".")));
    const label = sheet.csvRows ? `CSV row ${sheet.csvRows[i]}` : `enterprises[${i}]`;
    return el("tr", { class: rowErrors.length ? "bad" : null, "data-enterprise": i },
      el("th", { class: "nowrap" }, label),
      errors.length ? el("td", { class: "row-error" }, rowErrors.map((e) => el("div", {}, el("b", {}, e.column || "row"), ": ", e.detail))) : null,
      cells.map((c, k) => el("td", { class: badColumns.has(sheet.header[k]) ? "bad-cell" : null }, c)));
  });
  return el("table", { class: "sheet" }, el("thead", {}, head), el("tbody", {}, body));
}
