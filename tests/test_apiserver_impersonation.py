"""User impersonation: the headers, the checks the filter asks, the user it yields, the 403
(``impl.apiserver.impersonation``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.apiserver.authz.escalation import EscalationGuard
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.authz.types import Binding, Decision, PolicyRule, Request, Role, RoleRef, Subject, UserInfo
from impl.apiserver.impersonation import (
    Impersonated, Impersonation, impersonated_user, impersonation_checks, impersonation_forbidden,
    split_service_account,
)
from impl.apiserver.status import ApiError

ALICE = UserInfo("alice", ("system:authenticated",))
AUTHN = "authentication.k8s.io"


def rule(resources, names=(), group="") -> PolicyRule:
    return PolicyRule(("impersonate",), (group,), tuple(resources), tuple(names))


def authorizer(*rules: PolicyRule, namespace: str = "") -> RBACAuthorizer:
    """alice holds ``rules`` through a ClusterRoleBinding, or a RoleBinding in ``namespace``."""
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    role = Role("ClusterRole", "impersonator", rules=rules)
    binding = Binding(kind, "imp", RoleRef("ClusterRole", "impersonator"), (Subject("User", "alice"),), namespace)
    return RBACAuthorizer(Policy((role,), (binding,)))


def first_denied(policy: RBACAuthorizer, headers) -> Request | None:
    """What the server does with the checks: the first one not allowed, or None."""
    _, checks = impersonation_checks(ALICE, headers)
    return next((c for c in checks if policy.authorize(c) is not Decision.ALLOW), None)


def check(resource, name, group="", sub="", namespace="") -> Request:
    return Request(ALICE, "impersonate", api_group=group, resource=resource, subresource=sub, name=name,
                   namespace=namespace)


def test_no_impersonation_headers_means_no_checks():
    assert impersonation_checks(ALICE, (("Authorization", "Bearer x"),)) == (None, ())
    assert impersonated_user(()) is None
    assert impersonation_checks(ALICE, (("Impersonate-User", ""),)) == (None, ())


def test_user_impersonation_needs_impersonate_on_that_user():
    headers = (("Impersonate-User", "bob"),)
    user, checks = impersonation_checks(ALICE, headers)
    assert user == UserInfo("bob", ("system:authenticated",))
    assert checks == (check("users", "bob"),)
    assert first_denied(authorizer(rule(["users"], ["bob"])), headers) is None
    assert first_denied(authorizer(rule(["users"], ["carol"])), headers) == check("users", "bob")


def test_groups_are_checked_one_by_one_and_masters_only_comes_from_them():
    headers = (("impersonate-user", "bob"), ("Impersonate-Group", "devs"), ("Impersonate-Group", "system:masters"))
    user, checks = impersonation_checks(ALICE, headers)
    assert user == UserInfo("bob", ("devs", "system:masters", "system:authenticated"))
    assert checks == (check("users", "bob"), check("groups", "devs"), check("groups", "system:masters"))
    allowed = authorizer(rule(["users"]), rule(["groups"], ["devs"]))
    assert first_denied(allowed, headers) == check("groups", "system:masters")
    assert "system:masters" not in impersonation_checks(ALICE, (("Impersonate-User", "bob"),))[0].groups


def test_service_account_is_checked_in_its_namespace_and_gets_its_groups():
    headers = (("Impersonate-User", "system:serviceaccount:ci:builder"),)
    user, checks = impersonation_checks(ALICE, headers)
    assert user == UserInfo("system:serviceaccount:ci:builder",
                            ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"))
    assert checks == (check("serviceaccounts", "builder", namespace="ci"),)
    assert first_denied(authorizer(rule(["serviceaccounts"]), namespace="ci"), headers) is None
    assert first_denied(authorizer(rule(["serviceaccounts"]), namespace="other"), headers) is not None


def test_service_account_with_explicit_groups_gets_only_those():
    headers = (("Impersonate-User", "system:serviceaccount:ci:builder"), ("Impersonate-Group", "devs"))
    assert impersonation_checks(ALICE, headers)[0].groups == ("devs", "system:authenticated")


def test_invalid_service_account_name_is_an_ordinary_user():
    assert split_service_account("system:serviceaccount:Bad_NS:x") is None
    headers = (("Impersonate-User", "system:serviceaccount:Bad_NS:x"),)
    user, checks = impersonation_checks(ALICE, headers)
    assert checks == (check("users", "system:serviceaccount:Bad_NS:x"),)
    assert user.groups == ("system:authenticated",)


def test_users_groups_uids_and_extras_are_asked_cluster_wide():
    """A RoleBinding never grants them, whatever it holds."""
    namespaced = authorizer(rule(["users", "groups"]), rule(["uids", "userextras/*"], group=AUTHN), namespace="ci")
    assert first_denied(namespaced, (("Impersonate-User", "bob"),)) == check("users", "bob")


def test_uid_needs_impersonate_on_uids():
    headers = (("Impersonate-User", "bob"), ("Impersonate-Uid", "1234"))
    user, checks = impersonation_checks(ALICE, headers)
    assert checks[-1] == check("uids", "1234", group=AUTHN)
    assert impersonated_user(headers).uid == "1234"
    assert first_denied(authorizer(rule(["users"])), headers) == check("uids", "1234", group=AUTHN)
    assert first_denied(authorizer(rule(["users"]), rule(["uids"], ["1234"], AUTHN)), headers) is None


def test_extras_are_keyed_lowercased_then_percent_decoded():
    headers = (("Impersonate-User", "bob"), ("Impersonate-Extra-Scopes", "view"),
               ("impersonate-extra-scopes", "edit"), ("Impersonate-Extra-example.org%2Fteam%41", "x"),
               ("Impersonate-Extra-bad%zz", "y"))
    who = impersonated_user(headers)
    assert who.extra == (("scopes", ("view", "edit")), ("example.org/teamA", ("x",)), ("bad%zz", ("y",)))
    _, checks = impersonation_checks(ALICE, headers)
    assert [c.subresource for c in checks[1:]] == ["scopes", "scopes", "example.org/teamA", "bad%zz"]
    assert checks[1] == check("userextras", "view", group=AUTHN, sub="scopes")
    allowed = authorizer(rule(["users"]), rule(["userextras/scopes"], ["view"], AUTHN))
    assert first_denied(allowed, headers[:2]) is None
    assert first_denied(allowed, headers[:3]) == check("userextras", "edit", group=AUTHN, sub="scopes")


def test_order_is_user_groups_extras_uid():
    headers = (("Impersonate-Uid", "9"), ("Impersonate-Extra-k", "v"), ("Impersonate-Group", "g"),
               ("Impersonate-User", "bob"))
    _, checks = impersonation_checks(ALICE, headers)
    assert [c.resource for c in checks] == ["users", "groups", "userextras", "uids"]


@pytest.mark.parametrize("headers", [
    (("Impersonate-Group", "system:masters"),),
    (("Impersonate-Extra-scopes", "view"),),
    (("Impersonate-Uid", "1234"),),
    (("Impersonate-User", ""), ("Impersonate-Group", "devs")),
])
def test_anything_without_a_user_is_an_internal_error_as_in_kube(headers):
    for call in (lambda: impersonation_checks(ALICE, headers), lambda: impersonated_user(headers)):
        with pytest.raises(ApiError) as caught:
            call()
        assert caught.value.code == 500
        assert caught.value.message.endswith("without impersonating a user")


def test_anonymous_and_unauthenticated_groups():
    anonymous = impersonation_checks(ALICE, (("Impersonate-User", "system:anonymous"),))[0]
    assert anonymous == UserInfo("system:anonymous", ("system:unauthenticated",))
    unauthenticated = (("Impersonate-User", "bob"), ("Impersonate-Group", "system:unauthenticated"))
    assert impersonation_checks(ALICE, unauthenticated)[0].groups == ("system:unauthenticated",)


def test_requester_groups_and_extras_never_carry_over():
    requester = UserInfo("alice", ("system:masters", "system:authenticated"))
    user, checks = impersonation_checks(requester, (("Impersonate-User", "bob"),))
    assert user.groups == ("system:authenticated",)
    assert all(c.user == requester for c in checks)


def test_forbidden_message_is_kubes():
    error = impersonation_forbidden(ALICE, check("users", "x"))
    assert (error.code, error.reason) == (403, "Forbidden")
    assert error.message == ('users "x" is forbidden: User "alice" cannot impersonate resource "users" '
                             'in API group "" at the cluster scope')
    extra = impersonation_forbidden(ALICE, check("userextras", "view", group=AUTHN, sub="scopes"), "no rule")
    assert extra.message == ('userextras.authentication.k8s.io "view" is forbidden: User "alice" cannot impersonate '
                             'resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope: '
                             'no rule')
    account = impersonation_forbidden(ALICE, check("serviceaccounts", "builder", namespace="ci"))
    assert account.message.endswith('resource "serviceaccounts" in API group "" in the namespace "ci"')


def test_a_guard_variant_changes_where_the_filter_asks():
    class AsksInRequestNamespace(EscalationGuard):
        def impersonation_namespace(self, resource, own_namespace, request_namespace):
            return own_namespace or request_namespace

    filter_ = Impersonation(AsksInRequestNamespace(None))
    _, checks = filter_.checks(ALICE, (("Impersonate-User", "bob"),), namespace="ci")
    assert checks == (check("users", "bob", namespace="ci"),)


NAMES = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}\Z")


@settings(max_examples=100, deadline=None)
@given(user=NAMES, groups=st.lists(NAMES, max_size=3), uid=st.one_of(st.just(""), NAMES))
def test_checks_agree_with_the_escalation_guard(user, groups, uid):
    """The filter asks exactly what ``EscalationGuard.can_impersonate`` would (differential)."""
    headers = [("Impersonate-User", user)] + [("Impersonate-Group", g) for g in groups]
    headers += [("Impersonate-Uid", uid)] if uid else []
    _, checks = impersonation_checks(ALICE, headers)
    expected = EscalationGuard(None).impersonation_requests(ALICE, UserInfo(user, tuple(groups)), uid=uid)
    assert sorted(map(repr, checks)) == sorted(map(repr, expected))
    assert impersonated_user(headers) == Impersonated(impersonation_checks(ALICE, headers)[0], uid)
