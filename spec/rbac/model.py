"""RBAC semantics in z3: when does a policy allow a request?

A request is a handful of symbolic fields over a finite ``Universe`` (each field an integer
index into the universe's tuple of values for it) and one boolean per group: "is the user a
member?". The model states Kubernetes RBAC (the RBAC documentation, "Role and ClusterRole",
"RoleBinding and ClusterRoleBinding", "Referring to resources", "Aggregated ClusterRoles") as
formulas, one small function per sentence:

- a *rule* allows a resource request when it names the verb, the API group, the resource (as
  ``resource``, ``resource/subresource``, ``*/subresource`` or ``*``) and, if it lists
  resourceNames, the object's name; it allows a URL request when it names the verb and the URL
  (exactly, by ``*``, or by a ``prefix*``);
- a *binding* applies when one of its subjects is the user (a user name, a group the user is in,
  or a service account's user name) and, for a RoleBinding, the request is in its namespace;
- an *aggregated* ClusterRole allows what any ClusterRole its selectors match allows, transitively;
- a policy allows a request when some applying binding refers to a role that allows it.

Policies are read by shape (see ``spec.rbac.universe``); spec/ imports nothing from impl/.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import z3

from spec.rbac.universe import Universe, service_account_user

__all__ = ["SymbolicRequest", "RbacModel", "selector_matches"]

ALL = "*"


@attrs.frozen
class SymbolicRequest:
    """One symbolic request: each field an index into the universe; ``member[g]`` per group."""

    universe: Universe
    resource_request: z3.BoolRef
    verb: z3.ArithRef
    api_group: z3.ArithRef
    resource: z3.ArithRef
    subresource: z3.ArithRef
    name: z3.ArithRef
    namespace: z3.ArithRef
    path: z3.ArithRef
    user: z3.ArithRef
    member: dict = attrs.field(eq=False)
    positions: dict = attrs.field(eq=False)  # field -> value -> index, for quick lookups
    rule_cache: dict = attrs.field(eq=False, factory=dict)  # a rule's formula depends on the rule only

    @classmethod
    def fresh(cls, universe: Universe, prefix: str = "q") -> "SymbolicRequest":
        ints = {f: z3.Int(f"{prefix}.{f}") for f in _PLURAL}
        member = {g: z3.Bool(f"{prefix}.member[{g}]") for g in universe.groups}
        positions = {f: {v: i for i, v in enumerate(getattr(universe, p))} for f, p in _PLURAL.items()}
        return cls(universe, z3.Bool(f"{prefix}.resource_request"), member=member, positions=positions, **ints)

    def equals(self, field: str, value: str) -> z3.BoolRef:
        """``field == value``; false when the value is not in the universe for that field."""
        index = self.positions[field].get(value)
        return z3.BoolVal(False) if index is None else getattr(self, field) == index

    def one_of(self, field: str, wanted: Iterable[str]) -> z3.BoolRef:
        return z3.Or([self.equals(field, value) for value in wanted] + [z3.BoolVal(False)])

    def in_universe(self) -> z3.BoolRef:
        """Every field holds a value of the universe, and a URL request has no namespace (the API
        server never puts one on it)."""
        bounds = [z3.And(0 <= getattr(self, f), getattr(self, f) < len(getattr(self.universe, p)))
                  for f, p in _PLURAL.items()]
        return z3.And(bounds + [z3.Implies(z3.Not(self.resource_request), self.equals("namespace", ""))])


_PLURAL = {"verb": "verbs", "api_group": "api_groups", "resource": "resources", "subresource": "subresources",
           "name": "names", "namespace": "namespaces", "path": "paths", "user": "users"}


def selector_matches(selector, labels: dict[str, str]) -> bool:
    """A label selector: all ``matchLabels`` equal, all ``matchExpressions`` hold; ``{}`` matches all."""
    if any(labels.get(k) != v for k, v in selector.match_labels):
        return False
    for expression in selector.match_expressions:
        value = labels.get(expression.key)
        holds = {"In": value in expression.values, "NotIn": value not in expression.values,
                 "Exists": expression.key in labels, "DoesNotExist": expression.key not in labels}
        if not holds[expression.operator]:
            return False
    return True


class RbacModel:
    """The formulas for one policy over one universe."""

    def __init__(self, policy, universe: Universe) -> None:
        self.policy = policy
        self.universe = universe

    # --- rules ---------------------------------------------------------------------------------

    def names(self, q: SymbolicRequest, field: str, listed: Iterable[str]) -> z3.BoolRef:
        """A list of names matches a field when it holds ``*`` or the field's value."""
        listed = tuple(listed)
        return z3.BoolVal(True) if ALL in listed else q.one_of(field, listed)

    def resource(self, q: SymbolicRequest, entry: str) -> z3.BoolRef:
        """``*`` any; ``*/sub`` that subresource of any resource; ``res/sub``; plain ``res`` without one."""
        if entry == ALL:
            return z3.BoolVal(True)
        base, slash, sub = entry.partition("/")
        if slash and not sub:
            return z3.BoolVal(False)  # "pods/" names no resource a request can have
        if base == ALL:
            return q.equals("subresource", sub)
        return z3.And(q.equals("resource", base), q.equals("subresource", sub))

    def url(self, q: SymbolicRequest, entry: str) -> z3.BoolRef:
        """``*`` any; ``prefix*`` every URL starting with the prefix; else that exact URL."""
        if entry == ALL:
            return z3.BoolVal(True)
        if entry.endswith(ALL):
            prefix = entry.rstrip(ALL)
            return q.one_of("path", [p for p in self.universe.paths if p.startswith(prefix)])
        return q.equals("path", entry)

    def rule(self, q: SymbolicRequest, rule) -> z3.BoolRef:
        verb = self.names(q, "verb", rule.verbs)
        on_resource = z3.And(
            self.names(q, "api_group", rule.api_groups),
            z3.Or([self.resource(q, e) for e in rule.resources] + [z3.BoolVal(False)]),
            z3.BoolVal(True) if not rule.resource_names else q.one_of("name", rule.resource_names))
        on_url = z3.Or([self.url(q, e) for e in rule.non_resource_urls] + [z3.BoolVal(False)])
        return z3.And(verb, z3.If(q.resource_request, on_resource, on_url))

    # --- roles, with aggregation -----------------------------------------------------------------

    def role_allows(self, q: SymbolicRequest) -> dict[tuple[str, str, str], z3.BoolRef]:
        """Per role key (kind, namespace, name): what it allows. An aggregated ClusterRole allows
        what the roles it selects allow; unrolling that once per aggregated role reaches the least
        fixpoint, because a chain of selections passes through each aggregated role at most once
        before it ends at a role with rules of its own."""
        own = {(r.kind, r.namespace, r.name): self._any_rule(q, r.rules) for r in self.policy.roles}
        cluster = [r for r in self.policy.roles if r.kind == "ClusterRole"]
        sources = {r.name: self._selected(r, cluster) for r in cluster if r.aggregation is not None}
        current = {r.name: (z3.BoolVal(False) if r.name in sources else own[("ClusterRole", "", r.name)])
                   for r in cluster}
        for _ in range(len(sources)):
            current = {name: z3.Or([current[s] for s in sources[name]] + [z3.BoolVal(False)]) if name in sources
                       else allows for name, allows in current.items()}
        own.update({("ClusterRole", "", name): allows for name, allows in current.items()})
        return own

    def _any_rule(self, q: SymbolicRequest, role_rules) -> z3.BoolRef:
        for rule in role_rules:
            if rule not in q.rule_cache:
                q.rule_cache[rule] = self.rule(q, rule)
        return z3.Or([q.rule_cache[rule] for rule in role_rules] + [z3.BoolVal(False)])

    def _selected(self, role, cluster) -> list[str]:
        """The other ClusterRoles one of ``role``'s selectors matches."""
        return [other.name for other in cluster if other.name != role.name
                and any(selector_matches(s, dict(other.labels)) for s in role.aggregation)]

    # --- bindings --------------------------------------------------------------------------------

    def subject(self, q: SymbolicRequest, subject, binding) -> z3.BoolRef:
        if subject.kind == "User":
            return q.equals("user", subject.name)
        if subject.kind == "Group":
            return q.member.get(subject.name, z3.BoolVal(False))
        namespace = subject.namespace or binding.namespace  # a bare ServiceAccount is the binding's
        if subject.kind == "ServiceAccount" and namespace:
            return q.equals("user", service_account_user(namespace, subject.name))
        return z3.BoolVal(False)

    def binding_applies(self, q: SymbolicRequest, binding) -> z3.BoolRef:
        scope = z3.BoolVal(True) if binding.kind == "ClusterRoleBinding" else q.equals("namespace", binding.namespace)
        return z3.And(scope, z3.Or([self.subject(q, s, binding) for s in binding.subjects] + [z3.BoolVal(False)]))

    def referenced(self, binding) -> tuple[str, str, str]:
        namespace = binding.namespace if binding.role_ref.kind == "Role" else ""
        return (binding.role_ref.kind, namespace, binding.role_ref.name)

    def binding_grants(self, q: SymbolicRequest, roles=None) -> list[tuple[object, z3.BoolRef]]:
        """Per binding: it applies to ``q`` and its role allows ``q``."""
        roles = roles if roles is not None else self.role_allows(q)
        return [(b, z3.And(self.binding_applies(q, b), roles.get(self.referenced(b), z3.BoolVal(False))))
                for b in self.policy.bindings]

    def allows(self, q: SymbolicRequest) -> z3.BoolRef:
        """The policy allows ``q``: some binding applies and its role allows ``q``."""
        return z3.Or([term for _, term in self.binding_grants(q)] + [z3.BoolVal(False)])

    def role_grants(self, q: SymbolicRequest, kind: str, namespace: str, name: str) -> z3.BoolRef:
        """What one role allows, on its own (for escalation questions)."""
        return self.role_allows(q).get((kind, namespace if kind == "Role" else "", name), z3.BoolVal(False))
