"""The RBAC authorizer, with Kubernetes' exact matching rules.

Sources: kubernetes/kubernetes ``pkg/apis/rbac/v1/evaluation_helpers.go`` (the matchers),
``plugin/pkg/auth/authorizer/rbac/rbac.go`` (which bindings apply), ``pkg/registry/rbac/validation
/rule.go`` (``VisitRulesFor``) and ``pkg/controller/clusterroleaggregation`` (aggregation).

Every step is one small method of ``RbacSemantics`` so that a catalog bug
(``impl/apiserver/authz/bugs.py``) can replace exactly one of them and a reader can put the correct
method and the broken one side by side. The facts a learner should keep:

- A request is allowed when some binding that *applies* (its subjects include the user, and it
  covers the request's namespace) refers to a role with some rule that *allows* the request.
- RBAC only adds permissions: it answers Allow or NoOpinion, never Deny.
- A ClusterRoleBinding applies in every namespace and to cluster-scoped requests; a RoleBinding
  applies only to requests in its own namespace, also when it refers to a ClusterRole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs

from impl.apiserver.authz.types import (
    Binding, Decision, LabelSelector, PolicyRule, Request, Role, Subject, UserInfo,
    service_account_user,
)

__all__ = ["ALL", "Policy", "RbacSemantics", "RBACAuthorizer", "Grant"]

ALL = "*"  # the wildcard in verbs, apiGroups, resources and nonResourceURLs


@attrs.frozen
class Policy:
    """Every Role, ClusterRole, RoleBinding and ClusterRoleBinding of a cluster, as loaded."""

    roles: tuple[Role, ...] = ()
    bindings: tuple[Binding, ...] = ()

    def merged(self, other: "Policy") -> "Policy":
        return Policy(self.roles + other.roles, self.bindings + other.bindings)


@attrs.frozen
class Grant:
    """Why a request is allowed: this binding, through this role, by its rule number ``index``."""

    binding: Binding
    role: Role
    index: int
    rule: PolicyRule


def _has(values: Sequence[str], wanted: str) -> bool:
    return wanted in values


class RbacSemantics:
    """Kubernetes' RBAC rules, one question per method (the reference; bugs override one)."""

    # --- does a rule allow a request? (evaluation_helpers.go) ---------------------------------

    def verb_matches(self, rule: PolicyRule, verb: str) -> bool:
        return _has(rule.verbs, ALL) or _has(rule.verbs, verb)

    def api_group_matches(self, rule: PolicyRule, api_group: str) -> bool:
        # "" is the core group and matches only "" (or "*").
        return _has(rule.api_groups, ALL) or _has(rule.api_groups, api_group)

    def resource_matches(self, rule: PolicyRule, resource: str, subresource: str) -> bool:
        """``*`` matches everything, subresources included; otherwise the rule names the exact
        ``resource`` or ``resource/subresource``; ``*/sub`` matches subresource ``sub`` of any
        resource (and nothing without a subresource)."""
        combined = f"{resource}/{subresource}" if subresource else resource
        for allowed in rule.resources:
            if allowed == ALL or allowed == combined:
                return True
            if subresource and allowed == f"*/{subresource}":
                return True
        return False

    def resource_name_matches(self, rule: PolicyRule, name: str) -> bool:
        """No resourceNames means any name. Otherwise the request must name one of them, so a
        rule with resourceNames never allows list, watch, create or deletecollection (whose
        requests carry no name)."""
        return not rule.resource_names or _has(rule.resource_names, name)

    def non_resource_url_matches(self, rule: PolicyRule, path: str) -> bool:
        """``*``, the exact path, or a rule URL ending in ``*`` as a prefix: ``/healthz/*``
        covers ``/healthz/etcd`` but not ``/healthz``."""
        for allowed in rule.non_resource_urls:
            if allowed == ALL or allowed == path:
                return True
            if allowed.endswith(ALL) and path.startswith(allowed.rstrip(ALL)):
                return True
        return False

    def rule_allows(self, rule: PolicyRule, request: Request) -> bool:
        if not self.verb_matches(rule, request.verb):
            return False
        if not request.resource_request:
            return self.non_resource_url_matches(rule, request.path)
        return (self.api_group_matches(rule, request.api_group)
                and self.resource_matches(rule, request.resource, request.subresource)
                and self.resource_name_matches(rule, request.name))

    # --- does a binding apply? (rbac.go appliesTo, rule.go VisitRulesFor) ----------------------

    def subject_matches(self, subject: Subject, user: UserInfo, binding_namespace: str) -> bool:
        """A ServiceAccount subject without a namespace means the binding's own namespace."""
        if subject.kind == "User":
            return user.name == subject.name
        if subject.kind == "Group":
            return subject.name in user.groups
        if subject.kind == "ServiceAccount":
            namespace = subject.namespace or binding_namespace
            return bool(namespace) and user.name == service_account_user(namespace, subject.name)
        return False

    def binding_covers_namespace(self, binding: Binding, namespace: str) -> bool:
        """ClusterRoleBindings cover everything; a RoleBinding only requests in its namespace
        (so never cluster-scoped or non-resource requests, whose namespace is "")."""
        if binding.kind == "ClusterRoleBinding":
            return True
        return bool(namespace) and binding.namespace == namespace

    # --- aggregated ClusterRoles (clusterroleaggregation controller) --------------------------

    def selector_matches(self, selector: LabelSelector, labels: dict[str, str]) -> bool:
        for key, value in selector.match_labels:
            if labels.get(key) != value:
                return False
        for requirement in selector.match_expressions:
            present = requirement.key in labels
            if requirement.operator == "In" and not (present and labels[requirement.key] in requirement.values):
                return False
            if requirement.operator == "NotIn" and present and labels[requirement.key] in requirement.values:
                return False
            if requirement.operator == "Exists" and not present:
                return False
            if requirement.operator == "DoesNotExist" and present:
                return False
        return True

    def aggregation_sources(self, target: Role, cluster_roles: Sequence[Role]) -> list[Role]:
        """The ClusterRoles (other than ``target``) that one of its selectors matches, by name."""
        found = []
        for role in sorted(cluster_roles, key=lambda r: r.name):
            labels = dict(role.labels)
            if role.name != target.name and any(self.selector_matches(s, labels) for s in target.aggregation):
                found.append(role)
        return found

    def aggregate(self, cluster_roles: Sequence[Role]) -> dict[str, tuple[PolicyRule, ...]]:
        """Effective rules of every ClusterRole by name. An aggregated role gets the union of the
        rules of the roles it selects, recomputed until nothing changes: ``admin`` selects
        ``edit``, which selects ``view``, so ``admin`` ends up with the rules of all three."""
        rules = {role.name: (() if role.aggregation is not None else role.rules) for role in cluster_roles}
        aggregated = sorted((r for r in cluster_roles if r.aggregation is not None), key=lambda r: r.name)
        for _ in range(_aggregation_rounds_max(cluster_roles)):
            changed = False
            for target in aggregated:
                union = self.union_of(rules[s.name] for s in self.aggregation_sources(target, cluster_roles))
                if union != rules[target.name]:
                    rules[target.name], changed = union, True
            if not changed:
                return rules
        raise AssertionError("aggregation did not reach a fixpoint; it is monotone, so this is a bug")

    @staticmethod
    def union_of(rule_lists) -> tuple[PolicyRule, ...]:
        return tuple(dict.fromkeys(rule for rules in rule_lists for rule in rules))


def _aggregation_rounds_max(cluster_roles: Sequence[Role]) -> int:
    # Each round lengthens every selection chain by one, so len+1 rounds reach the fixpoint.
    return len(cluster_roles) + 1


class RBACAuthorizer:
    """Decides requests for one policy. Aggregation is resolved once, at construction."""

    def __init__(self, policy: Policy, semantics: RbacSemantics | None = None) -> None:
        self.policy = policy
        self.semantics = semantics or RbacSemantics()
        cluster_roles = [r for r in policy.roles if r.kind == "ClusterRole"]
        aggregated = self.semantics.aggregate(cluster_roles)
        self._roles: dict[tuple[str, str, str], Role] = {}
        for role in policy.roles:
            rules = aggregated[role.name] if role.kind == "ClusterRole" else role.rules
            self._roles[role.key] = attrs.evolve(role, rules=rules)
        self._bindings = tuple(sorted(policy.bindings, key=lambda b: (b.kind, b.namespace, b.name)))

    @property
    def bindings(self) -> tuple[Binding, ...]:
        return self._bindings

    def role_for(self, binding: Binding) -> Role | None:
        """The role a binding refers to, with effective rules; None when it does not exist (a
        dangling binding grants nothing). A RoleBinding's Role lives in its namespace."""
        namespace = binding.namespace if binding.role_ref.kind == "Role" else ""
        return self._roles.get((binding.role_ref.kind, namespace, binding.role_ref.name))

    def roles(self) -> list[Role]:
        return [self._roles[key] for key in sorted(self._roles)]

    def binding_applies(self, binding: Binding, user: UserInfo, namespace: str) -> bool:
        if not self.semantics.binding_covers_namespace(binding, namespace):
            return False
        return any(self.semantics.subject_matches(s, user, binding.namespace) for s in binding.subjects)

    def rules_for(self, user: UserInfo, namespace: str) -> Iterator[tuple[Binding, Role]]:
        """Every (binding, role) whose rules apply to ``user`` in ``namespace``."""
        for binding in self._bindings:
            if self.binding_applies(binding, user, namespace):
                role = self.role_for(binding)
                if role is not None:
                    yield binding, role

    def grants(self, request: Request) -> Iterator[Grant]:
        for binding, role in self.rules_for(request.user, request.namespace):
            for index, rule in enumerate(role.rules):
                if self.semantics.rule_allows(rule, request):
                    yield Grant(binding, role, index, rule)

    def authorize(self, request: Request) -> Decision:
        for _ in self.grants(request):
            return Decision.ALLOW
        return self.no_match()

    def no_match(self) -> Decision:
        """RBAC is purely additive: with no matching rule it has no opinion (never Deny)."""
        return Decision.NO_OPINION
