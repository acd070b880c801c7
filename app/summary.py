"""Readable summaries of `coopchain solve` and `coopchain front` for a terminal.

Presentation only: every number comes from the Solution or Front the command
already has; the JSON (`--json`, or any pipe) stays the contract for programs.
Volumes are in the problem document's own unit of volume (the unit its min, max
and per-unit figures use), so the tables say "units of volume" rather than guess.
"""

from __future__ import annotations

OBJECTIVE_WORDS = {
    "F1": "max F1, economic benefit",
    "F2": "max F2, coordination",
    "F3": "min F3, ecological footprint",
    "scalarised": "a scalarisation of F1, F2 and F3",
}
SENSE = {"F1": "higher is better", "F2": "higher is better", "F3": "lower is better", "T": "higher is better"}


def values_lines(values, indent: str = "  ") -> list[str]:
    """F1, F2 (with C, T and the class of D) and F3, each with its unit and what it measures."""
    return [
        f"{indent}F1 economic benefit      {values.F1:>14,.2f}  benefit units (Σ a_k·e_jk·W_j), higher is better",
        f"{indent}F2 coordination D        {values.F2:>14.6f}  in [0, 1]: {values.coordination_class}",
        f"{indent}   C (evenness)          {values.C:>14.6f}  1 when every enterprise is equally developed",
        f"{indent}   T (development)       {values.T:>14.6f}  Σ α_j·U_j, the weighted average development level",
        f"{indent}F3 ecological footprint  {values.F3:>14.6f}  weighted share of the cooperative's caps used, lower is better",
    ]


def _names(problem) -> dict[str, str]:
    return {e.id: e.name or "" for e in problem.enterprises}


ROWS_SHOWN = 40  # a terminal table of a large cooperative shows this many enterprises; the JSON has all


def _allocation_table(problem, ids, allocation) -> list[str]:
    names = _names(problem)
    shown = ids if len(ids) <= ROWS_SHOWN else ids[:ROWS_SHOWN]
    bounds = {e.id: (e.min, e.max) for e in problem.enterprises}
    width = max(10, *(len(i) for i in shown))
    name_width = min(32, max(4, *(len(names[i]) for i in shown)))
    head = f"  {'id':<{width}}  {'name':<{name_width}}  {'volume':>12}  {'allowed':>17}"
    lines = [head, "  " + "-" * (len(head) - 2)]
    for eid, w in zip(shown, allocation):
        lo, hi = bounds[eid]
        name = names[eid] if len(names[eid]) <= name_width else names[eid][: name_width - 1] + "…"
        lines.append(f"  {eid:<{width}}  {name:<{name_width}}  {float(w):>12,.3f}  {f'{lo:,.6g} to {hi:,.6g}':>17}")
    if len(ids) > len(shown):
        lines.append(f"  … and {len(ids) - len(shown):,} more enterprises (every one in --json or --output)")
    d = problem.demand
    total = float(sum(float(w) for w in allocation))
    lines.append(f"  {'total':<{width}}  {'':<{name_width}}  {total:>12,.3f}  {f'{d.min:,.6g} to {d.max:,.6g}':>17}  (demand window)")
    return lines


def _gap_sentence(objective: str, bound: float, gap: float) -> str:
    """What the certified bound and the relative gap mean for this allocation."""
    if objective in ("F1", "F2", "F3"):
        better = "lower" if objective == "F3" else "higher"
        return (f"Bound {bound:,.10g}: the certificate proves that no allocation reaches a {better} {objective}, "
                f"so this one is within {abs(gap * bound):.3g} of the best possible (relative gap {gap:.1e}; "
                f"below 1e-7 counts as optimal).")
    return (f"Bound {bound:.10g} of the scalarised objective: the certificate proves this allocation is within "
            f"a relative gap of {gap:.1e} of the best for that scalarisation (below 1e-7 counts as optimal).")


def solution_summary(problem, solution, problem_hash: str | None) -> str:
    """A solve's result in words and tables: what was optimised, the allocation, the values, the gap."""
    objective = solution.objective
    out = [f"{problem.cooperative}, round {problem.round}: {OBJECTIVE_WORDS.get(objective, objective)} — {solution.status}", solution.message]
    if solution.status == "infeasible":
        out += ["", "The data admit no allocation. The constraints in conflict:"]
        out += [f"  {c.constraint}: {c.sentence}" for c in solution.conflicts]
        return "\n".join(out)
    if solution.allocation is None:
        return "\n".join(out)
    out += ["", "Allocation (volume per enterprise, in the problem's unit of volume):"]
    out += _allocation_table(problem, solution.ids, solution.allocation)
    out += ["", "Values:"] + values_lines(solution.values)
    if solution.bound is not None and solution.gap is not None:
        out += ["", _gap_sentence(objective, solution.bound, solution.gap)]
    if solution.shadow_prices:
        prices = solution.shadow_prices
        out += ["", "Shadow prices of the binding caps:"]
        out += [f"  {p.sentence}" for p in prices[:ROWS_SHOWN]]
        if len(prices) > ROWS_SHOWN:
            out.append(f"  … and {len(prices) - ROWS_SHOWN:,} more (every one in --json)")
    if problem_hash:
        out += ["", f"Problem {problem_hash} (the SHA-256 of its canonical form; the certificate names it)."]
    out.append("For the JSON with the certificate: add --json, or --output FILE; `coopchain verify FILE` checks it offline.")
    return "\n".join(out)


def front_summary(problem, front, picks, hypervolume: dict) -> str:
    """A front in words: how many points, each objective's range, the hypervolume, the picks."""
    objectives = front.objectives
    kind = "efficient allocations (exact front)" if front.method == "augmecon" else "nondominated allocations (evolutionary: not proven efficient)"
    out = [f"{problem.cooperative}, round {problem.round}: {len(front.points)} {kind}, {front.method}, {front.seconds:.2f} s"]
    if front.message:
        out.append(front.message)
    matrix = front.matrix()
    out += ["", "Range on the front:"]
    units = {"F1": "(benefit units)", "F2": "(D, in [0, 1])", "F3": "(share of caps)", "T": "(Σ α_j·U_j)"}
    for k, name in enumerate(objectives):
        column = matrix[:, k]
        out.append(f"  {name} {units.get(name, ''):<16} {column.min():>14,.6g} to {column.max():<14,.6g} {SENSE.get(name, '')}")
    reference = hypervolume.get("reference")
    if reference is not None:
        out.append(f"Hypervolume {hypervolume['value']:.6g} (the volume the front dominates, up to the reference point "
                   + ", ".join(f"{n} = {r:.6g}" for n, r in zip(objectives, reference)) + "; larger is a better front).")
    if picks:
        out += ["", "Compromise picks (index into the points of --json):"]
        for pick in picks:
            v = pick.values
            out.append(f"  {pick.name} (point {pick.index}): F1 = {v.F1:,.2f}, F2 = {v.F2:.4f} ({v.coordination_class}), F3 = {v.F3:.4f}")
            out.append(f"    {pick.sentence}")
        best = picks[0]
        out += ["", f"Allocation of the {best.name} pick (volume per enterprise):"]
        out += _allocation_table(problem, front.ids, front.points[best.index].allocation)
    if front.reported:
        out += ["", "What happened to the grid points that gave no new point:"] + [f"  {r}" for r in front.reported[:10]]
        if len(front.reported) > 10:
            out.append(f"  … and {len(front.reported) - 10} more (all in --json)")
    out.append("")
    out.append("Every point with its allocation: add --json, or --output FILE.")
    return "\n".join(out)
