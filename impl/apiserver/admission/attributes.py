"""What every admission plugin sees: the request's attributes, the object, and a read-only view
of the cluster the plugin may consult (the instance's watch cache, as kube-apiserver's plugins
read through informers).

Source: k8s.io/apiserver ``pkg/admission`` (``Attributes``, ``MutationInterface``,
``ValidationInterface``). A plugin refuses by raising ``ApiError`` (Forbidden for policy,
Invalid for a malformed object, NotFound when something the request needs is missing); a
mutating plugin changes ``attributes.object`` in place.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from impl.apiserver.authz.types import UserInfo
from impl.apiserver.resources import ResourceType

__all__ = ["OPERATIONS", "AdmissionAttributes", "Lookup", "MutatingPlugin", "ValidatingPlugin"]

OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


@attrs.define
class AdmissionAttributes:
    operation: str  # one of OPERATIONS
    resource: ResourceType
    subresource: str  # "" for the main resource
    namespace: str  # "" for a cluster-scoped resource
    name: str
    user: UserInfo
    object: dict[str, Any] | None  # the new object (mutating plugins edit it); None on DELETE
    old_object: dict[str, Any] | None = None  # the stored object on UPDATE and DELETE
    now: int = 0  # the server's tick, for timestamps plugins write

    @property
    def kind(self) -> str:
        return self.resource.kind


class Lookup(Protocol):
    """Read-only cluster state: objects as last seen by this instance (may lag the store)."""

    def get(self, plural: str, namespace: str | None, name: str, group: str = "") -> dict[str, Any] | None: ...

    def list(self, plural: str, namespace: str | None, group: str = "") -> list[dict[str, Any]]: ...


class MutatingPlugin(Protocol):
    name: str

    def handles(self, attributes: AdmissionAttributes) -> bool: ...

    def admit(self, attributes: AdmissionAttributes, lookup: Lookup) -> None: ...


class ValidatingPlugin(Protocol):
    name: str

    def handles(self, attributes: AdmissionAttributes) -> bool: ...

    def validate(self, attributes: AdmissionAttributes, lookup: Lookup) -> None: ...
