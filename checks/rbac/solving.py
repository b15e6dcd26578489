"""Small helpers around z3: readable, reproducible counterexamples.

z3 returns *some* satisfying request, and which one can depend on what the process asked z3
before. A reader wants the plainest one, and a report must be the same bytes every run. So
``plainest_model`` keeps adding preferences (no extra groups, no subresource, no name, a common
verb…) as long as the query stays satisfiable, then pins every remaining field to its smallest
possible value by binary search. Each step depends only on sat/unsat answers, so the request it
returns is a function of the query alone.
"""

from __future__ import annotations

import z3

from spec.rbac.model import SymbolicRequest

__all__ = ["plainest_model", "PREFERRED_VERBS"]

PREFERRED_VERBS = ("get", "list", "create")
FIELDS = ("user", "verb", "api_group", "resource", "subresource", "name", "namespace", "path")


def _smallest(solver: z3.Solver, kept: list[z3.BoolRef], variable: z3.ArithRef, size: int) -> int:
    """The least value of ``variable`` in [0, size) that keeps ``kept`` satisfiable."""
    low, high = 0, size - 1
    while low < high:
        middle = (low + high) // 2
        if solver.check(*kept, variable <= middle) == z3.sat:
            high = middle
        else:
            low = middle + 1
    return low


def _preferences(q: SymbolicRequest) -> list[z3.BoolRef]:
    u = q.universe
    # All groups off at once first (one call instead of one per group, when it works).
    no_groups = [z3.Not(q.member[g]) for g in u.groups]
    wanted = [z3.And(no_groups + [z3.BoolVal(True)])] + no_groups
    wanted += [q.equals(field, "") for field in ("subresource", "name", "api_group") if "" in getattr(u, field + "s")]
    wanted += [q.equals("verb", v) for v in PREFERRED_VERBS if v in u.verbs]
    wanted += [q.resource_request]
    return wanted


def plainest_model(solver: z3.Solver, q: SymbolicRequest) -> z3.ModelRef:
    """The model of ``solver`` (which must be satisfiable) under as many preferences as fit."""
    kept: list[z3.BoolRef] = []
    for preference in _preferences(q):
        if solver.check(*kept, preference) == z3.sat:
            kept.append(preference)
    for field in FIELDS:
        kept.append(getattr(q, field) == _smallest(solver, kept, getattr(q, field), len(getattr(q.universe, field + "s"))))
    verdict = solver.check(*kept)
    assert verdict == z3.sat, "the query was satisfiable without preferences"
    return solver.model()
