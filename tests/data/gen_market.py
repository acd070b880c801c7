"""Random village market days in the coopchain/market/v1 shape (tests and bench/bench_market.py).

A village of ``participants`` members: about a quarter solar roofs and wind turbines,
a tenth thermal units (some with must-run minimum output and ramp limits), a tenth
batteries, the rest households and workshops bidding in blocks beside inflexible load.
Deterministic for a seed (numpy's default_rng); numbers rounded to a few decimals,
as people write them.
"""

import math

import numpy as np


def generate(participants: int = 20, periods: int = 24, seed: int = 0, period_minutes: int | None = None) -> dict:
    rng = np.random.default_rng(seed)
    minutes = period_minutes or (15 if periods == 96 else 60)
    hours = np.arange(periods) * minutes / 60.0
    sun = np.clip(np.sin((hours - 6.0) / 12.0 * math.pi), 0.0, None)
    out = []
    counts = {
        "solar": max(1, participants * 15 // 100), "wind": max(1, participants * 10 // 100),
        "thermal": max(1, participants * 10 // 100), "storage": max(1, participants * 10 // 100),
    }
    counts["consumer"] = max(1, participants - sum(counts.values()))
    for i in range(counts["solar"]):
        peak = rng.uniform(3, 30)
        out.append({"id": f"solar-{i}", "type": "solar", "availability": [round(float(peak * s * rng.uniform(0.7, 1.0)), 3) for s in sun],
                    "offer_price": round(float(rng.uniform(0, 0.02)), 4)})
    for i in range(counts["wind"]):
        peak = rng.uniform(10, 60)
        level = np.clip(0.5 + np.cumsum(rng.normal(0, 0.08, periods)), 0, 1)
        out.append({"id": f"wind-{i}", "type": "wind", "availability": [round(float(peak * v), 3) for v in level],
                    "offer_price": round(float(rng.uniform(-0.03, 0.01)), 4)})
    for i in range(counts["thermal"]):
        top = rng.uniform(20, 120)
        unit = {"id": f"thermal-{i}", "type": "thermal", "marginal_cost": round(float(rng.uniform(0.15, 0.45)), 4),
                "min_output": round(float(top * rng.choice([0.0, 0.2, 0.3])), 2), "max_output": round(float(top), 2)}
        if rng.random() < 0.6:
            unit["ramp_up"] = unit["ramp_down"] = round(float(top * rng.uniform(0.1, 0.4)), 2)
            unit["initial_output"] = unit["min_output"]
        out.append(unit)
    for i in range(counts["storage"]):
        cap = rng.uniform(10, 100)
        out.append({"id": f"battery-{i}", "type": "storage", "energy_capacity": round(float(cap), 2),
                    "charge_power": round(float(cap * rng.uniform(0.2, 0.5)), 2), "discharge_power": round(float(cap * rng.uniform(0.2, 0.5)), 2),
                    "charge_efficiency": round(float(rng.uniform(0.88, 0.97)), 3), "discharge_efficiency": round(float(rng.uniform(0.88, 0.97)), 3),
                    "standing_loss": round(float(rng.choice([0.0, 0.0005, 0.001])), 4), "initial_soc": round(float(cap * rng.uniform(0.1, 0.5)), 2)})
    for i in range(counts["consumer"]):
        size = rng.uniform(1, 15)
        shape = 0.6 + 0.4 * np.clip(np.sin((hours - 7.0) / 14.0 * math.pi), 0, None)
        bids = []
        for t in range(periods):
            blocks = rng.integers(1, 4)
            bids.append([{"price": round(float(rng.uniform(0.05, 0.8)), 3), "quantity": round(float(size * rng.uniform(0.1, 0.5)), 2)}
                         for _ in range(blocks)])
        out.append({"id": f"consumer-{i}", "type": "consumer", "kind": "factory" if i % 7 == 0 else "household", "bids": bids,
                    "inflexible_load": [round(float(size * s * rng.uniform(0.3, 0.6)), 2) for s in shape],
                    "value_of_lost_load": round(float(rng.uniform(2, 8)), 2)})
    order = rng.permutation(len(out))
    return {"schema": "coopchain/market/v1", "market": f"village-{seed}", "periods": periods, "period_minutes": minutes,
            "price_floor": -0.5, "participants": [out[k] for k in order]}
