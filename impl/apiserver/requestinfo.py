"""What a request asks for, read from its method, path and query (kube's RequestInfoFactory).

Source: k8s.io/apiserver ``pkg/endpoints/request/requestinfo.go``:

- ``/api/v1/...`` is the core group, ``/apis/GROUP/VERSION/...`` the others; anything else
  (``/healthz``, ``/metrics``, ``/version``, ``/api``, ``/apis``) is a non-resource request,
  authorized by its path and HTTP verb (``get``, ``post``...).
- ``[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]``; ``namespaces/NAME[/SUB]`` is the namespace
  itself.
- GET is ``get`` with a name, ``list`` without, ``watch`` with ``?watch=true``; POST ``create``;
  PUT ``update``; PATCH ``patch``; DELETE ``delete`` with a name, ``deletecollection`` without.
"""

from __future__ import annotations

import attrs

from impl.apiserver.messages import ApiRequest
from impl.apiserver.resources import ResourceType, UnknownResource, resource_for
from impl.apiserver.status import ApiError
from impl.etcd.registry import InvalidKey, list_range, storage_key

__all__ = ["RequestInfo", "request_info", "NON_RESOURCE_PATHS"]

NON_RESOURCE_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/version", "/api", "/apis")
_VERSIONS = {"": "v1", "apps": "v1", "batch": "v1", "rbac.authorization.k8s.io": "v1", "coordination.k8s.io": "v1",
             "storage.k8s.io": "v1", "admissionregistration.k8s.io": "v1"}
_TRUE = ("true", "1")


@attrs.frozen
class RequestInfo:
    is_resource_request: bool
    path: str
    verb: str
    resource: ResourceType | None = None
    namespace: str = ""
    name: str = ""
    subresource: str = ""

    @property
    def group(self) -> str:
        return self.resource.group if self.resource else ""

    @property
    def plural(self) -> str:
        return self.resource.plural if self.resource else ""


def _not_found(path: str) -> ApiError:
    return ApiError("NotFound", f"the server could not find the requested resource (path {path})")


def _non_resource(request: ApiRequest) -> RequestInfo:
    path = request.path.rstrip("/") or "/"
    known = path in NON_RESOURCE_PATHS or any(path.startswith(p + "/") for p in ("/healthz", "/livez", "/readyz"))
    if not known:
        raise _not_found(request.path)
    if request.method != "GET":
        raise ApiError("MethodNotAllowed", f"the server does not allow this method on the requested resource "
                                           f"({request.method} {path})")
    return RequestInfo(False, path, "get")


def _split(path: str) -> tuple[str, list[str]] | None:
    """(group, the segments after the version), or None for a non-resource path."""
    parts = path.split("/")[1:]
    if parts and parts[-1] == "":
        parts = parts[:-1]  # one trailing slash is allowed
    if "" in parts:
        raise _not_found(path)  # an empty segment (//, /namespaces//pods) names nothing
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1" and len(parts) > 2:
        return "", parts[2:]
    if len(parts) >= 3 and parts[0] == "apis" and len(parts) > 3:
        if _VERSIONS.get(parts[1]) != parts[2]:
            raise _not_found(path)
        return parts[1], parts[3:]
    return None


def _verb(request: ApiRequest, has_name: bool) -> str:
    method = request.method
    if method == "GET":
        if (request.query_value("watch") or "").lower() in _TRUE:
            return "watch"
        return "get" if has_name else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method in verbs:
        return verbs[method]
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    raise ApiError("MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})")


def _locate(group: str, rest: list[str], path: str) -> tuple[ResourceType, str, str, str]:
    """(resource, namespace, name, subresource) of the segments after the version."""
    namespace = ""
    namespaces = resource_for("", "namespaces")
    if rest[0] == "namespaces" and len(rest) == 3 and rest[2] in namespaces.subresources:
        return namespaces, "", rest[1], rest[2]
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        return namespaces, "", rest[1], ""
    if len(rest) > 3:
        raise _not_found(path)
    resource = resource_for(group, rest[0])
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in resource.subresources:
        raise _not_found(path)
    if not resource.namespaced and namespace:
        raise _not_found(path)
    return resource, namespace, name, subresource


def _check_segments(resource: ResourceType, namespace: str, name: str) -> None:
    """What the registry's key functions refuse: a namespace that cannot exist is not found; a
    name that cannot be a path segment is a bad request (IsValidPathSegmentName)."""
    try:
        if namespace:
            storage_key("namespaces", None, "x")  # the resource part is always valid
            list_range("pods", namespace)
    except InvalidKey:
        raise ApiError.not_found("namespaces", namespace) from None
    if name:
        try:
            storage_key(resource.storage_resource, None, name)
        except InvalidKey as error:
            raise ApiError("BadRequest", f"Name parameter invalid: {name!r}: {error}") from None


def request_info(request: ApiRequest) -> RequestInfo:
    if not request.path.startswith("/"):
        raise ApiError("BadRequest", f"the path {request.path!r} does not start with /")
    split = _split(request.path)
    if split is None:
        return _non_resource(request)
    group, rest = split
    try:
        resource, namespace, name, subresource = _locate(group, rest, request.path)
    except UnknownResource:
        raise _not_found(request.path) from None
    _check_segments(resource, namespace, name)
    verb = _verb(request, bool(name))
    if resource.namespaced and not namespace and verb not in ("list", "watch"):
        raise ApiError("MethodNotAllowed", f"the server does not allow this method on the requested resource "
                                           f"({request.method} {request.path}): {resource.plural} live in a namespace")
    if verb in ("update", "patch") and not name:
        raise ApiError("MethodNotAllowed", f"the server does not allow this method on the requested resource "
                                           f"({request.method} {request.path}): a collection cannot be {verb}d")
    if subresource and verb not in ("get", "update", "patch", "create"):
        raise ApiError("MethodNotAllowed", f"{verb} is not supported on {resource.plural}/{subresource}")
    return RequestInfo(True, request.path, verb, resource, namespace, name, subresource)
