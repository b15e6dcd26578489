"""User impersonation: a request acting as another user, with what the requester may impersonate.

Sources: Kubernetes documentation, "Authenticating" > "User impersonation"; k8s.io/apiserver
``pkg/endpoints/filters/impersonation.go`` (``WithImpersonation``, ``buildImpersonationRequests``)
and ``pkg/endpoints/handlers/responsewriters/errors.go`` (``Forbidden``, ``forbiddenMessage``);
``pkg/authentication/serviceaccount`` (``SplitUsername``).

The rules:

- Headers: ``Impersonate-User`` (first value; empty means absent), ``Impersonate-Group``
  (repeatable), ``Impersonate-Uid``, ``Impersonate-Extra-<key>`` (repeatable; the key is
  lowercased *then* percent-decoded, so ``%41`` stays an upper-case ``A``; a malformed escape keeps
  the key as sent). Header names are case-insensitive.
- Groups, extras or a uid without a user: the filter refuses the request with an *internal error*
  (HTTP 500, "requested [...] without impersonating a user"); it is neither 400 nor 403 in kube.
- One ``impersonate`` check per attribute, in the filter's order: the user (``users``, or
  ``serviceaccounts`` in the account's namespace when the name is a valid
  ``system:serviceaccount:NS:NAME``), each group (``groups``), each extra value
  (``userextras/<key>`` in authentication.k8s.io), the uid (``uids`` in authentication.k8s.io).
  All but the service account are asked with no namespace, so only a ClusterRoleBinding grants
  them (``EscalationGuard.impersonation_namespace``). The first denied check answers 403.
- The result: a service account impersonated without groups gets ``system:serviceaccounts`` and
  ``system:serviceaccounts:NS``; any non-anonymous user gets ``system:authenticated`` unless the
  groups already hold it or ``system:unauthenticated``; ``system:anonymous`` gets
  ``system:unauthenticated``. Explicit groups are the only other groups, so ``system:masters`` is
  only ever had by naming it (and being allowed to impersonate it). The requester's own groups and
  extras never carry over.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import attrs

from impl.apiserver.authn import Extra, Headers, header_values
from impl.apiserver.authz.escalation import AUTHENTICATION_GROUP, EscalationGuard
from impl.apiserver.authz.identity import Authenticator
from impl.apiserver.authz.types import ANONYMOUS, Request, UserInfo, parse_service_account_user
from impl.apiserver.status import ApiError

__all__ = [
    "IMPERSONATE_USER", "IMPERSONATE_GROUP", "IMPERSONATE_UID", "IMPERSONATE_EXTRA_PREFIX",
    "ImpersonationHeaders", "Impersonated", "Impersonation", "impersonation_checks", "impersonated_user",
    "impersonation_forbidden", "split_service_account",
]

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
IMPERSONATE_UID = "Impersonate-Uid"
IMPERSONATE_EXTRA_PREFIX = "Impersonate-Extra-"
IMPERSONATED_VALUES_MAX = 1_000  # checks asked for one request

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAMESPACE = re.compile(f"^{_DNS_LABEL}$")
_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_ESCAPES = re.compile(r"%(?![0-9A-Fa-f]{2})")


@attrs.frozen
class ImpersonationHeaders:
    """What the impersonation headers of one request ask for."""

    user: str = ""
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Extra = ()

    @classmethod
    def parse(cls, headers: Headers) -> "ImpersonationHeaders":
        users = header_values(headers, IMPERSONATE_USER)
        uids = header_values(headers, IMPERSONATE_UID)
        return cls(users[0] if users else "", tuple(header_values(headers, IMPERSONATE_GROUP)),
                   uids[0] if uids else "", _extras(headers))

    @property
    def requested(self) -> bool:
        return bool(self.user or self.groups or self.uid or self.extra)

    def describe(self) -> str:
        asked = ([f"User {self.user}"] if self.user else []) + [f"Group {g}" for g in self.groups]
        asked += [f"UserExtra {key}={value}" for key, values in self.extra for value in values]
        return "[" + ", ".join(asked + ([f"UID {self.uid}"] if self.uid else [])) + "]"


def _extras(headers: Headers) -> Extra:
    """``Impersonate-Extra-<key>`` values grouped by key, keys in order of first appearance."""
    found: dict[str, list[str]] = {}
    prefix = IMPERSONATE_EXTRA_PREFIX.lower()
    for name, value in headers:
        if name.lower().startswith(prefix):
            found.setdefault(_extra_key(name[len(prefix):]), []).append(value)
    return tuple((key, tuple(values)) for key, values in found.items())


def _extra_key(encoded: str) -> str:
    """Lowercase, then ``url.PathUnescape``; a malformed escape keeps the key as sent."""
    lowered = encoded.lower()
    if _ESCAPES.search(lowered):
        return lowered
    return urllib.parse.unquote_to_bytes(lowered).decode("utf-8", errors="replace")


def split_service_account(user: str) -> tuple[str, str] | None:
    """``SplitUsername``: (NS, NAME) only when NS is a DNS label and NAME a DNS subdomain."""
    account = parse_service_account_user(user)
    if account is None or not _NAMESPACE.match(account[0]) or len(account[0]) > 63:
        return None
    if not _SUBDOMAIN.match(account[1]) or len(account[1]) > 253:
        return None
    return account


@attrs.frozen
class Impersonated:
    """The user the request goes on as: name and groups, and the uid and extras it was given."""

    user: UserInfo
    uid: str = ""
    extra: Extra = ()


class Impersonation:
    """The impersonation filter's rules (the reference). ``guard`` says where each check is asked."""

    def __init__(self, guard: EscalationGuard | None = None, identities: Authenticator | None = None) -> None:
        self.guard = guard or EscalationGuard(None)  # type: ignore[arg-type]  # only its rules are used
        self.identities = identities or Authenticator()

    def checks(self, requester: UserInfo, headers: Headers,
               namespace: str = "") -> tuple[UserInfo | None, tuple[Request, ...]]:
        """(the impersonated user, the checks that must all be allowed, in order), or (None, ())
        when the request impersonates nobody. Raises ApiError InternalError for groups, extras or
        a uid without a user."""
        asked = ImpersonationHeaders.parse(headers)
        if not asked.requested:
            return None, ()
        self.require_user(asked)
        return self.impersonated(asked).user, self.requests(requester, asked, namespace)

    def require_user(self, asked: ImpersonationHeaders) -> None:
        if not asked.user:
            raise ApiError("InternalError", f"requested {asked.describe()} without impersonating a user")

    def requests(self, requester: UserInfo, asked: ImpersonationHeaders, namespace: str = "") -> tuple[Request, ...]:
        wanted = [self.user_check(asked.user)]
        wanted += [("", "groups", "", group, "") for group in asked.groups]
        wanted += [(AUTHENTICATION_GROUP, "userextras", key, value, "")
                   for key, values in asked.extra for value in values]
        wanted += [(AUTHENTICATION_GROUP, "uids", "", asked.uid, "")] if asked.uid else []
        if len(wanted) > IMPERSONATED_VALUES_MAX:
            raise ApiError("BadRequest", f"{len(wanted)} impersonated values in one request; at most "
                                         f"{IMPERSONATED_VALUES_MAX}")
        return tuple(Request(user=requester, verb="impersonate", api_group=group, resource=resource, subresource=sub,
                             name=name, namespace=self.guard.impersonation_namespace(resource, own, namespace))
                     for group, resource, sub, name, own in wanted)

    def user_check(self, user: str) -> tuple[str, str, str, str, str]:
        account = split_service_account(user)
        if account is not None:
            return ("", "serviceaccounts", "", account[1], account[0])
        return ("", "users", "", user, "")

    def impersonated(self, asked: ImpersonationHeaders) -> Impersonated:
        return Impersonated(self.impersonated_user_info(asked.user, asked.groups), asked.uid, asked.extra)

    def impersonated_user_info(self, user: str, groups: tuple[str, ...]) -> UserInfo:
        account = split_service_account(user)
        if account is not None and not groups:
            return self.identities.service_account(account[0], account[1])
        if user == ANONYMOUS:
            return self.identities.anonymous(groups)
        return self.identities.user(user, groups)


_REFERENCE = Impersonation()


def impersonation_checks(requester: UserInfo, headers: Headers) -> tuple[UserInfo | None, tuple[Request, ...]]:
    """The reference filter's checks: see ``Impersonation.checks``."""
    return _REFERENCE.checks(requester, headers)


def impersonated_user(headers: Headers) -> Impersonated | None:
    """Who a request acts as when its checks pass (uid and extras included); None when it does not
    impersonate. Raises ApiError InternalError for groups, extras or a uid without a user."""
    asked = ImpersonationHeaders.parse(headers)
    if not asked.requested:
        return None
    _REFERENCE.require_user(asked)
    return _REFERENCE.impersonated(asked)


def impersonation_forbidden(requester: UserInfo, request: Request, reason: str = "") -> ApiError:
    """The 403 for a denied check, worded as ``responsewriters.Forbidden``:
    ``users "x" is forbidden: User "alice" cannot impersonate resource "users" in API group ""
    at the cluster scope`` (``: <reason>`` appended when the authorizer gave one)."""
    resource = request.resource + (f"/{request.subresource}" if request.subresource else "")
    scope = f"in the namespace {_quote(request.namespace)}" if request.namespace else "at the cluster scope"
    why = (f"User {_quote(requester.name)} cannot {request.verb} resource {_quote(resource)} "
           f"in API group {_quote(request.api_group)} {scope}")
    return ApiError.forbidden(request.resource, request.name, f"{why}: {reason}" if reason else why,
                              request.api_group)


def _quote(text: str) -> str:
    """Go's %q for the strings these messages hold."""
    return json.dumps(text, ensure_ascii=False)
