"""Hypothesis strategies for small RBAC policies that hit the corner cases.

Vocabularies are tiny on purpose, so that rules, requests and names collide: wildcards next to
exact names, ``*/scale`` beside ``deployments/scale``, resourceNames on list-capable verbs,
URLs with and without a trailing ``*``, RoleBindings to ClusterRoles, bare ServiceAccount
subjects, and ClusterRoles that aggregate each other in chains (``admin`` <- ``edit`` <- ``view``)
through matchLabels or matchExpressions, some with stale rules of their own.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from checks.rbac.world import World
from impl.apiserver.authz.node import NodeGraph, PodRefs
from impl.apiserver.authz.rbac import Policy
from impl.apiserver.authz.types import (
    RBAC_GROUP, Binding, LabelSelector, LabelSelectorRequirement, PolicyRule, Role, RoleRef, Subject,
)

__all__ = ["rules", "policies", "worlds", "NAMESPACES", "ROLE_NAMES", "POWER_RULES", "NODES"]

VERBS = ("get", "list", "create", "watch", "*")
API_GROUPS = ("", "apps", "*")
RESOURCES = ("pods", "pods/log", "deployments", "deployments/scale", "*/scale", "*", "secrets", "pods/exec")
NAMES = ("a", "b")
URLS = ("/healthz", "/healthz/*", "/api", "*", "/logs*")
NAMESPACES = ("ns1", "ns2")
USERS = ("alice", "bob")
GROUPS = ("devs", "ops", "system:authenticated")
ROLE_NAMES = ("admin", "edit", "view", "base")
LABELS = ("to-admin", "to-edit", "to-view")


def _some(values, max_size: int = 2):
    return st.lists(st.sampled_from(values), min_size=1, max_size=max_size, unique=True).map(tuple)


@st.composite
def rules(draw, namespaced: bool = False) -> PolicyRule:
    verbs = draw(_some(VERBS))
    if not namespaced and draw(st.integers(0, 3)) == 0:
        return PolicyRule(verbs=verbs, non_resource_urls=draw(_some(URLS)))
    names = draw(st.one_of(st.just(()), _some(NAMES)))
    return PolicyRule(verbs=verbs, api_groups=draw(_some(API_GROUPS)), resources=draw(_some(RESOURCES)),
                      resource_names=names)


# The default roles' shape: admin gathers edit, edit gathers view, view gathers the parts.
_CANONICAL = {"admin": ((), "to-admin"), "edit": (("to-admin",), "to-edit"), "view": (("to-edit",), "to-view"),
              "base": (("to-view",), None)}


@st.composite
def _selector(draw, label: str) -> LabelSelector:
    """Selects ``label``: by matchLabels, or by a matchExpression (In, NotIn, Exists, DoesNotExist),
    whose operators a matcher can get wrong on roles without the key; or ``{}``, the empty
    selector, which selects every role (a nil-versus-empty confusion makes it select none)."""
    operator = draw(st.sampled_from(("matchLabels", "In", "NotIn", "Exists", "DoesNotExist", "everything")))
    if operator == "everything":
        return LabelSelector()
    if operator == "matchLabels":
        return LabelSelector(match_labels=((label, "true"),))
    values = ("true",) if operator in ("In", "NotIn") else ()
    return LabelSelector(match_expressions=(LabelSelectorRequirement(label, operator, values),))


@st.composite
def _cluster_role(draw, name: str) -> Role:
    if draw(st.booleans()):
        labels, selects = _CANONICAL[name]
    else:
        labels = tuple(draw(st.lists(st.sampled_from(LABELS), max_size=1, unique=True)))
        selects = draw(st.sampled_from(LABELS)) if draw(st.booleans()) else None
    aggregation = None if selects is None else (draw(_selector(selects)),)
    # An aggregated role may carry rules of its own, as a dump shows them: the aggregation
    # controller overwrites them, so they grant nothing beyond what the selected roles grant.
    stale = aggregation is not None and draw(st.integers(0, 3)) == 0
    own = tuple(draw(st.lists(rules(), min_size=1, max_size=2))) if aggregation is None or stale else ()
    return Role(kind="ClusterRole", name=name, rules=own, labels=tuple((k, "true") for k in labels),
                aggregation=aggregation)


@st.composite
def _role(draw) -> Role:
    return Role(kind="Role", name=draw(st.sampled_from(ROLE_NAMES)), namespace=draw(st.sampled_from(NAMESPACES)),
                rules=tuple(draw(st.lists(rules(namespaced=True), min_size=1, max_size=2))))


@st.composite
def _subject(draw, cluster: bool) -> Subject:
    kind = draw(st.sampled_from(("User", "Group", "ServiceAccount")))
    if kind == "User":
        return Subject("User", draw(st.sampled_from(USERS)))
    if kind == "Group":
        return Subject("Group", draw(st.sampled_from(GROUPS)))
    namespace = draw(st.sampled_from(NAMESPACES)) if cluster else draw(st.sampled_from(("",) + NAMESPACES))
    return Subject("ServiceAccount", "sa", namespace)


@st.composite
def _binding(draw, index: int) -> Binding:
    cluster = draw(st.booleans())
    ref_kind = "ClusterRole" if cluster or draw(st.booleans()) else "Role"
    return Binding(kind="ClusterRoleBinding" if cluster else "RoleBinding", name=f"b{index}",
                   namespace="" if cluster else draw(st.sampled_from(NAMESPACES)),
                   role_ref=RoleRef(ref_kind, draw(st.sampled_from(ROLE_NAMES))),
                   subjects=tuple(draw(st.lists(_subject(cluster), min_size=1, max_size=2))))


@st.composite
def policies(draw) -> Policy:
    """A policy of up to four ClusterRoles, two Roles and four bindings."""
    names = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=4, unique=True))
    cluster_roles = [draw(_cluster_role(name)) for name in names]
    roles = {(r.namespace, r.name): r for r in draw(st.lists(_role(), max_size=2))}
    bindings = [draw(_binding(i)) for i in range(draw(st.integers(1, 4)))]
    return Policy(tuple(cluster_roles) + tuple(roles.values()), tuple(bindings))


# What escalation and impersonation hinge on: writing roles and bindings, bind, escalate and
# impersonate, wide and narrowed by name, so a generated world gives the grid checks work.
POWER_RULES = (
    PolicyRule(("impersonate",), ("",), ("users", "groups")),
    PolicyRule(("impersonate",), ("",), ("users",), ("alice",)),
    PolicyRule(("impersonate",), ("",), ("groups",), ("devs", "system:masters")),
    PolicyRule(("impersonate",), ("",), ("serviceaccounts",)),
    PolicyRule(("create", "update"), (RBAC_GROUP,), ("rolebindings",)),
    PolicyRule(("create",), (RBAC_GROUP,), ("roles", "clusterroles")),
    PolicyRule(("create",), (RBAC_GROUP,), ("clusterrolebindings",)),
    PolicyRule(("bind",), (RBAC_GROUP,), ("clusterroles", "roles"), ("view", "edit")),
    PolicyRule(("bind", "escalate"), (RBAC_GROUP,), ("roles",)),
    PolicyRule(("*",), (RBAC_GROUP,), ("*",)),
)
NODES = ("n1", "n2")


@st.composite
def _powers(draw) -> tuple[Role, Binding]:
    """One role of power rules, bound once (cluster-wide, or in a namespace)."""
    rules = tuple(draw(st.lists(st.sampled_from(POWER_RULES), min_size=1, max_size=3, unique=True)))
    cluster = draw(st.booleans())
    namespace = "" if cluster else draw(st.sampled_from(NAMESPACES))
    role = Role("ClusterRole" if cluster or draw(st.booleans()) else "Role", "powers", namespace, rules=rules)
    if role.kind == "ClusterRole":
        role = attrs.evolve(role, namespace="")
    binding = Binding("ClusterRoleBinding" if cluster else "RoleBinding", "powers", RoleRef(role.kind, "powers"),
                      (draw(_subject(cluster)),), namespace)
    return role, binding


@st.composite
def _graph(draw) -> NodeGraph:
    """One or two pods on the two nodes, referencing the names rules use, and a bound volume."""
    pods = []
    for index in range(draw(st.integers(1, 2))):
        pods.append(PodRefs(draw(st.sampled_from(NAMESPACES)), f"pod{index}", draw(st.sampled_from(NODES)),
                            secrets=tuple(draw(st.lists(st.sampled_from(NAMES), max_size=1))),
                            configmaps=tuple(draw(st.lists(st.sampled_from(NAMES), max_size=1))),
                            claims=tuple(draw(st.lists(st.sampled_from(NAMES), max_size=1)))))
    volumes = tuple(((p.namespace, c), f"pv-{c}") for p in pods[:1] for c in p.claims)
    return NodeGraph(tuple(pods), volumes)


@st.composite
def worlds(draw):
    """A generated policy with a role of power rules bound in it, and a small node graph."""
    policy = draw(policies())
    role, binding = draw(_powers())
    return World(Policy(policy.roles + (role,), policy.bindings + (binding,)), draw(_graph()), NODES)
