"""Audit events: one per request, recording every step of the pipeline it went through.

Source: the audit.k8s.io/v1 ``Event`` (auditID, stage, requestURI, verb, user, impersonatedUser,
objectRef, responseStatus, requestObject at level Request, annotations) and kube-apiserver's
audit annotations (``authorization.k8s.io/decision``, the admission plugins'). What is added
here, as the checks need it: ``steps``, the pipeline's steps in the order they ran, each with
its outcome (kube records the same facts as annotations, unordered), and the store revision a
write was persisted at.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["AuditEvent", "AuditStep", "LEVELS"]

LEVELS = ("None", "Metadata", "Request")


@attrs.frozen
class AuditStep:
    name: str  # authentication | impersonation | authorization | mutating:PLUGIN | validation |
    #            validating:PLUGIN | persist
    outcome: str  # ok | changed | refused | error | skipped
    detail: str = ""
    tick: int = 0


@attrs.define
class AuditEvent:
    audit_id: str
    instance: str
    client: str
    request_id: int
    verb: str
    request_uri: str
    received: int  # tick of RequestReceived
    level: str = "Metadata"
    user: str = ""
    groups: tuple[str, ...] = ()
    impersonated_user: str = ""
    authentication_method: str = ""
    authenticated_as: str = ""  # before impersonation
    token_account_uid: str = ""  # the service account uid a bound token names
    token_pod_uid: str = ""  # the pod uid a bound token names
    resource: str = ""
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    steps: list[AuditStep] = attrs.field(factory=list)
    code: int = 0
    reason: str = ""
    completed: int | None = None  # tick of ResponseComplete
    persisted_revision: int = 0  # the store revision a write created
    policy_revision: int = 0  # the revision of the RBAC policy the authorizer read
    request_object: Any = None  # level Request only
    annotations: dict[str, str] = attrs.field(factory=dict)

    def step(self, name: str, outcome: str, detail: str = "", tick: int = 0) -> None:
        self.steps.append(AuditStep(name, outcome, detail, tick))

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def describe(self) -> str:
        who = self.user + (f" as {self.impersonated_user}" if self.impersonated_user else "")
        trail = " -> ".join(f"{s.name}({s.outcome})" for s in self.steps)
        return f"{self.audit_id} {who} {self.verb} {self.request_uri} {self.code}: {trail}"
