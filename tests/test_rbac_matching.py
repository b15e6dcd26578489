"""RBAC matching, rule by rule, and whole policies answering the way Kubernetes does."""

from pathlib import Path

import pytest

from checks.rbac.request import build_request
from impl.apiserver.authz.manifests import load_policy
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer, RbacSemantics
from impl.apiserver.authz.types import (
    Binding, Decision, LabelSelector, PolicyRule, Request, Role, RoleRef, Subject, UserInfo,
)

HERE = Path(__file__).parent / "rbac"
SEM = RbacSemantics()


def resource_rule(resources, verbs=("get",), groups=("",), names=()):
    return PolicyRule(verbs=tuple(verbs), api_groups=tuple(groups), resources=tuple(resources), resource_names=tuple(names))


@pytest.mark.parametrize("rule_resources, resource, subresource, expected", [
    (["pods"], "pods", "", True),
    (["pods"], "pods", "log", False),          # a resource does not cover its subresources
    (["pods/log"], "pods", "log", True),
    (["pods/log"], "pods", "", False),
    (["*"], "pods", "log", True),               # * covers subresources too
    (["*/scale"], "deployments", "scale", True),
    (["*/scale"], "deployments", "status", False),
    (["*/scale"], "deployments", "", False),    # */sub needs a subresource
    (["deployments/scale"], "replicasets", "scale", False),
])
def test_resource_matching(rule_resources, resource, subresource, expected):
    assert SEM.resource_matches(resource_rule(rule_resources), resource, subresource) is expected


@pytest.mark.parametrize("names, requested, expected", [
    ((), "", True), ((), "x", True), (("x",), "x", True), (("x",), "y", False),
    (("x",), "", False),  # list/watch/create carry no name, so resourceNames cannot restrict them
])
def test_resource_names(names, requested, expected):
    assert SEM.resource_name_matches(resource_rule(["pods"], names=names), requested) is expected


@pytest.mark.parametrize("urls, path, expected", [
    (("/healthz",), "/healthz", True), (("/healthz",), "/healthz/etcd", False),
    (("/healthz/*",), "/healthz/etcd", True), (("/healthz/*",), "/healthz", False),
    (("/api*",), "/apis/apps", True), (("*",), "/anything", True),
])
def test_non_resource_urls(urls, path, expected):
    assert SEM.non_resource_url_matches(PolicyRule(verbs=("get",), non_resource_urls=urls), path) is expected


def test_verbs_and_groups_are_exact_or_star():
    rule = resource_rule(["pods"], verbs=("get",), groups=("",))
    assert SEM.verb_matches(rule, "get") and not SEM.verb_matches(rule, "list")
    assert SEM.api_group_matches(rule, "") and not SEM.api_group_matches(rule, "apps")
    star = resource_rule(["pods"], verbs=("*",), groups=("*",))
    assert SEM.verb_matches(star, "escalate") and SEM.api_group_matches(star, "anything.io")


def test_resource_rule_never_matches_urls_and_back():
    rule = resource_rule(["*"], verbs=("*",), groups=("*",))
    url_request = Request(user=UserInfo("u"), verb="get", resource_request=False, path="/healthz")
    assert not SEM.rule_allows(rule, url_request)


def _policy(roles, bindings):
    return RBACAuthorizer(Policy(tuple(roles), tuple(bindings)))


def test_rolebinding_to_clusterrole_grants_only_in_its_namespace():
    reader = Role("ClusterRole", "reader", rules=(resource_rule(["pods"]),))
    binding = Binding("RoleBinding", "b", RoleRef("ClusterRole", "reader"), (Subject("User", "u"),), "ns1")
    authorizer = _policy([reader], [binding])
    ask = lambda ns: authorizer.authorize(Request(user=UserInfo("u"), verb="get", resource="pods", namespace=ns))
    assert ask("ns1") is Decision.ALLOW
    assert ask("ns2") is Decision.NO_OPINION
    assert ask("") is Decision.NO_OPINION  # cluster-wide list of pods is not granted


def test_bare_service_account_subject_is_in_the_binding_namespace():
    role = Role("Role", "r", "ns1", rules=(resource_rule(["pods"]),))
    binding = Binding("RoleBinding", "b", RoleRef("Role", "r"), (Subject("ServiceAccount", "sa"),), "ns1")
    authorizer = _policy([role], [binding])
    good = UserInfo.authenticated("system:serviceaccount:ns1:sa")
    other = UserInfo.authenticated("system:serviceaccount:ns2:sa")
    assert authorizer.authorize(Request(user=good, verb="get", resource="pods", namespace="ns1")) is Decision.ALLOW
    assert authorizer.authorize(Request(user=other, verb="get", resource="pods", namespace="ns1")) is Decision.NO_OPINION


def test_service_account_identity_groups():
    user = UserInfo.authenticated("system:serviceaccount:ci:deployer")
    assert set(user.groups) == {"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:ci"}
    assert UserInfo.authenticated("system:anonymous").groups == ("system:unauthenticated",)


def test_dangling_binding_grants_nothing():
    binding = Binding("ClusterRoleBinding", "b", RoleRef("ClusterRole", "missing"), (Subject("User", "u"),))
    authorizer = _policy([], [binding])
    assert authorizer.authorize(Request(user=UserInfo("u"), verb="get", resource="pods")) is Decision.NO_OPINION


def test_aggregation_reaches_a_fixpoint_whatever_the_order():
    selects = lambda label: (LabelSelector(match_labels=((label, "true"),)),)
    roles = [
        Role("ClusterRole", "a-top", aggregation=selects("mid")),
        Role("ClusterRole", "b-mid", labels=(("mid", "true"),), aggregation=selects("low")),
        Role("ClusterRole", "c-low", labels=(("low", "true"),), rules=(resource_rule(["pods"]),)),
    ]
    effective = SEM.aggregate(roles)
    assert effective["a-top"] == effective["b-mid"] == (resource_rule(["pods"]),)


def test_aggregation_ignores_stale_rules_and_itself():
    role = Role("ClusterRole", "self", labels=(("x", "true"),), rules=(resource_rule(["stale"]),),
                aggregation=(LabelSelector(match_labels=(("x", "true"),)),))
    assert SEM.aggregate([role])["self"] == ()


# --- whole policies ------------------------------------------------------------------------------

DEFAULT_SHAPE = load_policy([HERE / "default-shape"])


@pytest.mark.parametrize("user, groups, verb, target, namespace, subresource, expected", [
    ("carol", (), "get", "pods", "shop", "", True),                    # view
    ("carol", (), "get", "pods", "shop", "log", True),
    ("carol", (), "get", "secrets", "shop", "", False),                # view never reads secrets
    ("carol", (), "list", "widgets.example.com", "shop", "", True),    # a custom part aggregated into view
    ("carol", (), "get", "pods", "other", "", False),
    ("dave", ("developers",), "get", "secrets", "shop", "", True),     # edit reads secrets
    ("dave", ("developers",), "create", "pods", "shop", "exec", True),
    ("dave", ("developers",), "list", "widgets.example.com", "shop", "", True),  # view inside edit
    ("dave", ("developers",), "create", "rolebindings", "shop", "", False),      # edit cannot grant
    ("alice", (), "create", "rolebindings", "shop", "", True),         # admin can
    ("alice", (), "watch", "deployments", "shop", "", True),           # view -> edit -> admin
    ("alice", (), "update", "deployments.apps", "shop", "scale", True),
    ("alice", (), "list", "nodes", "shop", "", False),                 # cluster-scoped: no RoleBinding reaches it
    ("system:serviceaccount:shop:deployer", (), "patch", "deployments", "shop", "", True),
    ("system:serviceaccount:ci:release-bot", (), "get", "configmaps/release", "shop", "", True),
    ("system:serviceaccount:ci:release-bot", (), "list", "configmaps", "shop", "", False),  # names cannot restrict list
    ("system:serviceaccount:ci:release-bot", (), "get", "configmaps/other", "shop", "", False),
    ("eve", (), "get", "/healthz", "", "", True),                      # every authenticated user
    ("eve", (), "get", "/apis/apps/v1", "", "", True),
    ("eve", (), "get", "/healthz/etcd", "", "", False),                # /healthz has no star
    ("eve", (), "get", "/metrics", "", "", False),
    ("root", ("system:masters",), "delete", "nodes/n1", "", "", True),
])
def test_default_roles_shape_answers_like_kubernetes(user, groups, verb, target, namespace, subresource, expected):
    request = build_request(UserInfo.authenticated(user, groups), verb, target, subresource, namespace)
    assert (RBACAuthorizer(DEFAULT_SHAPE).authorize(request) is Decision.ALLOW) is expected


BOOTSTRAP = load_policy([HERE / "bootstrap"])


@pytest.mark.parametrize("user, groups, verb, target, namespace, expected", [
    ("eve", (), "get", "/healthz", "", True),
    ("eve", (), "get", "/version/", "", True),
    ("eve", (), "create", "selfsubjectaccessreviews", "", True),
    ("eve", (), "get", "/metrics", "", False),
    ("eve", (), "get", "pods", "default", False),
    ("root", ("system:masters",), "escalate", "clusterroles/admin", "", True),
    ("system:kube-scheduler", (), "create", "bindings", "default", True),
    ("system:kube-scheduler", (), "delete", "secrets", "default", False),
    ("system:kube-proxy", (), "list", "endpointslices.discovery.k8s.io", "", True),
])
def test_bootstrap_policy(user, groups, verb, target, namespace, expected):
    request = build_request(UserInfo.authenticated(user, groups), verb, target, "", namespace)
    assert (RBACAuthorizer(BOOTSTRAP).authorize(request) is Decision.ALLOW) is expected


def test_bootstrap_aggregation_builds_admin_from_edit_and_view():
    authorizer = RBACAuthorizer(BOOTSTRAP)
    roles = {r.name: set(r.rules) for r in authorizer.roles() if r.kind == "ClusterRole"}
    assert roles["view"] and roles["view"] <= roles["edit"] <= roles["admin"]
