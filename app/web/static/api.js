// The HTTP API as the page uses it: the API key in the X-API-Key header, problem+json
// errors (RFC 9457) turned into ApiProblem, and server-sent events read through fetch
// (EventSource cannot send a header).

const KEY = "coopchain.key";

export class ApiProblem extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.type = body && body.type;
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
  }
}

export function savedKey() { return sessionStorage.getItem(KEY); }
export function saveKey(key) { sessionStorage.setItem(KEY, key); }
export function forgetKey() { sessionStorage.removeItem(KEY); }

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: the status says enough */ }
  return new ApiProblem(response.status, body);
}

export async function request(method, path, { json, body, key } = {}) {
  const headers = { "X-API-Key": key || savedKey() || "" };
  if (json !== undefined) { headers["content-type"] = "application/json"; body = JSON.stringify(json); }
  const response = await fetch(path, { method, headers, body });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, json) => request("POST", path, { json });

export async function health() {
  const response = await fetch("/health");
  if (!response.ok) throw await failure(response);
  return response.json();
}

// Follow a job's text/event-stream; onEvent(name, data) for each event; resolves at the stream's end.
export async function follow(path, onEvent, signal) {
  const response = await fetch(path, { headers: { "X-API-Key": savedKey() || "", accept: "text/event-stream" }, signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

// POST a JSON body; the answer's exact text (to save byte for byte) and its parsed JSON.
export async function postRaw(path, json) {
  const response = await fetch(path, { method: "POST", headers: { "X-API-Key": savedKey() || "", "content-type": "application/json" }, body: JSON.stringify(json) });
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return { text, json: JSON.parse(text) };
}

// A blob of JSON fetched with the key, as a download link's URL.
export async function download(path) {
  const response = await fetch(path, { headers: { "X-API-Key": savedKey() || "" } });
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return { text, url: URL.createObjectURL(new Blob([text], { type: "application/json" })) };
}
