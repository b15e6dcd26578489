"""The resource types the server serves, as discovery lists them, and where each is stored.

Each ``ResourceType`` names its group, version, kind, plural (the URL segment), whether it lives
in a namespace, its subresources, and its storage prefix under ``/registry`` (the API server's
etcd layout: nodes are stored as ``minions``, a name kept from Kubernetes' early days).
Source: ``kubectl api-resources`` of Kubernetes 1.30 and ``pkg/registry/*/storage``.
"""

from __future__ import annotations

import attrs

__all__ = ["ResourceType", "RESOURCES", "resource_for", "resource_for_kind", "api_version_of", "UnknownResource"]


class UnknownResource(LookupError):
    pass


@attrs.frozen
class ResourceType:
    group: str  # "" is the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    storage: str = ""  # the segment after /registry/; the plural unless it differs
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_resource(self) -> str:
        return self.storage or self.plural

    @property
    def qualified(self) -> str:
        """``deployments.apps``, ``pods``: how errors and RBAC name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str = "") -> str:
        """The REST path: /api/v1/namespaces/NS/pods/NAME/status and the like."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [root]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


def _core(kind: str, plural: str, namespaced: bool = True, sub: tuple[str, ...] = (), **more) -> ResourceType:
    return ResourceType("", "v1", kind, plural, namespaced, sub, **more)


RESOURCES: tuple[ResourceType, ...] = (
    _core("Namespace", "namespaces", False, ("status", "finalize"), short_names=("ns",)),
    _core("Pod", "pods", True, ("status", "binding"), short_names=("po",)),
    _core("Service", "services", True, ("status",), short_names=("svc",)),
    _core("Endpoints", "endpoints", True, short_names=("ep",)),
    _core("ConfigMap", "configmaps", True, short_names=("cm",)),
    _core("Secret", "secrets", True),
    _core("ServiceAccount", "serviceaccounts", True, short_names=("sa",)),  # token (TokenRequest): not served
    _core("Node", "nodes", False, ("status",), storage="minions", short_names=("no",)),
    _core("ResourceQuota", "resourcequotas", True, ("status",), short_names=("quota",)),
    _core("LimitRange", "limitranges", True, short_names=("limits",)),
    _core("PersistentVolume", "persistentvolumes", False, ("status",), short_names=("pv",)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", True, ("status",), short_names=("pvc",)),
    ResourceType("apps", "v1", "Deployment", "deployments", True, ("status", "scale"), short_names=("deploy",)),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("status", "scale"), short_names=("rs",)),
    ResourceType("batch", "v1", "Job", "jobs", True, ("status",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, short_names=("sc",)),
    ResourceType("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
                 "mutatingwebhookconfigurations", False),
    ResourceType("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
                 "validatingwebhookconfigurations", False),
)

_BY_GROUP_PLURAL = {(r.group, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
_BY_NAME = {name: r for r in RESOURCES for name in (r.plural, r.kind.lower(), r.qualified, *r.short_names)}


def resource_for(group: str, plural: str) -> ResourceType:
    try:
        return _BY_GROUP_PLURAL[(group, plural)]
    except KeyError:
        raise UnknownResource(f"the server could not find the requested resource {plural}"
                              f"{'.' + group if group else ''}") from None


def resource_for_kind(api_version: str, kind: str) -> ResourceType:
    try:
        return _BY_KIND[(api_version, kind)]
    except KeyError:
        raise UnknownResource(f'no matches for kind "{kind}" in version "{api_version}"') from None


def resource_named(name: str) -> ResourceType:
    """As kubectl resolves a TYPE word: plural, singular, short name or plural.group."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        raise UnknownResource(f'the server doesn\'t have a resource type "{name}"') from None


def api_version_of(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


__all__.append("resource_named")
