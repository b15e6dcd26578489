"""spec/apiserver/rbac_oracle.py: the RBAC documentation's examples, and a differential test against
the reference's RBACAuthorizer (impl/apiserver/authz/rbac.py) over generated small policies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checks.rbac.strategies import NAMESPACES, policies
from impl.apiserver.authz.rbac import RBACAuthorizer
from impl.apiserver.authz.types import Decision, Request, UserInfo
from spec.apiserver.observations import Change
from spec.apiserver.rbac_oracle import AccessRequest, allows, effective_rules, policy_at, rule_atoms

RBAC = "rbac.authorization.k8s.io"


def role(name, rules, namespace="default", **extra):
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules, **extra}


def cluster_role(name, rules=(), labels=None, selectors=None):
    obj = {"kind": "ClusterRole", "metadata": {"name": name, "labels": labels or {}}, "rules": list(rules)}
    if selectors is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": selectors}
    return obj


def binding(name, ref_kind, ref_name, subjects, namespace=None):
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": meta, "roleRef": {"apiGroup": RBAC, "kind": ref_kind, "name": ref_name},
            "subjects": subjects}


def user(name):
    return {"kind": "User", "name": name, "apiGroup": RBAC}


def group(name):
    return {"kind": "Group", "name": name, "apiGroup": RBAC}


POD_READER = role("pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]}])
SECRET_READER = cluster_role("secret-reader", [{"apiGroups": [""], "resources": ["secrets"],
                                                "verbs": ["get", "watch", "list"]}])


def test_role_binding_grants_in_its_namespace_only():
    policy = [POD_READER, binding("read-pods", "Role", "pod-reader", [user("jane")], "default")]
    assert allows(policy, "jane", [], AccessRequest("list", "", "pods", namespace="default"))
    assert not allows(policy, "jane", [], AccessRequest("list", "", "pods", namespace="dev"))
    assert not allows(policy, "jane", [], AccessRequest("list", "", "pods"))  # cluster-wide
    assert not allows(policy, "jane", [], AccessRequest("delete", "", "pods", namespace="default"))
    assert not allows(policy, "bob", [], AccessRequest("get", "", "pods", namespace="default"))


def test_role_binding_to_cluster_role_grants_in_the_binding_namespace():
    policy = [SECRET_READER, binding("read-secrets", "ClusterRole", "secret-reader", [user("dave")], "development")]
    assert allows(policy, "dave", [], AccessRequest("get", "", "secrets", name="x", namespace="development"))
    assert not allows(policy, "dave", [], AccessRequest("get", "", "secrets", name="x", namespace="prod"))


def test_cluster_role_binding_grants_everywhere_by_group():
    policy = [SECRET_READER, binding("read-secrets-global", "ClusterRole", "secret-reader", [group("manager")])]
    for namespace in ("a", "b", ""):
        assert allows(policy, "x", ["manager"], AccessRequest("list", "", "secrets", namespace=namespace))
    assert not allows(policy, "x", ["other"], AccessRequest("list", "", "secrets", namespace="a"))


def test_role_ref_to_a_role_in_another_namespace_grants_nothing():
    policy = [POD_READER, binding("b", "Role", "pod-reader", [user("jane")], "dev")]
    assert not allows(policy, "jane", [], AccessRequest("get", "", "pods", namespace="dev"))
    crb = binding("c", "Role", "pod-reader", [user("jane")])  # a ClusterRoleBinding may not refer to a Role
    assert not allows([POD_READER, crb], "jane", [], AccessRequest("get", "", "pods", namespace="default"))


def test_subresources_and_star_slash():
    policy = [role("logs", [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]},
                            {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]}]),
              binding("b", "Role", "logs", [user("u")], "default")]
    ask = lambda verb, group, res, sub="": AccessRequest(verb, group, res, sub, "x", "default")  # noqa: E731
    assert allows(policy, "u", [], ask("get", "", "pods", "log"))
    assert allows(policy, "u", [], ask("get", "", "pods"))
    assert not allows(policy, "u", [], ask("get", "", "pods", "exec"))
    assert allows(policy, "u", [], ask("update", "apps", "deployments", "scale"))
    assert not allows(policy, "u", [], ask("update", "apps", "deployments"))  # */scale needs a subresource


def test_resource_names_restrict_named_requests_only():
    policy = [role("cm", [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["my-configmap"],
                           "verbs": ["update", "get", "list"]}]),
              binding("b", "Role", "cm", [user("u")], "default")]
    assert allows(policy, "u", [], AccessRequest("get", "", "configmaps", name="my-configmap", namespace="default"))
    assert not allows(policy, "u", [], AccessRequest("get", "", "configmaps", name="other", namespace="default"))
    assert not allows(policy, "u", [], AccessRequest("list", "", "configmaps", namespace="default"))


def test_non_resource_urls_with_trailing_star():
    policy = [cluster_role("health", [{"nonResourceURLs": ["/healthz/*"], "verbs": ["get"]},
                                      {"nonResourceURLs": ["/version"], "verbs": ["*"]}]),
              binding("b", "ClusterRole", "health", [group("system:authenticated")])]
    url = lambda verb, path: AccessRequest(verb, path=path, resource_request=False)  # noqa: E731
    groups = ["system:authenticated"]
    assert allows(policy, "u", groups, url("get", "/healthz/etcd"))
    assert not allows(policy, "u", groups, url("get", "/healthz"))
    assert not allows(policy, "u", groups, url("post", "/healthz/etcd"))
    assert allows(policy, "u", groups, url("post", "/version"))
    assert not allows(policy, "u", groups, url("get", "/versions"))
    # a RoleBinding never grants a URL request (asked with no namespace)
    rb = [policy[0], binding("c", "ClusterRole", "health", [user("v")], "default")]
    assert not allows(rb, "v", [], url("get", "/healthz/etcd"))


def test_service_account_subjects_and_groups():
    policy = [POD_READER,
              binding("sa", "Role", "pod-reader", [{"kind": "ServiceAccount", "name": "builder"}], "default"),
              binding("qa", "Role", "pod-reader", [group("system:serviceaccounts:qa")], "default")]
    ask = AccessRequest("get", "", "pods", name="p", namespace="default")
    assert allows(policy, "system:serviceaccount:default:builder", [], ask)  # namespace from the binding
    assert not allows(policy, "system:serviceaccount:other:builder", [], ask)
    assert allows(policy, "system:serviceaccount:qa:x", ["system:serviceaccounts:qa"], ask)


def test_aggregation_is_transitive_and_ignores_stale_own_rules():
    view = cluster_role("view", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
                        labels={"to-edit": "true"})
    edit = cluster_role("edit", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}],
                        labels={"to-admin": "true"}, selectors=[{"matchLabels": {"to-edit": "true"}}])
    admin = cluster_role("admin", selectors=[{"matchExpressions": [{"key": "to-admin", "operator": "Exists"}]}])
    policy = [view, edit, admin, binding("b", "ClusterRole", "admin", [user("u")])]
    rules = effective_rules(policy)
    assert rules[("ClusterRole", "", "admin")] == view["rules"]  # edit's own (stale) rules are recomputed away
    assert allows(policy, "u", [], AccessRequest("get", "", "pods", namespace="x"))
    assert not allows(policy, "u", [], AccessRequest("get", "", "secrets", namespace="x"))
    everything = cluster_role("all", selectors=[{}])
    assert len(effective_rules([view, everything])[("ClusterRole", "", "all")]) == 1


def test_rule_atoms_and_policy_at():
    atoms = rule_atoms({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods/log"],
                        "resourceNames": ["a"]}, "ns")
    assert [(a.verb, a.resource, a.subresource, a.name) for a in atoms] == [("get", "pods", "log", "a"),
                                                                            ("list", "pods", "log", "a")]
    crb = binding("b", "ClusterRole", "secret-reader", [user("u")])
    changes = [Change(3, "/registry/clusterrolebindings/b", "clusterrolebindings", "", "b", crb),
               Change(5, "/registry/clusterroles/secret-reader", "clusterroles", "", "secret-reader", None)]
    assert len(policy_at(changes, 2, [SECRET_READER])) == 1
    assert len(policy_at(changes, 4, [SECRET_READER])) == 2
    assert [o["kind"] for o in policy_at(changes, 5, [SECRET_READER])] == ["ClusterRoleBinding"]


# ----- differential: the oracle against the reference's RBACAuthorizer ---------------------------

def _selector(selector):
    return {"matchLabels": dict(selector.match_labels),
            "matchExpressions": [{"key": r.key, "operator": r.operator, "values": list(r.values)}
                                 for r in selector.match_expressions]}


def _rule(rule):
    return {"verbs": list(rule.verbs), "apiGroups": list(rule.api_groups), "resources": list(rule.resources),
            "resourceNames": list(rule.resource_names), "nonResourceURLs": list(rule.non_resource_urls)}


def _objects(policy):
    objects = []
    for r in policy.roles:
        meta = {"name": r.name, "labels": dict(r.labels), **({"namespace": r.namespace} if r.namespace else {})}
        obj = {"kind": r.kind, "metadata": meta, "rules": [_rule(x) for x in r.rules]}
        if r.aggregation is not None:
            obj["aggregationRule"] = {"clusterRoleSelectors": [_selector(s) for s in r.aggregation]}
        objects.append(obj)
    for b in policy.bindings:
        meta = {"name": b.name, **({"namespace": b.namespace} if b.namespace else {})}
        objects.append({"kind": b.kind, "metadata": meta, "roleRef": {"kind": b.role_ref.kind, "name": b.role_ref.name},
                        "subjects": [{"kind": s.kind, "name": s.name, **({"namespace": s.namespace} if s.namespace else {})}
                                     for s in b.subjects]})
    return objects


GROUPS = ("devs", "ops", "system:authenticated")
RESOURCES = (("pods", ""), ("pods", "log"), ("pods", "exec"), ("deployments", ""), ("deployments", "scale"),
             ("secrets", ""), ("replicasets", "scale"))


@st.composite
def requests(draw):
    verb = draw(st.sampled_from(("get", "list", "create", "watch", "delete", "*")))
    namespace = draw(st.sampled_from(("",) + NAMESPACES))
    if draw(st.integers(0, 3)) == 0:
        path = draw(st.sampled_from(("/healthz", "/healthz/etcd", "/api", "/logs", "/logs/x", "/other")))
        return AccessRequest(verb, path=path, namespace=namespace, resource_request=False)
    resource, sub = draw(st.sampled_from(RESOURCES))
    return AccessRequest(verb, draw(st.sampled_from(("", "apps", "batch"))), resource, sub,
                         draw(st.sampled_from(("", "a", "b"))), namespace)


def _subject_users(policy):
    """Users and groups the policy's bindings name (so that generated requests often apply)."""
    users, groups = ["nobody"], list(GROUPS)
    for b in policy.bindings:
        for s in b.subjects:
            if s.kind == "User":
                users.append(s.name)
            elif s.kind == "Group":
                groups.append(s.name)
            else:
                users.append(f"system:serviceaccount:{s.namespace or b.namespace}:{s.name}")
    return sorted(set(users)), sorted(set(groups))


def _request_near(policy, data):
    """A request built from one of the policy's rules (wildcards kept: they are requests too)."""
    rules = [rule for role in policy.roles for rule in role.rules]
    if not rules:
        return data.draw(requests())
    rule = data.draw(st.sampled_from(rules))
    verb = data.draw(st.sampled_from(rule.verbs))
    namespace = data.draw(st.sampled_from(("",) + NAMESPACES))
    if rule.non_resource_urls:
        path = data.draw(st.sampled_from(rule.non_resource_urls)).replace("*", "x")
        return AccessRequest(verb, path=path, namespace=namespace, resource_request=False)
    resource, _, sub = data.draw(st.sampled_from(rule.resources)).replace("*", "replicasets").partition("/")
    name = data.draw(st.sampled_from(rule.resource_names + ("",)))
    return AccessRequest(verb, data.draw(st.sampled_from(rule.api_groups)), resource, sub, name, namespace)


@given(policies(), requests(), st.data())
def test_oracle_agrees_with_the_reference_authorizer(policy, request, data):
    if data.draw(st.booleans()):
        request = _request_near(policy, data)
    users, known_groups = _subject_users(policy)
    name = data.draw(st.sampled_from(users))
    groups = data.draw(st.lists(st.sampled_from(known_groups), unique=True, min_size=1))
    reference = RBACAuthorizer(policy).authorize(Request(
        UserInfo(name, tuple(groups)), request.verb, request.resource_request, request.api_group, request.resource,
        request.subresource, request.name, request.namespace, request.path))
    assert (reference == Decision.ALLOW) == allows(_objects(policy), name, groups, request), request.describe()
