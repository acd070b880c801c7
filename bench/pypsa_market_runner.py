#!/usr/bin/env python3
"""The same village market day built and solved in PyPSA (linopy + HiGHS): bench_market.py's anchor.

Runs in bench/.pypsa-venv (PyPSA is not a dependency of coopchain); reads a
coopchain/market/v1 document and prints one JSON line: build and optimise times,
welfare and prices.  The mapping, one bus:

- solar, wind: generators (p_max_pu = availability / p_nom, marginal_cost = offer);
- thermal: a generator with p_min_pu = min / max and ramp limits per unit of p_nom
  (the document must not use initial_output: PyPSA's first snapshot has no previous output);
- consumers: inflexible load as a generator with sign −1 and marginal cost −VoLL (so
  served load is valued at VoLL, as in ours); bid blocks as generators with sign −1
  and time-varying marginal cost −price, one per block position;
- storage: a StorageUnit (p_min_pu = −charge / p_nom, standing loss per hour from ours
  per period; PyPSA loses nothing between state_of_charge_initial and the first snapshot,
  ours loses a period's worth, so PyPSA starts from (1 − loss)·initial), the end state of
  charge ≥ the initial one added as a linopy constraint;
- the disposal at the price floor: a generator with sign −1 and marginal cost −floor.

Welfare = −objective (snapshot weightings = the period length in hours); prices are
PyPSA's marginal_price of the bus (the balance dual divided by the weighting).
"""

import json
import sys
import time

import numpy as np
import pandas as pd
import pypsa


def build(doc: dict) -> tuple[pypsa.Network, dict]:
    """The network, every component kind added in one vectorised ``n.add`` (PyPSA's fast path)."""
    T, dt = doc["periods"], doc["period_minutes"] / 60.0
    n = pypsa.Network()
    n.set_snapshots(pd.RangeIndex(T, name="snapshot"))
    n.snapshot_weightings = n.snapshot_weightings.astype(float)
    n.snapshot_weightings.loc[:, :] = dt  # hours per snapshot: objective, stores and generators
    n.add("Bus", "village")
    names, p_nom, p_min_pu, sign, ramp_up, ramp_down = [], [], [], [], [], []
    p_max_pu, cost = {}, {}  # name -> series over the snapshots
    storage = {k: [] for k in ("name", "p_nom", "p_max_pu", "p_min_pu", "max_hours", "efficiency_store", "efficiency_dispatch",
                               "standing_loss", "state_of_charge_initial")}
    initial = {}

    def generator(name, top, availability, marginal, s=1, low=0.0, up=np.nan, down=np.nan):
        top = top or 1.0
        names.append(name)
        p_nom.append(top)
        p_min_pu.append(low)
        sign.append(s)
        ramp_up.append(up)
        ramp_down.append(down)
        p_max_pu[name] = np.asarray(availability, float) / top
        cost[name] = np.broadcast_to(np.asarray(marginal, float), (T,))

    supply = 0.0
    for p in doc["participants"]:
        kind, pid = p["type"], p["id"]
        if kind in ("solar", "wind"):
            generator(pid, max(p["availability"]), p["availability"], p.get("offer_price", 0.0))
            supply += max(p["availability"])
        elif kind == "thermal":
            top = p["max_output"]
            up = p["ramp_up"] / top if p.get("ramp_up") is not None else np.nan
            down = p["ramp_down"] / top if p.get("ramp_down") is not None else np.nan
            generator(pid, top, np.full(T, top), p["marginal_cost"], low=p["min_output"] / top, up=up, down=down)
            supply += top
        elif kind == "consumer":
            generator(f"{pid}:load", max(p["inflexible_load"]), p["inflexible_load"], -p["value_of_lost_load"], s=-1)
            width = max(len(blocks) for blocks in p["bids"])
            for k in range(width):
                qty = [blocks[k]["quantity"] if k < len(blocks) else 0.0 for blocks in p["bids"]]
                price = [-blocks[k]["price"] if k < len(blocks) else 0.0 for blocks in p["bids"]]
                generator(f"{pid}:block{k}", max(qty), qty, price, s=-1)
        else:
            top = max(p["charge_power"], p["discharge_power"]) or 1.0
            # PyPSA applies no standing loss between state_of_charge_initial and the first
            # snapshot; ours loses it in the first period as in every other: start from what is
            # left of it after one period.
            for key, value in (("name", pid), ("p_nom", top), ("p_max_pu", p["discharge_power"] / top), ("p_min_pu", -p["charge_power"] / top),
                               ("max_hours", p["energy_capacity"] / top), ("efficiency_store", p["charge_efficiency"]),
                               ("efficiency_dispatch", p["discharge_efficiency"]),
                               ("standing_loss", 1.0 - (1.0 - p["standing_loss"]) ** (1.0 / dt)),
                               ("state_of_charge_initial", (1.0 - p["standing_loss"]) * p["initial_soc"])):
                storage[key].append(value)
            initial[pid] = p["initial_soc"]
            supply += p["discharge_power"]
    generator("market:disposal", supply, np.full(T, supply), -doc.get("price_floor", -0.5), s=-1)
    n.add("Generator", names, bus="village", p_nom=p_nom, p_min_pu=p_min_pu, sign=sign,
          ramp_limit_up=ramp_up, ramp_limit_down=ramp_down,
          p_max_pu=pd.DataFrame(p_max_pu, index=n.snapshots), marginal_cost=pd.DataFrame(cost, index=n.snapshots))
    if storage["name"]:
        n.add("StorageUnit", storage.pop("name"), bus="village", cyclic_state_of_charge=False, **storage)
    return n, initial


def main() -> None:
    doc = json.loads(open(sys.argv[1]).read())
    cpu = time.process_time()
    start = time.perf_counter()
    n, initial = build(doc)
    built = time.perf_counter()

    def end_state(n, snapshots):
        soc = n.model.variables["StorageUnit-state_of_charge"]
        last = soc.sel(snapshot=snapshots[-1])
        units = list(initial)
        n.model.add_constraints(last.sel(name=units) >= pd.Series([initial[u] for u in units], index=pd.Index(units, name="name")),
                                name="end_state_of_charge")

    # HiGHS's tolerances as ours (1e-10); at PyPSA's defaults (1e-7) its welfare differs from the
    # exact optimum by about 1e-6 relative on the 200 × 96 day.
    options = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
    status, condition = n.optimize(solver_name="highs", solver_options=options, extra_functionality=end_state)
    done = time.perf_counter()
    prices = n.buses_t.marginal_price["village"].tolist()
    print(json.dumps({"status": f"{status}/{condition}", "build": built - start, "optimize": done - built, "cpu": time.process_time() - cpu,
                      "welfare": -float(n.objective), "prices": prices}))


if __name__ == "__main__":
    main()
