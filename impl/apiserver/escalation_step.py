"""RBAC escalation prevention on writes of roles and bindings, as the RBAC registry does it.

Source: kubernetes ``pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/
policybased/storage.go``: before a Role/ClusterRole is stored, the writer must hold every rule
in it (or may ``escalate`` it); before a binding is stored, the writer must hold every rule of
the role it refers to (or may ``bind`` it); ``system:masters`` skips both. The check runs after
mutating admission and before validation (inside the registry's Create/Update). The decision
itself is ``authz.EscalationGuard``'s, over the policy in the instance's caches.
"""

from __future__ import annotations

from typing import Any

from impl.apiserver.authz.escalation import EscalationGuard
from impl.apiserver.authz.manifests import ManifestError, policy_from_objects
from impl.apiserver.authz.types import Binding, Role
from impl.apiserver.status import ApiError

__all__ = ["EscalationCheck", "RBAC_KINDS"]

RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


class EscalationCheck:
    def __init__(self, server: Any) -> None:
        self.server = server

    def check(self, attributes) -> str:
        """"skipped" for anything but a role or binding write; "ok"; or Forbidden."""
        if attributes.resource.kind not in RBAC_KINDS or attributes.object is None or attributes.subresource:
            return "skipped"
        parsed = self.parse(attributes.object)
        if parsed is None:
            return "skipped"  # malformed: schema validation, next, refuses it
        guard = EscalationGuard(self.server.rbac_authorizer())
        user = attributes.user
        if isinstance(parsed, Role):
            if guard.can_write_role(user, parsed):
                return "ok"
            why = "is attempting to grant RBAC permissions not currently held"
        else:
            if guard.can_write_binding(user, parsed):
                return "ok"
            why = f"cannot bind {parsed.role_ref.kind} {parsed.role_ref.name}: it grants permissions not held"
        resource = attributes.resource
        raise ApiError.forbidden(resource.plural, attributes.name,
                                 f'user "{user.name}" (groups={list(user.groups)}) {why}', resource.group)

    @staticmethod
    def parse(obj: dict[str, Any]) -> Role | Binding | None:
        try:
            policy = policy_from_objects([obj], "<request>")
        except ManifestError:
            return None
        found = policy.roles + policy.bindings
        return found[0] if found else None
