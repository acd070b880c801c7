# A copy of ../shared/tools/gen_problem.py, so that tests and benchmarks run where shared/ is absent;
# tests/test_shared_copies.py fails if the two drift apart.
#!/usr/bin/env python3
"""Random allocation problems in the coopchain/problem/v1 shape (SPEC section 6).

Usage: gen_problem.py [--n 1000] [--k 3] [--r 3] [--seed 0] [--alpha uniform|general] > problem.json
Feasible by construction: U_j stays in (0, 1], W_j = 0 meets every cap, and the
demand window lies below the sum of the upper bounds. Needs numpy.
"""
import argparse
import json

import numpy as np


def generate(n=1000, k=3, r=3, seed=0, alpha="uniform"):
    rng = np.random.default_rng(seed)
    hi = rng.uniform(50, 300, n)
    e = rng.uniform(5, 120, (n, k))
    a = rng.dirichlet(np.ones(k))
    rho = rng.uniform(0.5, 5.0, (n, r))
    capj = rho * hi[:, None] * rng.uniform(0.6, 1.0, (n, r))
    cap0 = (rho * hi[:, None]).sum(0) * 0.45
    u0 = rng.uniform(0.05, 0.3, n)
    g = rng.uniform(0.4, 0.7, n) / hi
    al = np.full(n, 1.0 / n) if alpha == "uniform" else rng.dirichlet(np.ones(n))
    ind = [f"k{i}" for i in range(k)]
    res = [f"r{i}" for i in range(r)]
    return {
        "schema": "coopchain/problem/v1",
        "cooperative": f"synthetic-{seed}",
        "round": f"n{n}-k{k}-r{r}-{alpha}",
        "indicators": {ind[i]: float(a[i]) for i in range(k)},
        "resources": {res[i]: {"cap": float(cap0[i]), "weight": 1.0 / r} for i in range(r)},
        "demand": {"min": float(0.35 * hi.sum()), "max": float(0.6 * hi.sum())},
        "enterprises": [
            {
                "id": f"e{j:06d}",
                "min": 0.0,
                "max": float(hi[j]),
                "benefit": {ind[i]: float(e[j, i]) for i in range(k)},
                "use": {res[i]: float(rho[j, i]) for i in range(r)},
                "cap": {res[i]: float(capj[j, i]) for i in range(r)},
                "u0": float(u0[j]),
                "g": float(g[j]),
                "alpha": float(al[j]),
            }
            for j in range(n)
        ],
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--r", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alpha", choices=["uniform", "general"], default="uniform")
    x = ap.parse_args()
    print(json.dumps(generate(x.n, x.k, x.r, x.seed, x.alpha)))
