"""The authorizer chain and the trivial authorizers.

The API server runs the configured modes in order (``--authorization-mode=Node,RBAC,...``); the
first Allow or Deny decides, NoOpinion passes to the next one, and when every authorizer has no
opinion the request is forbidden (k8s.io/apiserver ``pkg/authorization/union``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from impl.apiserver.authz.types import Decision, Request

__all__ = ["Authorizer", "AlwaysAllow", "AlwaysDeny", "PrivilegedGroups", "UnionAuthorizer", "allowed"]


class Authorizer(Protocol):
    def authorize(self, request: Request) -> Decision: ...


class AlwaysAllow:
    """``--authorization-mode=AlwaysAllow``: every request is allowed (test clusters only)."""

    def authorize(self, request: Request) -> Decision:
        return Decision.ALLOW


class AlwaysDeny:
    """``--authorization-mode=AlwaysDeny``: every request is denied."""

    def authorize(self, request: Request) -> Decision:
        return Decision.DENY


class PrivilegedGroups:
    """What the API server puts in front of the configured modes: members of ``system:masters``
    are allowed everything, whatever RBAC says (k8s.io/apiserver ``authorizerfactory``
    ``NewPrivilegedGroups``), which is why that group cannot be locked out."""

    def __init__(self, groups: Sequence[str] = ("system:masters",)) -> None:
        self.groups = tuple(groups)

    def authorize(self, request: Request) -> Decision:
        if any(group in request.user.groups for group in self.groups):
            return Decision.ALLOW
        return Decision.NO_OPINION


class UnionAuthorizer:
    """The chain: asks each authorizer in order until one is decisive."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)

    def is_decisive(self, decision: Decision) -> bool:
        return decision is not Decision.NO_OPINION

    def authorize(self, request: Request) -> Decision:
        for authorizer in self.authorizers:
            decision = authorizer.authorize(request)
            if self.is_decisive(decision):
                return decision
        return Decision.NO_OPINION

    def decisions(self, request: Request) -> list[Decision]:
        """What every member says on its own (for checking the chain against its definition)."""
        return [a.authorize(request) for a in self.authorizers]


def allowed(decision: Decision) -> bool:
    """The API server serves a request only on Allow; Deny and a chain-wide NoOpinion are 403."""
    return decision is Decision.ALLOW
