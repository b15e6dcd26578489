"""The values every authorizer reads: RBAC policy objects, the user, the request, the decision.

They mirror the Kubernetes API types (``rbac.authorization.k8s.io/v1`` and the authorizer's
``Attributes``) as small frozen values; lists become sorted-or-ordered tuples so that values hash
and compare. Field names follow Kubernetes, in snake case.
"""

from __future__ import annotations

import enum

import attrs

__all__ = [
    "RBAC_GROUP", "PolicyRule", "LabelSelectorRequirement", "LabelSelector", "Role", "RoleRef",
    "Subject", "Binding", "UserInfo", "Request", "Decision", "SERVICE_ACCOUNT_PREFIX",
    "AUTHENTICATED", "UNAUTHENTICATED", "ANONYMOUS", "MASTERS", "service_account_user",
    "parse_service_account_user",
]

RBAC_GROUP = "rbac.authorization.k8s.io"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
MASTERS = "system:masters"


@attrs.frozen
class PolicyRule:
    """One rule of a Role or ClusterRole: which verbs on which resources or URLs it allows.

    A resource rule has ``api_groups`` and ``resources`` (``resources`` may hold ``pods/log``
    style subresources and ``*/scale``); a non-resource rule has ``non_resource_urls`` instead.
    An empty ``resource_names`` means any name.
    """

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()


@attrs.frozen
class LabelSelectorRequirement:
    """``matchExpressions`` entry: ``key`` ``operator`` (In, NotIn, Exists, DoesNotExist) ``values``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@attrs.frozen
class LabelSelector:
    """A metav1.LabelSelector. Every requirement must hold; an empty selector matches every object."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


@attrs.frozen
class Role:
    """A Role (``namespace`` set) or ClusterRole (``namespace`` is ``""``).

    ``aggregation`` holds a ClusterRole's ``aggregationRule.clusterRoleSelectors``; ``None``
    means the role is not aggregated. An aggregated role's own ``rules`` are what the
    aggregation controller last wrote; the authorizer recomputes them (see ``aggregate``).
    """

    kind: str  # "Role" | "ClusterRole"
    name: str
    namespace: str = ""
    rules: tuple[PolicyRule, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    aggregation: tuple[LabelSelector, ...] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


@attrs.frozen
class RoleRef:
    kind: str  # "Role" | "ClusterRole"
    name: str


@attrs.frozen
class Subject:
    """A binding subject: ``User``, ``Group`` or ``ServiceAccount`` (which has a namespace)."""

    kind: str
    name: str
    namespace: str = ""

    def describe(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace or '<binding namespace>'}/{self.name}"
        return f"{self.kind} {self.name}"


@attrs.frozen
class Binding:
    """A RoleBinding (``namespace`` set) or ClusterRoleBinding (``namespace`` is ``""``)."""

    kind: str  # "RoleBinding" | "ClusterRoleBinding"
    name: str
    role_ref: RoleRef
    subjects: tuple[Subject, ...] = ()
    namespace: str = ""

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} -> {self.role_ref.kind} {self.role_ref.name}"


@attrs.frozen
class UserInfo:
    """Who asks: the authenticated user name and its groups."""

    name: str
    groups: tuple[str, ...] = ()

    @classmethod
    def authenticated(cls, name: str, groups: tuple[str, ...] = ()) -> "UserInfo":
        """A user as the API server sees it after authentication (``identity.Authenticator``):
        every authenticated user is in ``system:authenticated``; a service account is also in
        ``system:serviceaccounts`` and ``system:serviceaccounts:NS``; anonymous is in
        ``system:unauthenticated`` instead."""
        from impl.apiserver.authz.identity import Authenticator, credential_for  # identity builds on this module

        return Authenticator().authenticate(credential_for(name, tuple(groups)))


@attrs.frozen
class Request:
    """The authorizer ``Attributes``: a resource request or a non-resource (URL) request."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""

    def describe(self) -> str:
        if not self.resource_request:
            return f"{self.verb} {self.path}"
        kind = self.resource + (f".{self.api_group}" if self.api_group else "")
        target = kind + (f"/{self.name}" if self.name else "")
        sub = f" (subresource {self.subresource})" if self.subresource else ""
        scope = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {target}{sub}{scope}"


class Decision(enum.Enum):
    """An authorizer's answer. Only the chain turns NoOpinion into "forbidden"."""

    ALLOW = "Allow"
    DENY = "Deny"
    NO_OPINION = "NoOpinion"


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def parse_service_account_user(user: str) -> tuple[str, str] | None:
    """``system:serviceaccount:NS:NAME`` -> (NS, NAME); anything else -> None."""
    if not user.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = user[len(SERVICE_ACCOUNT_PREFIX):].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]
