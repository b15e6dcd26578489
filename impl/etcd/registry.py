"""Storage keys as the Kubernetes API server lays them out in etcd.

The API server's etcd3 storage keeps every object under a prefix (``--etcd-prefix``, by default
``/registry``), then the resource, then the namespace for namespaced resources, then the name:
``/registry/pods/default/web-0``, ``/registry/nodes/node-1``. A list or watch of a resource is a
range over ``/registry/<resource>/`` (all namespaces) or ``/registry/<resource>/<namespace>/``.
The trailing slash matters: without it ``/registry/pods/de`` would also match namespace
``default``.

Names and namespaces are checked as the API server checks them before they reach storage
(namespaces: DNS-1123 labels; names: path segments without "/", "%", and not "." or "..").
"""

from __future__ import annotations

import re

from impl.etcd.keyspace import prefix_end

__all__ = ["DEFAULT_PREFIX", "InvalidKey", "storage_key", "list_range", "parse_key"]

DEFAULT_PREFIX = "/registry"
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label
_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class InvalidKey(ValueError):
    """A name, namespace or resource that cannot form a storage key; the message says why."""


def _check_resource(resource: str) -> None:
    if not _RESOURCE.match(resource):
        raise InvalidKey(f"resource {resource!r} is not a lowercase resource name")


def _check_namespace(namespace: str) -> None:
    if len(namespace) > 63 or not _LABEL.match(namespace):
        raise InvalidKey(f"namespace {namespace!r} is not a DNS-1123 label (lowercase letters, digits, '-', "
                        f"at most 63 characters)")


def _check_name(name: str) -> None:
    # The API server's path segment rule (IsValidPathSegmentName), applied to every object name.
    if not name or name in (".", "..") or "/" in name or "%" in name:
        raise InvalidKey(f"name {name!r} may not be empty, '.', '..' or contain '/' or '%'")


def storage_key(resource: str, namespace: str | None, name: str, prefix: str = DEFAULT_PREFIX) -> bytes:
    """The key of one object; ``namespace`` None for a cluster-scoped resource."""
    _check_resource(resource)
    _check_name(name)
    if namespace is None:
        return f"{prefix}/{resource}/{name}".encode()
    _check_namespace(namespace)
    return f"{prefix}/{resource}/{namespace}/{name}".encode()


def list_range(resource: str, namespace: str | None = None,
               prefix: str = DEFAULT_PREFIX) -> tuple[bytes, bytes]:
    """(key, range_end) of a list or watch: every object of ``resource``, or of it in one namespace."""
    _check_resource(resource)
    if namespace is not None:
        _check_namespace(namespace)
        start = f"{prefix}/{resource}/{namespace}/".encode()
    else:
        start = f"{prefix}/{resource}/".encode()
    return start, prefix_end(start)


def parse_key(key: bytes, prefix: str = DEFAULT_PREFIX) -> tuple[str, str | None, str]:
    """(resource, namespace or None, name) of a storage key; InvalidKey if it is not one."""
    text = key.decode(errors="replace")
    if not text.startswith(prefix + "/"):
        raise InvalidKey(f"key {text!r} is not under {prefix}/")
    parts = text[len(prefix) + 1:].split("/")
    if len(parts) == 2:
        resource, name = parts
        namespace = None
    elif len(parts) == 3:
        resource, namespace, name = parts
    else:
        raise InvalidKey(f"key {text!r} is not /<resource>/[<namespace>/]<name>")
    storage_key(resource, namespace, name, prefix)  # the same checks as on the way in
    return resource, namespace, name
