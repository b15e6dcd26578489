"""The equivalence proof: the RBAC authorizer decides like the z3 model, for every request.

z3 cannot read Python, so the implementation is brought into z3 through its own small methods:
each matcher (``verb_matches``, ``resource_matches``, ``subject_matches``,
``binding_covers_namespace``…) is asked about every value of the finite universe, and its answers
become a disjunction ("the verb is one of these"). Roles come from the implementation's
``role_for``, so its aggregation is what gets checked. The shape that glues the answers together
(a rule allows when verb, group, resource and name all match; the policy allows when some
applying binding has such a rule) is the shape of RBAC that both sides share.

Then one query: is there a request in the universe on which the two formulas differ? ``unsat``
is the proof. ``sat`` gives a concrete request, which is run through the real ``authorize`` and
reported with both answers.
"""

from __future__ import annotations

import attrs
import z3

from impl.apiserver.authz.rbac import RBACAuthorizer
from impl.apiserver.authz.types import Decision, PolicyRule, Request, UserInfo
from checks.rbac.solving import plainest_model
from spec.rbac.model import RbacModel, SymbolicRequest
from spec.rbac.universe import Universe, universe_of

__all__ = ["Mismatch", "lift", "prove_equivalent", "concrete_request", "OTHER_USER"]

OTHER_USER = "other-user"
_FALSE = z3.BoolVal(False)


@attrs.frozen
class Mismatch:
    """A request the implementation and the model decide differently."""

    request: Request
    implementation: Decision
    model_allows: bool

    def describe(self) -> str:
        user = self.request.user
        groups = f" in groups {', '.join(user.groups)}" if user.groups else ""
        model = "allows" if self.model_allows else "does not allow"
        return (f"{user.name}{groups}: {self.request.describe()}: implementation says "
                f"{self.implementation.value}, the model {model} it")


def _where(q: SymbolicRequest, field: str, values, test) -> z3.BoolRef:
    """``field`` is one of the universe values for which ``test`` says yes."""
    return z3.Or([getattr(q, field) == i for i, value in enumerate(values) if test(value)] + [_FALSE])


def _lift_rule(semantics, q: SymbolicRequest, rule: PolicyRule) -> z3.BoolRef:
    u = q.universe
    verb = _where(q, "verb", u.verbs, lambda v: semantics.verb_matches(rule, v))
    group = _where(q, "api_group", u.api_groups, lambda g: semantics.api_group_matches(rule, g))
    resource = z3.Or([z3.And(q.resource == i, q.subresource == j)
                      for i, r in enumerate(u.resources) for j, s in enumerate(u.subresources)
                      if semantics.resource_matches(rule, r, s)] + [_FALSE])
    name = _where(q, "name", u.names, lambda n: semantics.resource_name_matches(rule, n))
    url = _where(q, "path", u.paths, lambda p: semantics.non_resource_url_matches(rule, p))
    return z3.And(verb, z3.If(q.resource_request, z3.And(group, resource, name), url))


def _lift_subjects(authorizer: RBACAuthorizer, q: SymbolicRequest, binding) -> z3.BoolRef:
    semantics, u = authorizer.semantics, q.universe
    by_user = [q.user == i for i, name in enumerate(u.users)
               if any(semantics.subject_matches(s, UserInfo(name), binding.namespace) for s in binding.subjects)]
    by_group = [q.member[g] for g in u.groups
                if any(semantics.subject_matches(s, UserInfo(OTHER_USER, (g,)), binding.namespace) for s in binding.subjects)]
    return z3.Or(by_user + by_group + [_FALSE])


def lift(authorizer: RBACAuthorizer, q: SymbolicRequest) -> z3.BoolRef:
    """The implementation's decision on ``q`` as a formula, built from its own answers."""
    semantics = authorizer.semantics
    rules: dict[PolicyRule, z3.BoolRef] = {}
    terms = []
    for binding in authorizer.bindings:
        role = authorizer.role_for(binding)
        if role is None:
            continue
        for rule in role.rules:
            if rule not in rules:
                rules[rule] = _lift_rule(semantics, q, rule)
        scope = _where(q, "namespace", q.universe.namespaces,
                       lambda ns, b=binding: semantics.binding_covers_namespace(b, ns))
        terms.append(z3.And(scope, _lift_subjects(authorizer, q, binding),
                            z3.Or([rules[r] for r in role.rules] + [_FALSE])))
    return z3.Or(terms + [_FALSE])


def concrete_request(model: z3.ModelRef, q: SymbolicRequest) -> Request:
    """Read a request back out of a z3 model."""
    u = q.universe

    def value(field: str, values: tuple[str, ...]) -> str:
        return values[model.eval(getattr(q, field), model_completion=True).as_long()]

    groups = tuple(g for g in u.groups if z3.is_true(model.eval(q.member[g], model_completion=True)))
    user = UserInfo(value("user", u.users), groups)
    if not z3.is_true(model.eval(q.resource_request, model_completion=True)):
        return Request(user=user, verb=value("verb", u.verbs), resource_request=False, path=value("path", u.paths))
    return Request(user=user, verb=value("verb", u.verbs), api_group=value("api_group", u.api_groups),
                   resource=value("resource", u.resources), subresource=value("subresource", u.subresources),
                   name=value("name", u.names), namespace=value("namespace", u.namespaces))


def prove_equivalent(authorizer: RBACAuthorizer, universe: Universe | None = None) -> Mismatch | None:
    """None when z3 proves implementation and model agree on every request of the universe."""
    universe = universe or universe_of(authorizer.policy, extra_users=(OTHER_USER,))
    q = SymbolicRequest.fresh(universe)
    solver = z3.Solver()
    model_allows = RbacModel(authorizer.policy, universe).allows(q)
    solver.add(q.in_universe(), model_allows != lift(authorizer, q))
    if solver.check() != z3.sat:
        return None
    found = plainest_model(solver, q)
    request = concrete_request(found, q)
    return Mismatch(request, authorizer.authorize(request), z3.is_true(found.eval(model_allows, model_completion=True)))
