"""diff: which requests one policy allows and the other does not, proved by z3.

Both policies are encoded with the model over their joint universe. For each direction one query
asks for a request the new policy allows and the old one does not (then the reverse); ``unsat``
proves there is none, over every request of the universe. Each example names the binding that
grants it, and that binding is then blocked, so the next example shows a different grant: at most
one example per granting binding and ``EXAMPLES_MAX`` per direction.
"""

from __future__ import annotations

import attrs
import z3

from checks.rbac.equivalence import concrete_request
from checks.rbac.solving import plainest_model
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.authz.types import Request
from spec.rbac.model import RbacModel, SymbolicRequest
from spec.rbac.universe import universe_of

__all__ = ["Difference", "DiffResult", "diff_policies", "render_diff", "EXAMPLES_MAX"]

EXAMPLES_MAX = 5


@attrs.frozen
class Difference:
    request: Request
    granted_by: str  # the binding and rule of the policy that allows it


@attrs.frozen
class DiffResult:
    added: tuple[Difference, ...]    # allowed by the new policy only
    removed: tuple[Difference, ...]  # allowed by the old policy only
    universe_size: int

    @property
    def same(self) -> bool:
        return not self.added and not self.removed


def _granting_binding(authorizer: RBACAuthorizer, request: Request):
    for grant in authorizer.grants(request):
        return grant
    raise AssertionError(f"the model allows {request.describe()} but the implementation does not")


def _one_way(allows: z3.BoolRef, refuses: z3.BoolRef, q: SymbolicRequest, granting: RBACAuthorizer,
             terms: dict, examples_max: int) -> tuple[Difference, ...]:
    solver = z3.Solver()
    solver.add(q.in_universe(), allows, z3.Not(refuses))
    found = []
    while len(found) < examples_max and solver.check() == z3.sat:
        request = concrete_request(plainest_model(solver, q), q)
        grant = _granting_binding(granting, request)
        found.append(Difference(request, f"{grant.binding.describe()}, rule #{grant.index}"))
        solver.add(z3.Not(terms[grant.binding]))
    return tuple(found)


def diff_policies(old: Policy, new: Policy, examples_max: int = EXAMPLES_MAX) -> DiffResult:
    universe = universe_of(old, new)
    q = SymbolicRequest.fresh(universe)
    old_model, new_model = RbacModel(old, universe), RbacModel(new, universe)
    old_terms, new_terms = dict(old_model.binding_grants(q)), dict(new_model.binding_grants(q))
    old_allows = z3.Or(list(old_terms.values()) + [z3.BoolVal(False)])
    new_allows = z3.Or(list(new_terms.values()) + [z3.BoolVal(False)])
    added = _one_way(new_allows, old_allows, q, RBACAuthorizer(new), new_terms, examples_max)
    removed = _one_way(old_allows, new_allows, q, RBACAuthorizer(old), old_terms, examples_max)
    return DiffResult(added, removed, universe.size())


def _who(request: Request) -> str:
    groups = f" (groups {', '.join(request.user.groups)})" if request.user.groups else ""
    return f"{request.user.name}{groups}"


def render_diff(result: DiffResult, console) -> None:
    for title, found in (("allowed by the new policy, not by the old", result.added),
                         ("allowed by the old policy, not by the new", result.removed)):
        console.print(f"{title}:")
        if not found:
            console.print(f"  nothing: z3 proved it over all {result.universe_size:,} requests of the joint universe")
        for difference in found:
            console.print(f"  {_who(difference.request)}: {difference.request.describe()}"
                          f"  [granted by {difference.granted_by}]", soft_wrap=True, markup=False)
