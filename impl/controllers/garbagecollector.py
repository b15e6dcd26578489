"""The garbage collector: dependents go when their owners go, by UID.

An object names its owners in ``metadata.ownerReferences`` (apiVersion, kind, name and *uid*).
When every owner is gone, the object is garbage. How an owner is deleted decides what happens
to its dependents (``propagationPolicy``; the API server turns Foreground and Orphan into the
finalizers ``foregroundDeletion`` and ``orphan``, impl/apiserver/writes.py):

- **Background**: the owner goes at once; the collector then deletes its dependents.
- **Foreground**: the owner stays, marked, with ``foregroundDeletion``; the collector deletes
  its dependents, and removes the finalizer once no dependent with ``blockOwnerDeletion:
  true`` is left, which lets the API server delete the owner.
- **Orphan**: the owner stays with ``orphan``; the collector removes the owner's reference
  from each dependent, then the finalizer; the dependents live on.

Sources: kube ``pkg/controller/garbagecollector`` (``garbagecollector.go``:
``attemptToDeleteItem``, ``isDangling``, ``classifyReferences``,
``processDeletingDependentsItem``, ``orphanDependents``, ``removeFinalizer``; ``operations.go``;
``graph_builder.go``: ``processGraphChanges``, ``processTransitions``), and "Garbage Collection"
in the Kubernetes documentation.

The graph. Kube's GraphBuilder keeps a node per UID with its owners and dependents, fed by an
informer on every deletable type. Here the informers' caches are the graph: the owner-UID index
gives an object's dependents, and an owner is looked up by the reference's kind and name and
*compared by UID* (one of the same name and another UID is another object: the reference is
dangling). The queue holds objects, keyed ``namespace / plural.group/name``. What the graph
builder queues, the watch mapping queues (``affected``):

- an object with ownerReferences (kube queues it when an owner is not in its graph; here its
  reconcile asks the cache first, and only acts when the cache does not show every owner alive);
- an object being deleted with ``orphan`` or ``foregroundDeletion`` (attemptToOrphan; the owner
  side of attemptToDelete);
- the dependents of an object that is gone (deleted, or replaced by another UID) or started
  deleting them (foreground);
- the owners of an object that are waiting for their dependents (a dependent gone or no longer
  blocking: the owner may now drop its finalizer).

One object's reconcile:

1. Not in the cache: nothing (its dependents were queued by its delete event).
2. Being deleted: with ``orphan``, patch every dependent to drop the reference to it (a
   strategic merge ``$patch: delete`` by uid, the dependent's uid in the patch; 404 is fine),
   then remove ``orphan``; with ``foregroundDeletion``, remove it once the cache shows no
   blocking dependent; otherwise nothing ("being deleted is a one-way trip").
3. Otherwise, if the cache does not show all its owners alive, attemptToDeleteItem: read the
   object live (gone or another UID: nothing), then classify each owner reference with a live
   GET of the owner (a quorum read, never the cache, which may lag: a cache that has not yet
   seen a new owner must not get its dependents deleted): *dangling* (404, or another UID),
   *waiting* (being deleted with ``foregroundDeletion``) or *solid*. With a solid owner, only the
   dangling and waiting references are patched away. With none: if an owner is waiting and the
   object has dependents of its own, it is deleted Foreground; else with the policy its own
   finalizers ask for (Orphan, Foreground) or Background. Every delete carries the object's uid
   as a precondition.
4. Finalizers are removed as kube's ``removeFinalizer`` does: a live GET, then a JSON merge
   patch of ``metadata.finalizers`` with the read ``resourceVersion`` as precondition, retried
   on conflict (here at most ``CONFLICT_RETRIES_MAX`` times in one reconcile).

Failures (an unknown outcome, 409, 5xx, an owner kind the server does not serve) requeue with
backoff; kube retries the same way.

Left out: the absent-owner cache (kube remembers owner UIDs found absent to save GETs; every
check here is a live GET), the cycle breaker of foreground deletion (an item whose owner and
dependent both wait for dependents gets its references unblocked first), and the JSON merge
patch fallback used for custom resources (every served type takes strategic merge).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from impl.apiserver.resources import RESOURCES, ResourceType, UnknownResource, resource_for_kind, resource_named
from impl.controllers.api import Answer, Call, Request, Result, Watch
from impl.controllers.api import meta as _meta

__all__ = ["GarbageCollector", "FOREGROUND", "ORPHAN", "request_of", "GC_RESOURCES"]

FOREGROUND = "foregroundDeletion"  # metav1.FinalizerDeleteDependents
ORPHAN = "orphan"  # metav1.FinalizerOrphanDependents
CONFLICT_RETRIES_MAX = 5  # client-go's retry.DefaultBackoff steps
INVALID = "invalid"  # namespacedOwnerOfClusterScopedObjectErr
GC_RESOURCES: tuple[ResourceType, ...] = tuple(sorted(RESOURCES, key=lambda r: r.qualified))

Steps = Generator[Call, Answer, Any]


def _refs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [ref for ref in _meta(obj).get("ownerReferences") or () if isinstance(ref, dict)]


def _has_finalizer(obj: dict[str, Any], finalizer: str) -> bool:
    return finalizer in (_meta(obj).get("finalizers") or ())


def _being_deleted(obj: dict[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def deleting_dependents(obj: dict[str, Any]) -> bool:
    """isDeletingDependents: being deleted, foreground."""
    return _being_deleted(obj) and _has_finalizer(obj, FOREGROUND)


def request_of(resource: ResourceType, obj: dict[str, Any]) -> Request:
    meta = _meta(obj)
    return Request(meta.get("namespace") or "", f"{resource.qualified}/{meta.get('name', '')}")


class GarbageCollector:
    name = "garbage-collector"

    def __init__(self, resources: Iterable[ResourceType] = GC_RESOURCES) -> None:
        self.resources = tuple(resources)
        self._watched = {r.qualified for r in self.resources}
        self.watches = tuple(Watch(r.qualified, enqueue=self._mapping(r)) for r in self.resources)

    # ----- the graph ------------------------------------------------------------------------

    def _mapping(self, resource: ResourceType):
        return lambda obj, cache: self.affected(resource, obj, cache)

    def affected(self, resource: ResourceType, obj: dict[str, Any], cache: Any) -> list[Request]:
        """What an event about ``obj`` (its old or new state) queues (processGraphChanges)."""
        requests = []
        if _refs(obj) or (_being_deleted(obj) and (_has_finalizer(obj, ORPHAN) or _has_finalizer(obj, FOREGROUND))):
            requests.append(request_of(resource, obj))
        if self.gone(resource, obj, cache) or deleting_dependents(obj):
            requests += [request_of(kind, dep) for kind, dep in self.dependents(_meta(obj).get("uid", ""), cache)]
        for ref in _refs(obj):
            owner_kind, owner = self.cached_owner(ref, _meta(obj).get("namespace") or "", cache)
            if owner is not None and deleting_dependents(owner):
                requests.append(request_of(owner_kind, owner))
        return requests

    @staticmethod
    def gone(resource: ResourceType, obj: dict[str, Any], cache: Any) -> bool:
        meta = _meta(obj)
        cached = cache.get(resource.qualified, meta.get("namespace") or "", meta.get("name", ""))
        return cached is None or _meta(cached).get("uid") != meta.get("uid")

    def dependents(self, uid: str, cache: Any) -> list[tuple[ResourceType, dict[str, Any]]]:
        """The objects of every watched type with a reference to ``uid``."""
        if not uid:
            return []
        return [(kind, dep) for kind in self.resources for dep in cache.owned_by(kind.qualified, uid)]

    def owner_resource(self, ref: dict[str, Any]) -> ResourceType | None:
        try:
            return resource_for_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        except UnknownResource:
            return None

    def cached_owner(self, ref: dict[str, Any], namespace: str, cache: Any) -> tuple[Any, dict[str, Any] | None]:
        """The owner the cache holds for ``ref``, if it is the one the reference names (by UID)."""
        kind = self.owner_resource(ref)
        if kind is None or kind.qualified not in self._watched:
            return kind, None
        owner = cache.get(kind.qualified, namespace if kind.namespaced else "", str(ref.get("name", "")))
        if owner is None or _meta(owner).get("uid") != ref.get("uid"):
            return kind, None
        return kind, owner

    def owners_alive_in_cache(self, obj: dict[str, Any], cache: Any) -> bool:
        """Every owner is in the cache with its UID and not waiting for its dependents: kube's
        graph would not queue the object at all."""
        namespace = _meta(obj).get("namespace") or ""
        for ref in _refs(obj):
            _, owner = self.cached_owner(ref, namespace, cache)
            if owner is None or deleting_dependents(owner):
                return False
        return True

    # ----- one object -----------------------------------------------------------------------

    def reconcile(self, request: Request, cache: Any, client: Any) -> Steps:
        plural, _, name = request.name.partition("/")
        resource = resource_named(plural)
        obj = cache.get(resource.qualified, request.namespace, name)
        if obj is None:
            return Result()
        if _being_deleted(obj):
            if _has_finalizer(obj, ORPHAN):
                done = yield from self.orphan_dependents(resource, obj, cache, client)
                return Result(requeue=not done)
            if _has_finalizer(obj, FOREGROUND):
                done = yield from self.process_deleting_dependents(resource, obj, cache, client)
                return Result(requeue=not done)
            return Result()
        if not _refs(obj) or self.owners_alive_in_cache(obj, cache):
            return Result()
        done = yield from self.attempt_to_delete(resource, obj, cache, client)
        return Result(requeue=not done)

    def attempt_to_delete(self, resource: ResourceType, obj: dict[str, Any], cache: Any, client: Any) -> Steps:
        """attemptToDeleteItem; True when done (nothing to retry)."""
        meta = _meta(obj)
        answer = yield client.get(resource.qualified, meta.get("namespace") or "", meta["name"])
        if answer.not_found:
            return True
        if not answer.ok:
            return False
        latest = answer.body
        if _meta(latest).get("uid") != meta.get("uid") or not _refs(latest):
            return True
        classes = yield from self.classify_references(latest, client)
        if classes is None:
            return False
        if classes == INVALID:
            return True  # kube forgets it: retrying cannot help
        solid, dangling, waiting = classes
        if solid:
            if not dangling and not waiting:
                return True
            return (yield from self.remove_references(resource, latest, [r["uid"] for r in dangling + waiting], client))
        if waiting and self.dependents(_meta(latest).get("uid", ""), cache):
            return (yield from self.delete_object(resource, latest, "Foreground", client))
        return (yield from self.delete_object(resource, latest, self.own_policy(latest), client))

    @staticmethod
    def own_policy(obj: dict[str, Any]) -> str:
        """An object that is garbage is deleted as its own finalizers ask, else in the background."""
        if _has_finalizer(obj, ORPHAN):
            return "Orphan"
        if _has_finalizer(obj, FOREGROUND):
            return "Foreground"
        return "Background"

    def classify_references(self, obj: dict[str, Any], client: Any) -> Steps:
        """(solid, dangling, waiting) references, each owner read live; None on a failure,
        INVALID for a cluster-scoped object naming a namespaced owner."""
        solid, dangling, waiting = [], [], []
        for ref in _refs(obj):
            verdict = yield from self.owner_state(ref, obj, client)
            if verdict is None or verdict == INVALID:
                return verdict
            {"solid": solid, "dangling": dangling, "waiting": waiting}[verdict].append(ref)
        return solid, dangling, waiting

    def owner_state(self, ref: dict[str, Any], dependent: dict[str, Any], client: Any) -> Steps:
        """isDangling and the waiting test: "dangling", "waiting", "solid", INVALID, or None on a
        failure (an owner kind the server does not serve is kube's REST mapping error: retried)."""
        kind = self.owner_resource(ref)
        namespace = _meta(dependent).get("namespace") or ""
        if kind is None:
            return None
        if kind.namespaced and not namespace:
            return INVALID
        owner = yield from self.live_owner(kind, ref, namespace, client)
        if owner is None:
            return None
        if owner == "absent" or not self.same_owner(owner, ref):
            return "dangling"
        return "waiting" if deleting_dependents(owner) else "solid"

    @staticmethod
    def same_owner(owner: dict[str, Any], ref: dict[str, Any]) -> bool:
        """The object of the owner's name is the one the reference names: owners are compared by
        UID (one deleted and created again under its name is another owner)."""
        return _meta(owner).get("uid") == ref.get("uid")

    def live_owner(self, kind: ResourceType, ref: dict[str, Any], namespace: str, client: Any) -> Steps:
        """The owner as the store holds it now (a quorum GET): the object, "absent", or None."""
        answer = yield client.get(kind.qualified, namespace if kind.namespaced else "", str(ref.get("name", "")))
        if answer.not_found:
            return "absent"
        return answer.body if answer.ok else None

    # ----- writes ---------------------------------------------------------------------------

    def delete_object(self, resource: ResourceType, obj: dict[str, Any], policy: str, client: Any) -> Steps:
        """deleteObject: only *this* object (uid precondition)."""
        meta = _meta(obj)
        answer = yield client.delete(resource.qualified, meta.get("namespace") or "", meta["name"],
                                     uid=meta.get("uid", ""), propagation=policy)
        return answer.ok or answer.not_found

    def remove_references(self, resource: ResourceType, obj: dict[str, Any], owner_uids: list[str],
                          client: Any) -> Steps:
        """GenerateDeleteOwnerRefStrategicMergeBytes: drop the references to ``owner_uids``."""
        meta = _meta(obj)
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid} for uid in owner_uids],
                              "uid": meta.get("uid", "")}}
        answer = yield client.patch(resource.qualified, meta.get("namespace") or "", meta["name"], patch, "strategic")
        return answer.ok or answer.not_found

    def orphan_dependents(self, resource: ResourceType, owner: dict[str, Any], cache: Any, client: Any) -> Steps:
        """attemptToOrphanWorker: every dependent lets go of the owner, then the finalizer goes."""
        done = yield from self.release_dependents(_meta(owner).get("uid", ""), cache, client)
        if not done:
            return False
        return (yield from self.remove_finalizer(resource, owner, ORPHAN, client))

    def release_dependents(self, uid: str, cache: Any, client: Any) -> Steps:
        """orphanDependents: each dependent's references to ``uid`` removed; whether all were."""
        done = True
        for kind, dependent in self.dependents(uid, cache):
            released = yield from self.remove_references(kind, dependent, [uid], client)
            done = done and released
        return done

    def process_deleting_dependents(self, resource: ResourceType, owner: dict[str, Any], cache: Any,
                                    client: Any) -> Steps:
        """processDeletingDependentsItem: the finalizer goes once no blocking dependent is left
        (the dependents themselves were queued when the owner started waiting)."""
        if self.blocking_dependents(owner, cache):
            return True
        return (yield from self.remove_finalizer(resource, owner, FOREGROUND, client))

    def blocking_dependents(self, owner: dict[str, Any], cache: Any) -> list[dict[str, Any]]:
        uid = _meta(owner).get("uid", "")
        return [dep for _, dep in self.dependents(uid, cache)
                if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion") for ref in _refs(dep))]

    def remove_finalizer(self, resource: ResourceType, obj: dict[str, Any], finalizer: str, client: Any) -> Steps:
        """removeFinalizer: live read, merge patch with its resourceVersion, retried on conflict."""
        meta = _meta(obj)
        for _ in range(CONFLICT_RETRIES_MAX):
            answer = yield client.get(resource.qualified, meta.get("namespace") or "", meta["name"])
            if answer.not_found:
                return True
            if not answer.ok:
                return False
            latest = _meta(answer.body)
            if latest.get("uid") != meta.get("uid") or finalizer not in (latest.get("finalizers") or ()):
                return True  # another object now, or already removed
            remaining = [f for f in latest["finalizers"] if f != finalizer]
            patch = {"metadata": {"resourceVersion": latest.get("resourceVersion", ""), "finalizers": remaining}}
            answer = yield client.patch(resource.qualified, meta.get("namespace") or "", meta["name"], patch, "merge")
            if answer.ok or answer.not_found:
                return True
            if not answer.conflict:
                return False
        return False
