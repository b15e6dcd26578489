"""client-go's shared informer for one resource: a reflector (list, then watch), an indexer (the
read-only cache) and the handlers it notifies, sans-I/O over an ``ApiConnection``.

Sources: k8s.io/client-go ``tools/cache`` (``reflector.go``: ``list``, ``watch``,
``relistResourceVersion``; ``delta_fifo.go``: ``Replace`` and ``DeletedFinalStateUnknown``;
``shared_informer.go``: ``HandleDeltas``, resync) and ``tools/pager``; the API concepts page
("Efficient detection of changes"). The facts kept:

- The first list asks for resourceVersion "0": any state the instance's watch cache has, however
  old. A watch follows from the list's resourceVersion, with bookmarks; every event and bookmark
  moves the informer's resourceVersion (client-go's lastSyncResourceVersion).
- When a watch ends (closed, broken, silent) the informer watches again from its own
  resourceVersion, at once, without listing. When it is refused with 410 Gone (the instance's
  window no longer reaches back that far) the informer lists again after a backoff, at its
  resourceVersion ("not older than": the watch cache serves it). Only when a *list* is refused
  with 410 or "Too large resource version" does it list with resourceVersion "" (a consistent
  read from the store), as the reflector does once it marks its resourceVersion unavailable.
  Other failures back off (1, 2, 4 ... 30 ticks; client-go: 800 ms doubling to 30 s, no jitter
  here) and list again; a 429 on a watch backs off and watches again.
- Lists with resourceVersion "" or "0" ask for pages of ``page_size`` (the watch cache ignores
  the limit for "0"); a list at a given resourceVersion is not paged, so that the cache can
  serve it. A continued page refused with 410 falls back to one full list (the pager's
  FullListIfExpired).
- A list replaces the cache (DeltaFIFO ``Replace``): a new key is an add, a key whose
  resourceVersion changed an update, an unchanged one is not announced (client-go counts it as a
  resync, delivered only to handlers whose resync is due), and a cached key the list lacks is a
  delete of a ``DeletedFinalStateUnknown`` tombstone holding the last state the cache had: the
  object was deleted while the informer was not watching, and its final state is unknown.
- An update may join two different objects: deleted and re-created under the same name between
  two observations (both missed in a relist), ``old`` and ``new`` have different
  ``metadata.uid``. Handlers that care (owners, expectations) must compare UIDs.
- Every ``resync_ticks`` (0: never) every cached object is announced again as an update with
  ``old is new``.
- The cache is updated before handlers run, so a handler reads the new state from the indexer.
  Handlers run synchronously, in the order events arrive; objects are shared with the cache and
  must not be changed (copy first, as with client-go).

Each object reaches the cache as a subsequence of its states; nothing is ordered across objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from impl.apiserver.messages import ApiResponse, WatchEvent
from impl.apiserver.decimal_text import decimal_or_zero
from impl.controllers.connection import REFUSED, ApiConnection, Received, WatchEnded

__all__ = ["Informer", "InformerConfig", "Indexer", "Handler", "DeletedFinalStateUnknown", "object_key"]


def object_key(obj: dict[str, Any]) -> str:
    """client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" when cluster-scoped."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    return f"{namespace}/{meta.get('name', '')}" if namespace else meta.get("name", "")


def _resource_version(obj: dict[str, Any]) -> int:
    return decimal_or_zero((obj.get("metadata") or {}).get("resourceVersion", ""))


@attrs.frozen
class DeletedFinalStateUnknown:
    """What ``on_delete`` gets for an object a relist no longer finds: its key and the last state
    the cache had (the object may have changed again before it was deleted)."""

    key: str
    object: dict[str, Any] = attrs.field(eq=False)


class Indexer:
    """The read-only cache: objects by key, and indexes by namespace and by owner UID (the
    garbage collector and the ReplicaSet controller find dependents through
    ``ownerReferences[].uid``). Lists come in key order."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, Any]] = {}
        self._by_namespace: dict[str, set[str]] = {}
        self._by_owner_uid: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._objects.get(key)

    def get_by_name(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(f"{namespace}/{name}" if namespace else name)

    def keys(self) -> list[str]:
        return sorted(self._objects)

    def list(self) -> list[dict[str, Any]]:
        return [self._objects[key] for key in sorted(self._objects)]

    def by_namespace(self, namespace: str) -> list[dict[str, Any]]:
        return [self._objects[key] for key in sorted(self._by_namespace.get(namespace, ()))]

    def by_owner_uid(self, uid: str) -> list[dict[str, Any]]:
        return [self._objects[key] for key in sorted(self._by_owner_uid.get(uid, ()))]

    # ----- changed by the informer only ---------------------------------------------------

    def _put(self, key: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        old = self._remove(key)
        self._objects[key] = obj
        for index, value in self._index_values(obj):
            index.setdefault(value, set()).add(key)
        return old

    def _remove(self, key: str) -> dict[str, Any] | None:
        old = self._objects.pop(key, None)
        if old is not None:
            for index, value in self._index_values(old):
                index[value].discard(key)
                if not index[value]:
                    del index[value]
        return old

    def _index_values(self, obj: dict[str, Any]) -> list[tuple[dict[str, set[str]], str]]:
        meta = obj.get("metadata") or {}
        values = [(self._by_namespace, meta.get("namespace") or "")]
        uids = {ref.get("uid") for ref in meta.get("ownerReferences") or () if isinstance(ref, dict)}
        values += [(self._by_owner_uid, uid) for uid in sorted(u for u in uids if isinstance(u, str) and u)]
        return values


def _nothing(*_: Any) -> None:
    return None


@attrs.frozen
class Handler:
    """client-go's ResourceEventHandlerFuncs."""

    on_add: Callable[[dict[str, Any]], None] = _nothing
    on_update: Callable[[dict[str, Any], dict[str, Any]], None] = _nothing
    on_delete: Callable[[dict[str, Any] | DeletedFinalStateUnknown], None] = _nothing


@attrs.frozen
class InformerConfig:
    resync_ticks: int = 0  # 0: never
    page_size: int = 500  # client-go's pager default; 0: never page
    backoff_initial_ticks: int = 1  # client-go: 800 ms
    backoff_max_ticks: int = 30  # client-go: 30 s


@attrs.define
class _Listing:
    """A list in progress: the resourceVersion asked for, the pages so far."""

    request_id: int
    resource_version: str  # "", "0" or a revision
    limit: int
    items: list[dict[str, Any]] = attrs.field(factory=list)
    token: str = ""  # the continue token the page in flight carries


LIST, WATCH = "list", "watch"


class Informer:
    """One resource, cluster-wide or in one namespace: ``path`` is a list path
    (``/api/v1/pods``, ``/apis/apps/v1/namespaces/ns1/deployments``)."""

    def __init__(self, connection: ApiConnection, path: str, config: InformerConfig = InformerConfig(), *,
                 query: tuple[tuple[str, str], ...] = ()) -> None:
        self.connection = connection
        self.path = path
        self.config = config
        self.query = tuple(query)  # label or field selectors, for lists and watches alike
        self.indexer = Indexer()
        self.handlers: list[Handler] = []
        self.now = 0
        self.resource_version = 0  # client-go's lastSyncResourceVersion (0: none yet)
        self.has_synced = False  # the first list is in the cache
        self.resource_version_unavailable = False  # the last list at it got 410 or "too large"
        self.listing: _Listing | None = None
        self.watch_id: int | None = None
        self.waiting: tuple[int, str] | None = None  # (tick, LIST or WATCH) after a backoff
        self.backoff_ticks = config.backoff_initial_ticks
        self.next_resync: int | None = None
        self.stopped = False

    def add_handler(self, handler: Handler) -> None:
        """Register a handler; like client-go, it first hears every cached object as an add."""
        self.handlers.append(handler)
        for obj in self.indexer.list():
            handler.on_add(obj)

    def start(self, now: int) -> None:
        assert self.listing is None and self.watch_id is None and not self.stopped, "already started"
        self.now = now
        self._list()

    def stop(self) -> None:
        self.stopped = True
        if self.watch_id is not None:
            self.connection.stop_watch(self.watch_id)
        self.listing = self.watch_id = self.waiting = None

    def relist(self) -> None:
        """Give up the watch and list again, as after a 410 Gone on the stream: what the cache
        missed meanwhile arrives merged, as one list's adds, updates and tombstones."""
        if self.stopped or self.watch_id is None:
            return
        self.connection.stop_watch(self.watch_id)
        self.watch_id = None
        self._on_watch_end(410)

    # ----- time ---------------------------------------------------------------------------

    def tick(self, now: int) -> None:
        self.now = now
        if self.stopped:
            return
        if self.waiting is not None and now >= self.waiting[0]:
            action = self.waiting[1]
            self.waiting = None
            if action == LIST:
                self._list()
            else:
                self._watch()
        if self.next_resync is not None and now >= self.next_resync:
            self.next_resync = now + self.config.resync_ticks
            for obj in self.indexer.list():
                self._notify("on_update", obj, obj)

    def _back_off(self, action: str) -> None:
        self.waiting = (self.now + self.backoff_ticks, action)
        self.backoff_ticks = min(self.backoff_ticks * 2, self.config.backoff_max_ticks)

    # ----- input --------------------------------------------------------------------------

    def handle(self, item: Received) -> bool:
        """Take an item drained from the connection; False when it is not this informer's."""
        if self.stopped:
            return False
        if isinstance(item, ApiResponse) and self.listing is not None \
                and item.request_id == self.listing.request_id:
            self._on_page(item)
            return True
        if self.watch_id is None or item.request_id != self.watch_id:
            return False
        if isinstance(item, WatchEvent):
            self._on_event(item)
        elif isinstance(item, WatchEnded):
            self.watch_id = None
            self._on_watch_end(item.code if item.reason == REFUSED else None)
        return True

    # ----- the reflector: list ------------------------------------------------------------

    def _relist_resource_version(self) -> str:
        if self.resource_version_unavailable:
            return ""
        return str(self.resource_version) if self.resource_version else "0"

    def _list(self) -> None:
        version = self._relist_resource_version()
        limit = self.config.page_size if version in ("", "0") else 0
        self._send_page(_Listing(0, version, limit))

    def _send_page(self, listing: _Listing) -> None:
        query = list(self.query)
        if listing.token:
            query.append(("continue", listing.token))
        elif listing.resource_version:
            query.append(("resourceVersion", listing.resource_version))
        if listing.limit:
            query.append(("limit", str(listing.limit)))
        listing.request_id = self.connection.send("GET", self.path, query=tuple(query))
        self.listing = listing

    def _on_page(self, response: ApiResponse) -> None:
        listing = self.listing
        assert listing is not None
        self.listing = None
        body = response.body if isinstance(response.body, dict) else {}
        if response.code == 200:
            listing.items.extend(body.get("items") or [])
            listing.token = (body.get("metadata") or {}).get("continue") or ""
            if listing.token:
                self._send_page(listing)
            else:
                self._listed(listing.items, decimal_or_zero((body.get("metadata") or {}).get("resourceVersion", "")))
        elif response.code == 410 and listing.token:  # a continued page expired: one full list
            self._send_page(_Listing(0, listing.resource_version, 0))
        elif response.code == 410 or (response.code == 504 and "Too large resource version" in
                                      str(body.get("message", ""))):
            self.resource_version_unavailable = True  # list again at once, from the store
            self._list()
        else:
            self._back_off(LIST)

    def _listed(self, items: list[dict[str, Any]], resource_version: int) -> None:
        self.resource_version_unavailable = False
        self.backoff_ticks = self.config.backoff_initial_ticks
        self._replace(items)
        self.resource_version = resource_version
        if not self.has_synced:
            self.has_synced = True
            if self.config.resync_ticks:
                self.next_resync = self.now + self.config.resync_ticks
        self._watch()

    def _replace(self, items: list[dict[str, Any]]) -> None:
        """DeltaFIFO's Replace: adds and changes in list order, then a tombstone for each cached
        key the list lacks."""
        listed = set()
        for obj in items:
            key = object_key(obj)
            listed.add(key)
            old = self.indexer._put(key, obj)
            if old is None:
                self._notify("on_add", obj)
            elif _resource_version(old) != _resource_version(obj):
                self._notify("on_update", old, obj)
        for key in self.indexer.keys():
            if key not in listed:
                self._notify("on_delete", DeletedFinalStateUnknown(key, self.indexer._remove(key)))

    # ----- the reflector: watch -----------------------------------------------------------

    def _watch(self) -> None:
        self.watch_id = self.connection.watch(self.path, self.resource_version, query=self.query)

    def _on_event(self, event: WatchEvent) -> None:
        obj = event.object if isinstance(event.object, dict) else {}
        if event.type == "ERROR":  # a Status on the stream: the watch is over
            self.connection.stop_watch(event.request_id)
            self.watch_id = None
            self._on_watch_end(int(obj.get("code") or 0))
            return
        if event.type in ("ADDED", "MODIFIED"):
            key = object_key(obj)
            old = self.indexer._put(key, obj)
            if old is None:
                self._notify("on_add", obj)
            else:
                self._notify("on_update", old, obj)
        elif event.type == "DELETED":
            self.indexer._remove(object_key(obj))
            self._notify("on_delete", obj)
        if event.resource_version:  # a bookmark moves it too; the watch resumes from here
            self.resource_version = event.resource_version

    def _on_watch_end(self, refused_code: int | None) -> None:
        if refused_code is None:  # closed, broken or silent: watch again from where it was
            self._watch()
        elif refused_code == 429:
            self._back_off(WATCH)
        else:  # 410 Gone (too old), or anything else: list again, at the informer's resourceVersion
            self._back_off(LIST)

    def _notify(self, method: str, *args: Any) -> None:
        for handler in self.handlers:
            getattr(handler, method)(*args)
