"""Hypothesis strategies for small RBAC policies that hit the corner cases.

Vocabularies are tiny on purpose, so that rules, requests and names collide: wildcards next to
exact names, ``*/scale`` beside ``deployments/scale``, resourceNames on list-capable verbs,
URLs with and without a trailing ``*``, RoleBindings to ClusterRoles, bare ServiceAccount
subjects, and ClusterRoles that aggregate each other in chains (``admin`` <- ``edit`` <- ``view``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from impl.apiserver.authz.rbac import Policy
from impl.apiserver.authz.types import Binding, LabelSelector, PolicyRule, Role, RoleRef, Subject

__all__ = ["rules", "policies", "NAMESPACES", "ROLE_NAMES"]

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
def _cluster_role(draw, name: str) -> Role:
    if draw(st.booleans()):
        labels, selects = _CANONICAL[name]
    else:
        labels = tuple(draw(st.lists(st.sampled_from(LABELS), max_size=1, unique=True)))
        selects = draw(st.sampled_from(LABELS)) if draw(st.booleans()) else None
    aggregation = None if selects is None else (LabelSelector(match_labels=((selects, "true"),)),)
    own = () if aggregation is not None else tuple(draw(st.lists(rules(), min_size=1, max_size=2)))
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
