"""ABAC: a list of policy lines, one JSON object each (``--authorization-policy-file``).

Source: kubernetes/kubernetes ``pkg/auth/authorizer/abac``. A line allows a request when its
subject matches (``user`` or ``group``, ``*`` for anyone), ``readonly`` lines only allow get,
list and watch, and either its resource part (namespace, apiGroup, resource, each exact or ``*``)
matches a resource request or its ``nonResourcePath`` (exact, ``*``, or a ``prefix*``) matches a
URL. ABAC answers Allow or NoOpinion.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

from impl.apiserver.authz.types import Decision, Request

__all__ = ["AbacPolicy", "AbacAuthorizer", "parse_abac"]

READONLY_VERBS = ("get", "list", "watch")


@attrs.frozen
class AbacPolicy:
    user: str = ""
    group: str = ""
    readonly: bool = False
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    non_resource_path: str = ""


def parse_abac(text: str, filename: str) -> tuple[AbacPolicy, ...]:
    """One policy per non-blank line, ``{"apiVersion": "abac.authorization.kubernetes.io/v1beta1",
    "kind": "Policy", "spec": {...}}``; a bad line raises ValueError ``file:line: message``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            spec = json.loads(line)["spec"]
            found.append(AbacPolicy(
                user=spec.get("user", ""), group=spec.get("group", ""), readonly=bool(spec.get("readonly", False)),
                namespace=spec.get("namespace", ""), api_group=spec.get("apiGroup", ""),
                resource=spec.get("resource", ""), non_resource_path=spec.get("nonResourcePath", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{filename}:{number}: invalid ABAC policy line: {error}") from None
    return tuple(found)


def _wild_or_equal(pattern: str, value: str) -> bool:
    return pattern == "*" or pattern == value


class AbacAuthorizer:
    def __init__(self, policies: Sequence[AbacPolicy]) -> None:
        self.policies = tuple(policies)

    def subject_matches(self, policy: AbacPolicy, request: Request) -> bool:
        user_ok = bool(policy.user) and _wild_or_equal(policy.user, request.user.name)
        group_ok = bool(policy.group) and (policy.group == "*" or policy.group in request.user.groups)
        return user_ok or group_ok

    def request_matches(self, policy: AbacPolicy, request: Request) -> bool:
        if policy.readonly and request.verb not in READONLY_VERBS:
            return False
        if request.resource_request:
            return (bool(policy.namespace) and _wild_or_equal(policy.namespace, request.namespace)
                    and bool(policy.resource) and _wild_or_equal(policy.resource, request.resource)
                    and bool(policy.api_group) and _wild_or_equal(policy.api_group, request.api_group))
        path = policy.non_resource_path
        if not path:
            return False
        return path == "*" or path == request.path or (path.endswith("*") and request.path.startswith(path[:-1]))

    def authorize(self, request: Request) -> Decision:
        for policy in self.policies:
            if self.subject_matches(policy, request) and self.request_matches(policy, request):
                return Decision.ALLOW
        return Decision.NO_OPINION
