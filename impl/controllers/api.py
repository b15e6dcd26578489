"""The interface a reconciler is written against: ours (Deployment, ReplicaSet, ...) and the user's.

It has controller-runtime's shape (``Reconcile(ctx, Request) (Result, error)`` over a cached
client), made sans-I/O: a reconcile is a *generator*. It reads the informer caches directly
(``Cache``, read-only, possibly stale: what the controller has observed, never the truth) and
performs API calls by yielding them; the host sends each call through the controller's connection
and resumes the generator with the ``Answer``::

    class CopyConfigMap:
        name = "configmap-copier"
        watches = (Watch("namespaces"), Watch("configmaps", enqueue=owner_namespace))

        def reconcile(self, request, cache, client):
            source = cache.get("configmaps", "default", "shared")
            if source is None:
                return Result()
            answer = yield client.create("configmaps", {...}, namespace=request.name)
            if answer.conflict or answer.unknown:
                return Result(requeue=True)
            return Result()

A reconcile may also yield a tuple of calls; they go out together and it is resumed with the
tuple of their answers, in the same order, once every one is in (the ReplicaSet controller's
slow-start batches are goroutines run in parallel: ``answers = yield tuple(creates)``).

A reconcile that returns ``Result(requeue=True)`` is retried with the workqueue's per-item
exponential backoff (controller-runtime does the same for a returned error); ``requeue_after``
retries after that many ticks; a plain return (``None`` or ``Result()``) forgets the key's
failures. An exception escaping ``reconcile`` is a finding (``IMPL-EXCEPTION``): in our reference
it is a bug, and in the user's code almost always one too.

An ``Answer`` with ``code == 0`` is an unknown outcome: the request timed out and may still take
effect. A level-triggered reconciler needs no special case for it: it reads the caches again on
its next reconcile.

Events reach the workqueue through ``Watch``\\ es: ``enqueue=SELF`` queues the object's own key
(controller-runtime's ``For``), ``enqueue=OWNER`` the key of its controller owner of
``owner_kind`` (``Owns``: the ownerReference with ``controller: true``, resolved by name in the
cache and *compared by UID*, as ``resolveControllerRef`` does, so a child of a deleted and
re-created owner does not wake the new one), and a function ``(obj, cache) -> requests`` anything
else (``EnqueueRequestsFromMapFunc``). A reconciler may also define
``observe(resource, change, old, new)``, called on every event before the mapping: the
ReplicaSet controller's expectations are lowered there.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any, Protocol

import attrs

from impl.apiserver.resources import ResourceType, resource_named
from impl.apiserver.selectors import label_selector_from_object

__all__ = ["Request", "Result", "Call", "Answer", "Client", "Cache", "Watch", "Reconciler",
           "SELF", "OWNER", "Reconcile", "request_for", "controller_owner", "meta"]

SELF, OWNER = "self", "owner"


@attrs.frozen(order=True)
class Request:
    """What a reconcile is asked about: one object, by namespace (empty if cluster-scoped) and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def request_for(obj: dict[str, Any]) -> Request:
    return Request(meta(obj).get("namespace") or "", meta(obj).get("name") or "")


@attrs.frozen
class Result:
    requeue: bool = False
    requeue_after: int = 0  # ticks; 0: not after a delay


@attrs.frozen
class Call:
    """One API request a reconcile wants made. ``verb`` names it for traces ("create pods
    ns1/web-1"); ``writes`` says whether it may change the cluster (a crash between two of them
    is Sieve's intermediate-state perturbation)."""

    verb: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str = ""
    what: str = ""  # resource and key, for traces

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def describe(self) -> str:
        return f"{self.verb} {self.what}".strip()


@attrs.frozen
class Answer:
    """The API server's answer to a ``Call``: the HTTP code and the decoded body (the object, a
    list, or a ``Status``); code 0 when no answer came in time."""

    code: int
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def unknown(self) -> bool:
        return self.code == 0

    @property
    def not_found(self) -> bool:
        return self.code == 404

    @property
    def conflict(self) -> bool:
        """A stale resourceVersion or uid precondition (409 Conflict), not AlreadyExists."""
        return self.code == 409 and (self.body or {}).get("reason") == "Conflict"

    @property
    def already_exists(self) -> bool:
        return self.code == 409 and (self.body or {}).get("reason") == "AlreadyExists"

    @property
    def namespace_terminating(self) -> bool:
        """A create refused because its namespace is being deleted (apierrors.HasStatusCause
        with v1.NamespaceTerminatingCause): nothing to retry, every later create fails alike."""
        causes = ((self.body if isinstance(self.body, dict) else {}).get("details") or {}).get("causes") or []
        return any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes)

    @property
    def object(self) -> dict[str, Any] | None:
        return self.body if self.ok and isinstance(self.body, dict) else None


def _resource(resource: str | ResourceType) -> ResourceType:
    return resource if isinstance(resource, ResourceType) else resource_named(resource)


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's metadata (empty when it has none)."""
    return obj.get("metadata") or {}


class Client:
    """Builds the ``Call``\\ s a reconcile yields. Resources are named as kubectl names them
    (``pods``, ``deployments``, ``replicasets.apps``); bodies are plain dicts."""

    def get(self, resource: str, namespace: str, name: str) -> Call:
        kind = _resource(resource)
        return Call("get", "GET", kind.path(namespace, name), what=f"{kind.plural} {_key(namespace, name)}")

    def list(self, resource: str, namespace: str = "", label_selector: str = "") -> Call:
        kind = _resource(resource)
        query = (("labelSelector", label_selector),) if label_selector else ()
        return Call("list", "GET", kind.path(namespace or None), query, what=kind.plural)

    def create(self, resource: str, obj: dict[str, Any], namespace: str = "") -> Call:
        kind = _resource(resource)
        namespace = namespace or meta(obj).get("namespace") or ""
        name = meta(obj).get("name") or meta(obj).get("generateName", "") + "*"
        return Call("create", "POST", kind.path(namespace or None), body=obj,
                    what=f"{kind.plural} {_key(namespace, name)}")

    def update(self, resource: str, obj: dict[str, Any], subresource: str = "") -> Call:
        """A PUT of the whole object; its ``metadata.resourceVersion`` is the precondition."""
        kind = _resource(resource)
        namespace, name = meta(obj).get("namespace") or "", meta(obj)["name"]
        verb = f"update {subresource}" if subresource else "update"
        return Call(verb, "PUT", kind.path(namespace or None, name, subresource), body=obj,
                    what=f"{kind.plural} {_key(namespace, name)}")

    def update_status(self, resource: str, obj: dict[str, Any]) -> Call:
        return self.update(resource, obj, "status")

    def patch(self, resource: str, namespace: str, name: str, patch: dict[str, Any] | list,
              patch_type: str = "merge", subresource: str = "") -> Call:
        """``patch_type``: merge (RFC 7386), strategic, or json (RFC 6902)."""
        kind = _resource(resource)
        content_type = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
                        "strategic": "application/strategic-merge-patch+json"}[patch_type]
        return Call("patch", "PATCH", kind.path(namespace or None, name, subresource), body=patch,
                    content_type=content_type, what=f"{kind.plural} {_key(namespace, name)}")

    def delete(self, resource: str, namespace: str, name: str, *, uid: str = "", resource_version: str = "",
               propagation: str = "", grace_period_seconds: int | None = None) -> Call:
        """``uid`` / ``resource_version``: DeleteOptions preconditions (delete only *that*
        object, as the garbage collector does); ``propagation``: Background, Foreground or Orphan."""
        kind = _resource(resource)
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        return Call("delete", "DELETE", kind.path(namespace or None, name), body=options,
                    what=f"{kind.plural} {_key(namespace, name)}")

    def bind(self, pod: dict[str, Any], node_name: str) -> Call:
        """The scheduler's POST to pods/NAME/binding."""
        pod_meta = meta(pod)
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": pod_meta["name"], "namespace": pod_meta["namespace"], "uid": pod_meta.get("uid", "")},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        kind = _resource("pods")
        return Call("bind", "POST", kind.path(pod_meta["namespace"], pod_meta["name"], "binding"), body=binding,
                    what=f"pods {_key(pod_meta['namespace'], pod_meta['name'])} to {node_name}")


# The values of decoded JSON that need no copy: immutable, handed out as themselves.
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def copied(value: Any) -> Any:
    """A copy of a decoded JSON value (dicts, lists, scalars): what ``copy.deepcopy`` makes of
    it, several times faster, since an API object has no cycles, no sharing and no classes.

    Only containers are copied: a dict is copied whole in C, then each value that is not a
    scalar is copied in its place (most values are scalars, and a call for each was most of
    the time this took). A dict or list of another class is copied as a plain one, as ever."""
    kind = type(value)
    if kind is dict:
        result = value.copy()
        for key, item in value.items():
            if type(item) not in _SCALAR_TYPES:
                result[key] = copied(item)
        return result
    if kind is list:
        return [item if type(item) in _SCALAR_TYPES else copied(item) for item in value]
    if isinstance(value, dict):
        return {key: copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copied(item) for item in value]
    return value


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


class Cache:
    """The controller's read-only view of its informer caches, by kubectl resource name. Every
    object handed out is a copy: client-go's rule "never mutate what a lister returns" is kept by
    construction, so a reconciler that edits what it read changes nothing until it writes."""

    def __init__(self, indexers: dict[str, Any], synced: Callable[[str], bool]) -> None:
        self._indexers = indexers  # resource plural -> informer.Indexer
        self._synced = synced

    def _indexer(self, resource: str):
        plural = _resource(resource).plural
        try:
            return self._indexers[plural]
        except KeyError:
            raise KeyError(f"no informer for {plural}: name it in the reconciler's watches") from None

    def synced(self, resource: str) -> bool:
        return self._synced(_resource(resource).plural)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self._indexer(resource).get_by_name(namespace, name)
        return copied(obj) if obj is not None else None

    def list(self, resource: str, namespace: str = "", selector: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Objects of ``resource`` (in ``namespace``, or all), matching ``selector``: a
        metav1.LabelSelector (``{"matchLabels": ..., "matchExpressions": ...}``); none: all."""
        indexer = self._indexer(resource)
        objects = indexer.by_namespace(namespace) if namespace else indexer.list()
        if selector is not None:
            wanted = label_selector_from_object(selector)
            objects = [obj for obj in objects if wanted.matches(meta(obj).get("labels"))]
        return [copied(obj) for obj in objects]

    def owned_by(self, resource: str, owner_uid: str) -> list[dict[str, Any]]:
        """Objects of ``resource`` with an ownerReference to ``owner_uid``."""
        return [copied(obj) for obj in self._indexer(resource).by_owner_uid(owner_uid)]


def controller_owner(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true`` (metav1.GetControllerOf)."""
    return next((ref for ref in meta(obj).get("ownerReferences") or () if ref.get("controller")), None)


Enqueue = Callable[[dict[str, Any], Cache], Iterable[Request]]


@attrs.frozen
class Watch:
    """A resource the reconciler caches, and which requests its events queue. With a
    ``field_selector`` or ``label_selector`` (API syntax: ``spec.nodeName=node-1``) its informer
    lists and watches only the matching objects, as the kubelet's pod informer does; the cache
    reads such an informer by resource name when it is the resource's only one."""

    resource: str
    enqueue: str | Enqueue | None = SELF  # SELF, OWNER, a function, or None (cache only)
    owner_kind: str = ""  # for OWNER: the owner's kind ("ReplicaSet")
    field_selector: str = ""
    label_selector: str = ""

    def query(self) -> tuple[tuple[str, str], ...]:
        """The informer's list and watch query for the selectors."""
        return tuple((name, value) for name, value in (("fieldSelector", self.field_selector),
                                                        ("labelSelector", self.label_selector)) if value)


Reconcile = Generator[Call, Answer, "Result | None"]


class Reconciler(Protocol):
    name: str
    watches: tuple[Watch, ...]

    def reconcile(self, request: Request, cache: Cache, client: Client) -> Reconcile: ...
