"""Escalation prevention: escalate, bind, coverage, impersonate."""

from impl.apiserver.authz.escalation import EscalationGuard, covers
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.authz.types import (
    Binding, LabelSelector, PolicyRule, Role, RoleRef, Subject, UserInfo,
)

R = lambda verbs, resources, groups=("",), names=(): PolicyRule(tuple(verbs), tuple(groups), tuple(resources), tuple(names))


def test_coverage_breaks_rules_into_atoms():
    held = [R(["get", "list"], ["pods"]), R(["get"], ["*/status"])]
    assert covers(held, [R(["get"], ["pods"])]) == []
    assert covers(held, [R(["get"], ["deployments/status"])]) == []
    assert covers(held, [R(["get", "delete"], ["pods"])]) == [R(["delete"], ["pods"])]
    assert covers([R(["get"], ["pods"], names=["a"])], [R(["get"], ["pods"])])  # names held, any name wanted
    assert covers([R(["get"], ["pods"])], [R(["get"], ["pods"], names=["a"])]) == []
    assert covers([PolicyRule(("get",), non_resource_urls=("/api/*",))],
                  [PolicyRule(("get",), non_resource_urls=("/api/v1",))]) == []


def guard_for():
    roles = (
        Role("ClusterRole", "admin", rules=(R(["*"], ["pods", "secrets"]),)),
        Role("ClusterRole", "viewer", rules=(R(["get"], ["pods"]),)),
        Role("Role", "binder", "ns", rules=(R(["create"], ["rolebindings"], ["rbac.authorization.k8s.io"]),)),
        Role("Role", "bind-admin", "ns", rules=(R(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], ["admin"]),)),
        Role("Role", "escalator", "ns", rules=(R(["escalate"], ["roles"], ["rbac.authorization.k8s.io"]),)),
    )
    user = lambda name: (Subject("User", name),)
    bindings = (
        Binding("RoleBinding", "viewer", RoleRef("ClusterRole", "viewer"), user("vic"), "ns"),
        Binding("RoleBinding", "binder", RoleRef("Role", "binder"), user("vic"), "ns"),
        Binding("RoleBinding", "bind-admin", RoleRef("Role", "bind-admin"), user("bea"), "ns"),
        Binding("RoleBinding", "escalator", RoleRef("Role", "escalator"), user("eli"), "ns"),
        Binding("ClusterRoleBinding", "imp", RoleRef("ClusterRole", "impersonator"), user("ivy")),
    )
    impersonator = Role("ClusterRole", "impersonator", rules=(
        R(["impersonate"], ["users"], names=["alice"]), R(["impersonate"], ["groups"], names=["devs"])))
    return EscalationGuard(RBACAuthorizer(Policy(roles + (impersonator,), bindings)))


def binding(role_kind, role, namespace="ns", who="vic"):
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    return Binding(kind, "new", RoleRef(role_kind, role), (Subject("User", who),), namespace)


def test_binding_needs_coverage_or_bind():
    guard = guard_for()
    vic, bea = UserInfo.authenticated("vic"), UserInfo.authenticated("bea")
    assert guard.can_write_binding(vic, binding("ClusterRole", "viewer"))        # holds get pods in ns
    assert not guard.can_write_binding(vic, binding("ClusterRole", "admin"))     # does not hold admin
    assert not guard.can_write_binding(vic, binding("ClusterRole", "viewer", ""))  # not cluster-wide
    assert guard.can_write_binding(bea, binding("ClusterRole", "admin"))         # bind on admin
    assert not guard.can_write_binding(bea, binding("ClusterRole", "viewer", "other"))
    assert guard.can_write_binding(vic, binding("ClusterRole", "missing"))       # nothing to escalate
    root = UserInfo.authenticated("root", ("system:masters",))
    assert guard.can_write_binding(root, binding("ClusterRole", "admin", ""))


def test_role_needs_coverage_or_escalate():
    guard = guard_for()
    vic, eli = UserInfo.authenticated("vic"), UserInfo.authenticated("eli")
    small = Role("Role", "small", "ns", rules=(R(["get"], ["pods"]),))
    big = Role("Role", "big", "ns", rules=(R(["delete"], ["secrets"]),))
    assert guard.can_write_role(vic, small)
    assert not guard.can_write_role(vic, big)
    assert guard.can_write_role(eli, big)
    aggregated = Role("ClusterRole", "agg", aggregation=(LabelSelector(),))
    assert not guard.can_write_role(vic, aggregated)  # an aggregationRule can gather anything


def test_impersonation():
    guard = guard_for()
    ivy = UserInfo.authenticated("ivy")
    assert guard.can_impersonate(ivy, UserInfo("alice"))
    assert guard.can_impersonate(ivy, UserInfo("alice", ("devs",)))
    assert not guard.can_impersonate(ivy, UserInfo("alice", ("system:masters",)))
    assert not guard.can_impersonate(ivy, UserInfo("bob"))


def _switcher_guard(extra_rules=()):
    """A namespaced Role naming impersonate on users, groups and service accounts, bound in ns."""
    role = Role("Role", "switcher", "ns", rules=(R(["impersonate"], ["users", "groups", "serviceaccounts"]),) + extra_rules)
    binding = Binding("RoleBinding", "switcher", RoleRef("Role", "switcher"), (Subject("User", "eve"),), "ns")
    return EscalationGuard(RBACAuthorizer(Policy((role,), (binding,))))


def test_a_rolebinding_never_grants_impersonation_of_users_or_groups():
    """The impersonation filter asks for users and groups with no namespace, so only a
    ClusterRoleBinding can grant them, whatever namespace the impersonated request goes to."""
    guard, eve = _switcher_guard(), UserInfo.authenticated("eve")
    for namespace in ("", "ns", "other"):
        assert not guard.can_impersonate(eve, UserInfo("alice"), namespace)
        assert not guard.can_impersonate(eve, UserInfo("system:serviceaccount:ns:robot", ("system:masters",)), namespace)
    # A service account is asked in its own namespace: the RoleBinding of that namespace grants it.
    assert guard.can_impersonate(eve, UserInfo("system:serviceaccount:ns:robot"), "other")
    assert not guard.can_impersonate(eve, UserInfo("system:serviceaccount:other:robot"), "ns")


def test_uid_and_extras_are_asked_in_authentication_k8s_io():
    guard = _switcher_guard()
    asked = guard.impersonation_requests(UserInfo("eve"), UserInfo("alice", ("devs",)), "ns", uid="42",
                                         extra=(("scopes", "view"),))
    assert [(r.api_group, r.resource, r.subresource, r.name, r.namespace) for r in asked] == [
        ("", "users", "", "alice", ""), ("", "groups", "", "devs", ""),
        ("authentication.k8s.io", "uids", "", "42", ""), ("authentication.k8s.io", "userextras", "scopes", "view", "")]
    holder = Role("ClusterRole", "all", rules=(R(["impersonate"], ["users", "groups"]),
                                               R(["impersonate"], ["uids", "userextras/scopes"], ["authentication.k8s.io"])))
    crb = Binding("ClusterRoleBinding", "all", RoleRef("ClusterRole", "all"), (Subject("User", "eve"),))
    guard = EscalationGuard(RBACAuthorizer(Policy((holder,), (crb,))))
    assert guard.can_impersonate(UserInfo("eve"), UserInfo("alice"), uid="42", extra=(("scopes", "view"),))
    assert not guard.can_impersonate(UserInfo("eve"), UserInfo("alice"), extra=(("other", "x"),))


# --- the escalations analysis -------------------------------------------------------------------

def test_transitive_escalation_reaches_a_fixpoint():
    from checks.rbac.escalations import find_escalations

    rbac = ("rbac.authorization.k8s.io",)
    roles = (
        Role("Role", "binder", "ns", rules=(R(["create"], ["rolebindings"], rbac),
                                            R(["bind"], ["clusterroles"], rbac, ["step1"]))),
        Role("ClusterRole", "step1", rules=(R(["bind"], ["clusterroles"], rbac, ["step2"]),)),
        Role("ClusterRole", "step2", rules=(R(["*"], ["secrets"]),)),
    )
    bindings = (Binding("RoleBinding", "b", RoleRef("Role", "binder"), (Subject("User", "m"),), "ns"),)
    report = find_escalations(Policy(roles, bindings))
    gained = [g.what for g in report.gains if g.subject == Subject("User", "m")]
    assert gained == ["ClusterRole step1", "ClusterRole step2"]  # the second only through the first


def test_escalate_and_update_on_own_role_is_full_control():
    from checks.rbac.escalations import find_escalations

    rbac = ("rbac.authorization.k8s.io",)
    roles = (Role("Role", "self", "ns", rules=(R(["escalate", "update"], ["roles"], rbac, ["self"]),)),)
    bindings = (Binding("RoleBinding", "b", RoleRef("Role", "self"), (Subject("User", "m"),), "ns"),)
    report = find_escalations(Policy(roles, bindings))
    assert [(g.scope, g.what) for g in report.gains] == [("ns", "full control")]


def test_diff_examples_are_confirmed_by_the_implementation():
    from checks.rbac.diff import diff_policies
    from impl.apiserver.authz.types import Decision

    old = Policy((Role("ClusterRole", "r", rules=(R(["get"], ["pods"]),)),),
                 (Binding("ClusterRoleBinding", "b", RoleRef("ClusterRole", "r"), (Subject("User", "u"),)),))
    new = Policy((Role("ClusterRole", "r", rules=(R(["get", "list"], ["pods"]),)),), old.bindings)
    result = diff_policies(old, new)
    assert not result.removed and len(result.added) == 1
    request = result.added[0].request
    assert request.verb == "list" and request.user.name == "u"
    assert RBACAuthorizer(new).authorize(request) is Decision.ALLOW
    assert RBACAuthorizer(old).authorize(request) is Decision.NO_OPINION
