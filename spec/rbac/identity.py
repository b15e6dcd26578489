"""Who a request is: the groups authentication gives each kind of identity, and what impersonating
one must be authorized for.

Kubernetes documentation, "Authenticating": every authenticated user is in
``system:authenticated``; a service account NS/NAME is user ``system:serviceaccount:NS:NAME`` in
``system:serviceaccounts`` and ``system:serviceaccounts:NS``; a request without credentials is
``system:anonymous`` in ``system:unauthenticated``. "User impersonation": each impersonated
attribute is authorized on its own with verb ``impersonate``; k8s.io/apiserver
``pkg/endpoints/filters/impersonation.go`` asks for a service account in its namespace and for
users, groups, uids and extras with no namespace.

Plain values only (spec/ imports nothing from impl/).
"""

from __future__ import annotations

__all__ = ["AUTHENTICATED", "UNAUTHENTICATED", "ANONYMOUS", "SERVICE_ACCOUNTS", "expected_identity",
           "impersonation_checks", "AUTHENTICATION_GROUP"]

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICE_ACCOUNTS = "system:serviceaccounts"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
AUTHENTICATION_GROUP = "authentication.k8s.io"


def expected_identity(kind: str, name: str, namespace: str, claimed: tuple[str, ...]) -> tuple[str, frozenset[str]]:
    """The user name and the exact set of groups a credential must authenticate as. ``kind`` is
    ``x509``, ``token``, ``serviceaccount`` or ``anonymous``; ``claimed`` the groups it names."""
    groups = set(claimed)
    if kind == "anonymous":
        return ANONYMOUS, frozenset(groups | {UNAUTHENTICATED})
    if kind == "serviceaccount":
        groups |= {SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}"}
        name = f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
    if not groups & {AUTHENTICATED, UNAUTHENTICATED}:
        groups.add(AUTHENTICATED)  # the authenticated-group adder leaves a credential that says which alone
    return name, frozenset(groups)


def impersonation_checks(user: str, groups: tuple[str, ...], uid: str = "",
                         extra: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, str, str, str, str]]:
    """Each ``(api_group, resource, subresource, name, namespace)`` on which the requester must be
    allowed ``impersonate`` to act as ``user`` claiming ``groups``, ``uid`` and ``extra``."""
    if user.startswith(SERVICE_ACCOUNT_PREFIX) and user.count(":") == 3:
        namespace, account = user[len(SERVICE_ACCOUNT_PREFIX):].split(":")
        checks = [("", "serviceaccounts", "", account, namespace)]
    else:
        checks = [("", "users", "", user, "")]
    checks += [("", "groups", "", group, "") for group in groups]
    checks += [(AUTHENTICATION_GROUP, "uids", "", uid, "")] if uid else []
    checks += [(AUTHENTICATION_GROUP, "userextras", key, value, "") for key, value in extra]
    return checks
