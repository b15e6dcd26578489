"""diff: which requests one policy allows and the other does not, proved by z3, and every
permission each subject lost or gained.

Both policies are encoded with the model over their joint universe. For each direction one query
asks for a request the new policy allows and the old one does not (then the reverse); ``unsat``
proves there is none, over every request of the universe. Each example names the binding that
grants it, and that binding is then blocked, so the next example shows a different grant: at most
one example per granting binding and ``EXAMPLES_MAX`` per direction.

``permission_changes`` lists the changes in full, per subject as bindings name it (a Group as
itself): every permission (one verb on one resource, name or URL) it held through a binding in a
namespace or cluster-wide that the other policy no longer gives it there, by the coverage rule of
escalation prevention, and the reverse.
"""

from __future__ import annotations

import attrs
import z3

from checks.rbac.equivalence import concrete_request
from checks.rbac.solving import plainest_model
from impl.apiserver.authz.escalation import breakdown, covers
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.authz.types import PolicyRule, Request, Subject
from spec.rbac.model import RbacModel, SymbolicRequest
from spec.rbac.universe import universe_of

__all__ = ["Difference", "DiffResult", "diff_policies", "render_diff", "EXAMPLES_MAX", "Change", "permission_changes",
           "render_changes", "permission_text"]

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


# --- every permission, per subject ----------------------------------------------------------------

@attrs.frozen
class Change:
    """``subject`` lost (or gained) ``permission`` (one atom of a rule) in ``scope`` ("" cluster-wide)."""

    subject: Subject
    scope: str
    permission: PolicyRule


def _bound(policy: Policy) -> dict[Subject, list[tuple[str, tuple[PolicyRule, ...]]]]:
    """Per subject as bound (a bare ServiceAccount in its binding's namespace): (scope, effective rules)."""
    authorizer = RBACAuthorizer(policy)
    held: dict[Subject, list[tuple[str, tuple[PolicyRule, ...]]]] = {}
    for binding in authorizer.bindings:
        role = authorizer.role_for(binding)
        for subject in binding.subjects if role is not None else ():
            if subject.kind == "ServiceAccount" and not subject.namespace:
                subject = attrs.evolve(subject, namespace=binding.namespace)
            held.setdefault(subject, []).append((binding.namespace, role.rules))
    return held


def _in_force(held, scope: str) -> list[PolicyRule]:
    return [rule for where, rules in held for rule in rules if where == "" or where == scope]


def _one_way_changes(had: dict, has: dict) -> list[Change]:
    changes = []
    for subject in sorted(had, key=lambda s: (s.kind, s.namespace, s.name)):
        for scope in sorted({where for where, _ in had[subject]}):
            bound_here = [rule for where, rules in had[subject] if where == scope for rule in rules]
            atoms = list(dict.fromkeys(atom for rule in bound_here for atom in breakdown(rule)))
            missing = covers(_in_force(has.get(subject, []), scope), atoms)
            changes += [Change(subject, scope, atom) for atom in missing]
    return changes


def permission_changes(old: Policy, new: Policy) -> tuple[list[Change], list[Change]]:
    """(lost, gained): every permission a subject held in a scope under one policy and not under the other."""
    before, after = _bound(old), _bound(new)
    return _one_way_changes(before, after), _one_way_changes(after, before)


def permission_text(rule: PolicyRule) -> str:
    """One atom as a reader says it: ``list ingresses.networking.k8s.io named x`` or ``get /healthz``."""
    verb = rule.verbs[0]
    if rule.non_resource_urls:
        return f"{verb} {rule.non_resource_urls[0]}"
    group = rule.api_groups[0]
    what = rule.resources[0] + (f".{group}" if group else "")
    return f"{verb} {what}" + (f" named {rule.resource_names[0]}" if rule.resource_names else "")


def render_changes(lost: list[Change], gained: list[Change], console, limit: int) -> None:
    """Per subject, each lost and gained permission; past ``limit`` lines (0: no limit) a count and
    the flag that shows the rest."""
    rows = sorted([(c, "lost") for c in lost] + [(c, "gained") for c in gained],
                  key=lambda r: (r[0].subject.kind, r[0].subject.namespace, r[0].subject.name, r[1] == "gained"))
    shown = rows if not limit else rows[:limit]
    subject = None
    for change, how in shown:
        if change.subject != subject:
            subject = change.subject
            console.print(f"{subject.describe()}:", markup=False, soft_wrap=True)
        scope = change.scope or "cluster-wide"
        console.print(f"  {how:<6} {scope}: {permission_text(change.permission)}", markup=False, soft_wrap=True)
    if len(rows) > len(shown):
        console.print(f"... and {len(rows) - len(shown)} more changes ({len(lost)} lost, {len(gained)} gained in all); "
                      "--limit 0 shows every one", markup=False, soft_wrap=True)
