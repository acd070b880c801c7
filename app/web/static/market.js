// The village energy market (SPEC §5): the market days, and for a cleared day its charts — the price
// per period, each participant's trades per period, each battery's state of charge — drawn as SVG by
// plot.js, with every value of a period on hover; then the settlement (payments, surplus) and the
// offers as posted.  Figures on the ledger are exact fractions; the charts use their float values.

import { get } from "./api.js";
import { $, el, num, replace, showError, table } from "./dom.js";
import { clock, drawSeries } from "./plot.js";

const enc = encodeURIComponent;
const state = { day: null, clearing: null };

async function showDays() {
  replace("market-error");
  let days;
  try { days = await get("/market/days?limit=100"); } catch (error) { return showError("market-error", error); }
  replace("market-days", days.count === 0 ? el("p", { class: "muted" }, "No market day is open on this ledger (or none of your cooperatives').") :
    table(["market day", "cooperative", "periods", "participants", "offers until block", "cleared in block"], days.data.map((d) =>
      el("tr", { class: "clickable", "data-market": d.market, onclick: () => showDay(d.market) },
        el("td", {}, d.market), el("td", {}, d.cooperative), el("td", {}, `${d.periods} × ${d.period_minutes} min`),
        el("td", { class: "num" }, d.participants), el("td", { class: "num" }, d.gate), el("td", { class: "num" }, d.cleared ?? "not yet"))),
    { numeric: [3, 4, 5] }));
}

function tooltip(event, period, rows) {
  const tip = $("tooltip");
  const m = state.day.period_minutes;
  replace(tip, el("div", {}, el("b", {}, `${clock(period, m)}–${clock(period + 1, m)}`), ` (period ${period})`),
    el("table", {}, rows.map(([name, value, unit]) => el("tr", {}, el("td", {}, name), el("td", { class: "num" }, num(value, 5)), el("td", {}, unit)))));
  tip.hidden = false;
  const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
  const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
  tip.style.left = `${Math.max(4, x)}px`;
  tip.style.top = `${Math.max(4, y)}px`;
}

const hide = () => { $("tooltip").hidden = true; };

function charts(day, c) {
  const plots = replace("market-plots");
  const T = day.periods, minutes = day.period_minutes;
  const priceRows = (t) => [["price", c.prices[t], "per kWh"], ...(c.unique_prices ? [] : [["least", Number(fraction(c.interval[t][0])), "per kWh"], ["greatest", Number(fraction(c.interval[t][1])), "per kWh"]])];
  drawSeries(plots, { id: "prices", title: "Price per period (the uniform clearing price, per kWh)", unit: "price per kWh", periods: T, minutes, kind: "line",
    series: [{ name: "price", values: c.prices }], band: c.unique_prices ? null : c.interval.map(([a, b]) => [fraction(a), fraction(b)]) },
  { onHover: (t, e) => tooltip(e, t, priceRows(t)), onLeave: hide });
  const traders = c.settlements.filter((s) => s.energy.some((v) => v !== 0));
  drawSeries(plots, { id: "trades", title: "Trades per period: energy bought (+) and sold (−) by each participant", unit: "energy, kWh (bought + / sold −)", periods: T, minutes,
    kind: "bars", series: traders.map((s) => ({ name: s.participant, values: s.energy })) },
  { onHover: (t, e) => tooltip(e, t, traders.map((s) => [s.participant, s.energy[t], "kWh"]).concat([["price", c.prices[t], "per kWh"]])), onLeave: hide });
  const batteries = Object.keys(c.state_of_charge);
  if (batteries.length) {
    drawSeries(plots, { id: "soc", title: "State of charge of each battery at the end of each period", unit: "stored energy, kWh", periods: T, minutes, kind: "line",
      series: batteries.map((b) => ({ name: b, values: c.state_of_charge[b] })) },
    { onHover: (t, e) => tooltip(e, t, batteries.map((b) => [b, c.state_of_charge[b][t], "kWh"])), onLeave: hide });
  }
}

// "n/d" or "n" as a number (the exact strings of the API).
function fraction(text) {
  const [n, d] = String(text).split("/");
  return Number(n) / (d === undefined ? 1 : Number(d));
}

export async function showDay(market) {
  replace("market-error");
  let day, offers, clearing = null;
  try {
    [day, offers] = await Promise.all([get(`/market/days/${enc(market)}`), get(`/market/days/${enc(market)}/offers?limit=500`)]);
    if (day.cleared !== null) clearing = await get(`/market/days/${enc(market)}/clearing`);
  } catch (error) { return showError("market-error", error); }
  state.day = day; state.clearing = clearing;
  $("market-day-card").hidden = false;
  replace("market-day-title", `Market day ${day.market}`);
  replace("market-day-terms", table(["", ""], [
    ["cooperative", day.cooperative], ["periods", `${day.periods} of ${day.period_minutes} min`], ["price floor", `${day.price_floor} per kWh`],
    ["opened in block", day.opened], ["offers until block", day.gate],
    ["cleared", clearing ? el("span", {}, `in block ${clearing.height}, transaction `, el("span", { class: "hash", id: "market-clearing-tx" }, clearing.transaction)) : "not yet"],
    ...(clearing ? [["welfare", `${num(clearing.welfare, 8)} (exactly ${clearing.welfare_exact})`],
      ["payments sum to", el("span", { id: "market-budget" }, `${clearing.budget_exact} (budget balance, exact)`)],
      ["prices", clearing.unique_prices ? "unique in every period" : "not unique in some periods: the midpoint of each interval (shaded)"]] : []),
  ]));
  if (clearing) {
    charts(day, clearing);
    replace("market-settlements", el("h3", {}, "Settlement over the day"), table(
      ["participant", "kind", "energy, kWh (net, bought +)", "pays (+) / is paid (−)", "surplus", "individually rational"],
      clearing.settlements.map((s) => el("tr", { "data-participant": s.participant }, el("td", {}, s.participant), el("td", {}, s.kind),
        el("td", { class: "num" }, num(s.energy.reduce((a, b) => a + b, 0), 6)), el("td", { class: "num" }, num(s.total_payment, 6)),
        el("td", { class: "num" }, num(fraction(s.surplus), 6)), el("td", {}, s.may_stay_out ? "guaranteed and checked" : "not guaranteed (recorded)"))),
      { numeric: [2, 3, 4] }));
  } else {
    replace("market-plots", el("p", { class: "muted" }, "Not cleared yet: the charts appear once the clearing is accepted."));
    replace("market-settlements");
  }
  const summary = (o) => Object.entries(o.offer).map(([k, v]) => Array.isArray(v) ? `${k}: ${v.length} periods` : `${k}: ${JSON.stringify(v)}`).join("; ") || "technical data only";
  replace("market-offers", el("h3", {}, `Offers and bids as posted (${offers.count})`), table(["participant", "kind", "posted in block", "the day's series", "owner"],
    offers.data.map((o) => [o.participant, o.kind, o.height, summary(o), el("span", { class: "hash" }, o.owner)]), { numeric: [2] }));
  $("market-day-card").scrollIntoView({ block: "nearest" });
}

export function initMarket() {
  $("market-refresh").addEventListener("click", showDays);
}

export async function openMarket() {
  await showDays();
}
