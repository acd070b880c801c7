// Log in with an API key, then the manager's or the auditor's view.  The key is checked
// against a route every role may read; the views show the API's own refusal (403) when a
// key's role may not do what is asked.

import { forgetKey, get, health, saveKey, savedKey } from "./api.js";
import { $, replace, showError } from "./dom.js";
import { initAuditor, openAuditor } from "./auditor.js";
import { initManager } from "./manager.js";
import { initHistory, openHistory } from "./history.js";
import { initMarket, openMarket } from "./market.js";

const VIEWS = ["manager", "auditor", "history", "market"];

function show(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
  for (const tab of document.querySelectorAll(".tab")) tab.toggleAttribute("aria-current", tab.dataset.view === view);
  if (view === "auditor") openAuditor();
  if (view === "history") openHistory();
  if (view === "market") openMarket();
  location.hash = view;
}

async function enter() {
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  const asked = location.hash.slice(1);
  show(VIEWS.includes(asked) ? asked : "manager");
}

async function login(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  replace("login-error");
  try {
    await get("/blocks/head", { key });
  } catch (error) {
    return showError("login-error", error.status === 401 ? new Error("This key is not known here (or was revoked).") : error);
  }
  saveKey(key);
  $("key").value = "";
  await enter();
}

function logout() {
  forgetKey();
  location.hash = "";
  location.reload();
}

async function start() {
  try {
    const h = await health();
    replace("chain", `${h.chain_id} · head ${h.height}`);
  } catch (error) { replace("chain", `server: ${error.message}`); }
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.view));
  initManager();
  initAuditor();
  initHistory();
  initMarket();
  if (savedKey()) {
    try { await get("/blocks/head"); await enter(); return; } catch { forgetKey(); }
  }
  $("login").hidden = false;
}

start();
