"""The plain observations the apiserver invariants judge. The checks build them from what the
simulated cluster did (the audit log, the clients' calls and watch streams, the store's
committed changes); nothing here imports impl/ or checks/.

Objects are JSON dicts as Kubernetes writes them. Ticks are the world's integer time. A store
revision is also an object's resourceVersion.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Step", "AuditRecord", "Change", "Call", "WatchStream", "Identity", "ApiView"]


@attrs.frozen
class Step:
    name: str  # authentication | impersonation | authorization | mutating:P | validation | validating:P |
    #            persist | retry | watch
    outcome: str  # ok | changed | skipped | refused | conflict


@attrs.frozen
class AuditRecord:
    """One request as its instance's audit event recorded it."""

    audit_id: str
    instance: str
    client: str
    verb: str  # get | list | watch | create | update | patch | delete | deletecollection | (non-resource: get)
    operation: str  # CREATE | UPDATE | DELETE | "" (reads)
    resource: str  # plural; "" for a non-resource request
    group: str
    subresource: str
    namespace: str
    name: str
    path: str
    user: str  # the effective user (after impersonation)
    groups: tuple[str, ...]
    authenticated_as: str  # the user authentication found (before impersonation)
    method: str  # x509 | token | serviceaccount | anonymous | "" (refused)
    token_account_uid: str  # the uid a service-account token names; "" otherwise
    steps: tuple[Step, ...]
    code: int
    received: int
    completed: int
    persisted_revision: int  # 0 when nothing was written
    policy_revision: int  # the RBAC policy the authorizer used was current at this revision
    request_id: int = 0  # the client's request id: with ``client``, names the Call it answered
    token_pod_uid: str = ""  # the pod a bound service-account token names ("" otherwise)


@attrs.frozen
class Change:
    """One committed change of one object in the store (from the replicated log), in order."""

    revision: int
    key: str  # /registry/<resource>/[<ns>/]<name>
    resource: str  # the storage resource (the plural; "minions" for nodes)
    namespace: str
    name: str
    object: dict[str, Any] | None = attrs.field(eq=False)  # None: deleted
    previous: dict[str, Any] | None = attrs.field(eq=False, default=None)


@attrs.frozen
class Call:
    """One request a client made and what it got back (or not: code 0 when it never heard)."""

    client: str
    request_id: int
    instance: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    verb: str
    resource: str
    namespace: str
    name: str
    precondition: int  # the resourceVersion the write named (0: none)
    started: int
    finished: int | None
    code: int
    body: Any = attrs.field(eq=False)
    identity: str  # the harness's name for the credential used (see Identity)
    precondition_uid: str = ""  # the uid a delete named in its DeleteOptions preconditions ("": none)
    patch: Any = attrs.field(eq=False, default=None)  # a PATCH's body, decoded (None otherwise)


@attrs.frozen
class WatchStream:
    """One watch request: its scope, where it started, and everything it received in order."""

    client: str
    request_id: int
    instance: str
    resource: str  # plural
    group: str
    namespace: str  # "" for all namespaces
    label_selector: str
    field_selector: str
    from_revision: int  # the resourceVersion it asked to start after (0: unset or "0")
    events: tuple[tuple[str, int, Any], ...] = attrs.field(eq=False)  # (type, resourceVersion, object)
    closed: bool = False
    error_code: int = 0  # a 410 or other refusal instead of a stream


@attrs.frozen
class Identity:
    """A credential the harness hands a client, and who it must authenticate as."""

    name: str  # the harness's name (alice, admin, anonymous, sa:ns1:builder, ...)
    kind: str  # x509 | token | serviceaccount | anonymous
    user: str
    groups: tuple[str, ...]  # as the credential names them (certificate O, token file groups)
    namespace: str = ""  # a service account's
    expires: int = 0  # the tick after which the credential is no longer valid (a certificate's notAfter); 0: never


@attrs.frozen
class ApiView:
    """Everything one check of the apiserver invariants looks at."""

    audits: tuple[AuditRecord, ...] = ()
    changes: tuple[Change, ...] = ()
    calls: tuple[Call, ...] = ()
    watches: tuple[WatchStream, ...] = ()
    identities: tuple[Identity, ...] = ()
    # Problems the checks computed with the reference's own rules (schema validation, pod
    # security, webhook rules, mutating fixpoint) for each persisted object: (revision, key, problem).
    admission_problems: tuple[tuple[int, str, str], ...] = ()
    # The bootstrap Roles, ClusterRoles and bindings (dicts as the API returns them) that the
    # authorizer holds besides the RBAC objects in the store.
    base_policy: tuple[dict, ...] = ()
