"""Turning ``kubectl auth can-i`` style arguments into authorizer requests.

kubectl resolves ``TYPE`` through the server's discovery: ``pods`` is core, ``deployments`` is
``apps``, ``deploy`` is a short name, ``pod`` a singular. Without a server we carry the part of
discovery that covers the built-in resources; an unknown type is taken literally in the group its
dotted suffix names (``widgets.example.com``), or the core group. A ``TYPE`` naming a cluster-scoped
resource (nodes, namespaces, clusterroles, ...) is asked cluster-wide, whatever ``-n`` says.
"""

from __future__ import annotations

import attrs

from impl.apiserver.authz.types import Request, UserInfo

__all__ = ["ResourceType", "BUILTIN_RESOURCES", "resolve_type", "is_builtin_type", "build_request", "identity",
           "can_i_command", "KNOWN_RESOURCE_VERBS", "KNOWN_URL_VERBS"]

# The verbs kubectl auth can-i knows (kubectl pkg/cmd/auth/cani.go); it warns about any other.
KNOWN_RESOURCE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "use",
                        "bind", "impersonate", "escalate", "approve", "sign", "attest", "*")
KNOWN_URL_VERBS = ("get", "put", "post", "head", "options", "delete", "patch", "*")


@attrs.frozen
class ResourceType:
    resource: str
    api_group: str
    namespaced: bool = True


# (plural, group, namespaced, other names kubectl accepts: singular and short names)
_BUILTINS: tuple[tuple[str, str, bool, tuple[str, ...]], ...] = (
    ("pods", "", True, ("pod", "po")), ("services", "", True, ("service", "svc")),
    ("secrets", "", True, ("secret",)), ("configmaps", "", True, ("configmap", "cm")),
    ("serviceaccounts", "", True, ("serviceaccount", "sa")), ("endpoints", "", True, ("ep",)),
    ("events", "", True, ("event", "ev")), ("persistentvolumeclaims", "", True, ("persistentvolumeclaim", "pvc")),
    ("replicationcontrollers", "", True, ("replicationcontroller", "rc")), ("limitranges", "", True, ("limitrange", "limits")),
    ("resourcequotas", "", True, ("resourcequota", "quota")), ("podtemplates", "", True, ("podtemplate",)),
    ("nodes", "", False, ("node", "no")), ("namespaces", "", False, ("namespace", "ns")),
    ("persistentvolumes", "", False, ("persistentvolume", "pv")), ("componentstatuses", "", False, ("cs",)),
    ("deployments", "apps", True, ("deployment", "deploy")), ("replicasets", "apps", True, ("replicaset", "rs")),
    ("statefulsets", "apps", True, ("statefulset", "sts")), ("daemonsets", "apps", True, ("daemonset", "ds")),
    ("controllerrevisions", "apps", True, ("controllerrevision",)),
    ("jobs", "batch", True, ("job",)), ("cronjobs", "batch", True, ("cronjob", "cj")),
    ("horizontalpodautoscalers", "autoscaling", True, ("horizontalpodautoscaler", "hpa")),
    ("ingresses", "networking.k8s.io", True, ("ingress", "ing")),
    ("networkpolicies", "networking.k8s.io", True, ("networkpolicy", "netpol")),
    ("ingressclasses", "networking.k8s.io", False, ("ingressclass",)),
    ("poddisruptionbudgets", "policy", True, ("poddisruptionbudget", "pdb")),
    ("roles", "rbac.authorization.k8s.io", True, ("role",)),
    ("rolebindings", "rbac.authorization.k8s.io", True, ("rolebinding",)),
    ("clusterroles", "rbac.authorization.k8s.io", False, ("clusterrole",)),
    ("clusterrolebindings", "rbac.authorization.k8s.io", False, ("clusterrolebinding",)),
    ("leases", "coordination.k8s.io", True, ("lease",)),
    ("storageclasses", "storage.k8s.io", False, ("storageclass", "sc")),
    ("csidrivers", "storage.k8s.io", False, ("csidriver",)), ("csinodes", "storage.k8s.io", False, ("csinode",)),
    ("volumeattachments", "storage.k8s.io", False, ("volumeattachment",)),
    ("customresourcedefinitions", "apiextensions.k8s.io", False, ("customresourcedefinition", "crd", "crds")),
    ("certificatesigningrequests", "certificates.k8s.io", False, ("certificatesigningrequest", "csr")),
    ("tokenreviews", "authentication.k8s.io", False, ("tokenreview",)),
    ("subjectaccessreviews", "authorization.k8s.io", False, ("subjectaccessreview",)),
    ("selfsubjectaccessreviews", "authorization.k8s.io", False, ("selfsubjectaccessreview",)),
    ("localsubjectaccessreviews", "authorization.k8s.io", True, ("localsubjectaccessreview",)),
    ("priorityclasses", "scheduling.k8s.io", False, ("priorityclass", "pc")),
    ("mutatingwebhookconfigurations", "admissionregistration.k8s.io", False, ("mutatingwebhookconfiguration",)),
    ("validatingwebhookconfigurations", "admissionregistration.k8s.io", False, ("validatingwebhookconfiguration",)),
    ("endpointslices", "discovery.k8s.io", True, ("endpointslice",)),
    ("events", "events.k8s.io", True, ()),
    ("apiservices", "apiregistration.k8s.io", False, ("apiservice",)),
    # What impersonation is authorized on (impersonation.go): no API serves these, and every one but
    # serviceaccounts is asked with no namespace, so only a ClusterRoleBinding grants it.
    ("users", "", False, ("user",)), ("groups", "", False, ("group",)),
    ("uids", "authentication.k8s.io", False, ("uid",)), ("userextras", "authentication.k8s.io", False, ()),
)

BUILTIN_RESOURCES: dict[str, ResourceType] = {}
_BY_GROUP: dict[tuple[str, str], ResourceType] = {}
for _plural, _group, _namespaced, _aliases in _BUILTINS:
    _type = ResourceType(_plural, _group, _namespaced)
    _BY_GROUP[(_plural, _group)] = _type
    for _name in (_plural,) + _aliases:
        BUILTIN_RESOURCES.setdefault(_name, _type)  # first wins: events is core before events.k8s.io


def resolve_type(text: str) -> ResourceType:
    """``pods`` -> core pods; ``deploy`` -> apps deployments; ``leases.coordination.k8s.io`` ->
    coordination leases; ``widgets.example.com`` -> widgets in example.com (namespaced)."""
    if text in BUILTIN_RESOURCES:
        return BUILTIN_RESOURCES[text]
    if "." in text:
        head, group = text.split(".", 1)
        plural = BUILTIN_RESOURCES[head].resource if head in BUILTIN_RESOURCES else head
        return _BY_GROUP.get((plural, group), ResourceType(plural, group, True))
    return ResourceType(text, "", True)


def is_builtin_type(text: str) -> bool:
    """Does kubectl's discovery of a stock cluster know ``text`` (``pods``, ``deploy``,
    ``leases.coordination.k8s.io``)?"""
    head, _, group = text.partition(".")
    plural = BUILTIN_RESOURCES[head].resource if head in BUILTIN_RESOURCES else head
    return text in BUILTIN_RESOURCES or (plural, group) in _BY_GROUP


def identity(user: str, groups: list[str] | tuple[str, ...]) -> UserInfo:
    """The user as authentication would present it (``--as`` / ``--as-group``)."""
    return UserInfo.authenticated(user, tuple(groups))


def build_request(user: UserInfo, verb: str, target: str, subresource: str = "", namespace: str = "default") -> Request:
    """A request from ``VERB (TYPE[/NAME] | URL)``; raises ValueError on a malformed target."""
    if not verb:
        raise ValueError("VERB must not be empty")
    if target.startswith("/"):
        if subresource:
            raise ValueError("--subresource does not apply to a URL")
        return Request(user=user, verb=verb, resource_request=False, path=target)
    type_text, _, name = target.partition("/")
    if not type_text or "/" in name:
        raise ValueError(f"expected TYPE[/NAME] or a URL starting with /, got {target!r}")
    kind = resolve_type(type_text)
    return Request(user=user, verb=verb, api_group=kind.api_group, resource=kind.resource, subresource=subresource,
                   name=name, namespace=namespace if kind.namespaced else "")


def can_i_command(request: Request, policy_file: str) -> str:
    """The ``kinv rbac can-i`` line that asks ``request`` again (groups that authentication adds
    on its own are left out)."""
    import shlex

    implied = set(UserInfo.authenticated(request.user.name).groups)
    if request.resource_request:
        target = request.resource + (f".{request.api_group}" if request.api_group else "")
        if not request.api_group and resolve_type(request.resource).api_group:
            target += "."  # "deployments." is the core group; bare "deployments" would mean apps
        target += f"/{request.name}" if request.name else ""
    else:
        target = request.path
    words = ["kinv", "rbac", "can-i", request.verb, target]
    if request.subresource:
        words += ["--subresource", request.subresource]
    if request.namespace:
        words += ["-n", request.namespace]
    words += ["--as", request.user.name]
    for group in request.user.groups:
        if group not in implied:
            words += ["--as-group", group]
    return shlex.join(words + ["-f", policy_file])
