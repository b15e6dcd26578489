"""Who a request is after authentication: the user name and the groups each kind of identity gets.

Sources: Kubernetes documentation, "Authenticating" (Users in Kubernetes; X509 client
certificates; Service account tokens; Anonymous requests) and k8s.io/apiserver
``pkg/authentication/group`` (the authenticated-group adder), ``pkg/authentication/serviceaccount``
(``MakeUsername``, ``MakeGroupNames``). The facts a learner should keep:

- a certificate (CN is the user, each O a group) or a token is a user with the groups it names,
  plus ``system:authenticated``, which the API server adds to every authenticated user (unless
  the credential already names ``system:authenticated`` or ``system:unauthenticated``);
- a service account token is user ``system:serviceaccount:NS:NAME`` in ``system:serviceaccounts``,
  ``system:serviceaccounts:NS`` and ``system:authenticated``;
- a request without credentials (when anonymous auth is on) is ``system:anonymous`` in
  ``system:unauthenticated`` only, so a binding to ``system:authenticated`` never reaches it.

Each rule is one small method of ``Authenticator``, so a catalog bug replaces exactly one.
"""

from __future__ import annotations

import attrs

from impl.apiserver.authz.types import (
    ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo, parse_service_account_user, service_account_user,
)

__all__ = ["CREDENTIAL_KINDS", "Credential", "Authenticator", "SERVICE_ACCOUNTS_GROUP", "credential_for"]

CREDENTIAL_KINDS = ("x509", "token", "serviceaccount", "anonymous")
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"


@attrs.frozen
class Credential:
    """What a request carries: ``kind`` one of ``CREDENTIAL_KINDS``; ``name`` the user (a
    certificate's CN) or the service account's name; ``namespace`` the service account's;
    ``groups`` the groups the credential names (a certificate's O fields)."""

    kind: str
    name: str = ""
    namespace: str = ""
    groups: tuple[str, ...] = ()

    def describe(self) -> str:
        claimed = f" naming groups {', '.join(self.groups)}" if self.groups else ""
        if self.kind == "serviceaccount":
            return f"service account token {self.namespace}/{self.name}{claimed}"
        if self.kind == "anonymous":
            return f"anonymous request{claimed}"
        return f"{'client certificate' if self.kind == 'x509' else 'token'} of {self.name}{claimed}"


def credential_for(user: str, groups: tuple[str, ...] = ()) -> Credential:
    """The credential behind a user name as ``kubectl --as`` names it: a service account's user
    name is its token, ``system:anonymous`` is no credential, anything else a token."""
    if user == ANONYMOUS:
        return Credential("anonymous", groups=tuple(groups))
    account = parse_service_account_user(user)
    if account is not None:
        return Credential("serviceaccount", account[1], account[0], tuple(groups))
    return Credential("token", user, groups=tuple(groups))


class Authenticator:
    """Turns a credential into the ``UserInfo`` every authorizer sees (the reference)."""

    def authenticate(self, credential: Credential) -> UserInfo:
        if credential.kind == "anonymous":
            return self.anonymous(credential.groups)
        if credential.kind == "serviceaccount":
            return self.service_account(credential.namespace, credential.name, credential.groups)
        return self.user(credential.name, credential.groups)

    def user(self, name: str, groups: tuple[str, ...]) -> UserInfo:
        return UserInfo(name, _unique(groups + self.added_groups(groups)))

    def added_groups(self, groups: tuple[str, ...]) -> tuple[str, ...]:
        """What the authenticated-group adder puts on an authenticated user: system:authenticated,
        unless the credential already says which of the two it is in."""
        if AUTHENTICATED in groups or UNAUTHENTICATED in groups:
            return ()
        return (AUTHENTICATED,)

    def service_account(self, namespace: str, name: str, groups: tuple[str, ...] = ()) -> UserInfo:
        granted = groups + self.service_account_groups(namespace)
        return UserInfo(service_account_user(namespace, name), _unique(granted + self.added_groups(granted)))

    def service_account_groups(self, namespace: str) -> tuple[str, ...]:
        return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")

    def anonymous(self, groups: tuple[str, ...] = ()) -> UserInfo:
        return UserInfo(ANONYMOUS, _unique(groups + self.anonymous_groups()))

    def anonymous_groups(self) -> tuple[str, ...]:
        return (UNAUTHENTICATED,)


def _unique(groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(groups))
