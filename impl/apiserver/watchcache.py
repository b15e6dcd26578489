"""The watch cache: each instance's in-memory copy of the store, fed by the store's watch.

Source: k8s.io/apiserver ``pkg/storage/cacher`` (``Cacher``, ``watchCache``) and the API
concepts page ("Efficient detection of changes", "Resource versions"). What it keeps:

- The cache is filled by one list, then follows the store's watch. It holds the current objects
  and a window of the latest events (``WINDOW_EVENTS_MAX``); its ``revision`` is the store
  revision it is complete up to (events, and the store's progress notifications, move it).
- It serves lists with resourceVersion "0" (possibly stale: "any version is fine") and watches.
- A watch from resourceVersion R gets every event after R, in order, from the window; if R is
  older than the window, it is refused with 410 Expired ("too old resource version"), never
  served with a gap. A watch without R, or from "0", starts with a synthetic ADDED per object.
- A watcher with a selector sees an object enter (ADDED), change (MODIFIED) and leave (DELETED)
  the selection, as the cacher's filtering does.
- When the cache has to list again (its store watch was compacted away), every watcher is
  closed: their next event may be missing from the new window, so they must resume (and get
  410 if they are too far behind). Bookmarks tell a quiet watcher how far it is up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from impl.apiserver.messages import WatchClosed, WatchEvent
from impl.apiserver.status import ApiError
from impl.etcd.types import Event

__all__ = ["WatchCache", "CacheWatcher", "WINDOW_EVENTS_MAX", "CachedEvent", "FeedProgress"]

WINDOW_EVENTS_MAX = 100  # kube's default capacity for most resources

Selector = Callable[[dict[str, Any]], bool]


@attrs.frozen
class CachedEvent:
    revision: int
    key: bytes
    type: str  # ADDED | MODIFIED | DELETED
    object: dict[str, Any] = attrs.field(eq=False)
    previous: dict[str, Any] | None = attrs.field(eq=False, default=None)


@attrs.define
class CacheWatcher:
    client: str
    request_id: int
    prefix: bytes  # the resource's, or one namespace's, key prefix
    selects: Selector
    bookmarks: bool
    sent_revision: int = 0  # every event up to here went out (or did not concern it)
    after: int = 0  # the watch starts after this revision: earlier events are never sent
    sequence: int = 0  # numbers the stream's events (an HTTP stream loses nothing; a gap means it broke)

    def event(self, kind: str, obj: dict[str, Any]) -> tuple[str, WatchEvent]:
        self.sequence += 1
        return self.client, WatchEvent(self.request_id, kind, obj, self.sequence)


def _with_rv(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(revision)}}


@attrs.define
class FeedProgress:
    """How far the store watch feeding a group of caches has delivered: the caches of one
    instance share one feed, so a progress notification moves them all at once."""

    revision: int = 0


class WatchCache:
    """One resource's cache on one instance."""

    def __init__(self, prefix: bytes, window_max: int = WINDOW_EVENTS_MAX, feed: FeedProgress | None = None) -> None:
        self.prefix = prefix
        self.window_max = window_max
        self.feed = feed if feed is not None else FeedProgress()
        self.objects: dict[bytes, dict[str, Any]] = {}
        self.window: list[CachedEvent] = []
        self.window_start = 0  # the window holds every event after this revision
        self._revision = 0
        self.ready = False
        self.watchers: dict[tuple[str, int], CacheWatcher] = {}

    @property
    def revision(self) -> int:
        """The store revision this cache is complete up to."""
        return max(self._revision, self.feed.revision)

    # ----- feeding ------------------------------------------------------------------------

    def replace(self, objects: dict[bytes, dict[str, Any]], revision: int) -> list[tuple[str, Any]]:
        """A fresh list at ``revision``: the new state, an empty window, every watcher closed."""
        self.objects = dict(objects)
        self.window = []
        self.window_start = self._revision = revision
        self.ready = True
        closed = [(w.client, WatchClosed(w.request_id, "watch cache reinitialized")) for w in self._sorted()]
        self.watchers.clear()
        return closed

    def apply(self, event: Event, decoded: dict[str, Any] | None) -> list[tuple[str, Any]]:
        """One store event of this resource (``decoded`` is the new object; None for a delete)."""
        key, revision = event.kv.key, event.kv.mod_revision
        previous = self.objects.get(key)
        if decoded is None:
            if previous is None:
                self._revision = max(self._revision, revision)
                return []
            cached = CachedEvent(revision, key, "DELETED", _with_rv(previous, revision), previous)
            del self.objects[key]
        else:
            cached = CachedEvent(revision, key, "ADDED" if previous is None else "MODIFIED", decoded, previous)
            self.objects[key] = decoded
        self._remember(cached)
        self._revision = max(self._revision, revision)
        return [out for watcher in self._sorted() for out in self._send(watcher, cached)]

    def progress(self, revision: int) -> None:
        """The store says every event up to ``revision`` was sent."""
        self._revision = max(self._revision, revision)

    def _remember(self, cached: CachedEvent) -> None:
        self.window.append(cached)
        if len(self.window) > self.window_max:
            dropped = self.window.pop(0)
            self.window_start = dropped.revision

    # ----- serving ------------------------------------------------------------------------

    def list(self, prefix: bytes, selects: Selector) -> tuple[list[dict[str, Any]], int]:
        items = [obj for key, obj in sorted(self.objects.items()) if key.startswith(prefix) and selects(obj)]
        return items, self.revision

    def get(self, key: bytes) -> dict[str, Any] | None:
        return self.objects.get(key)

    def watch(self, watcher: CacheWatcher, from_revision: int | None) -> list[tuple[str, Any]]:
        """Start a watch: from ``from_revision`` (exclusive), or with the current state as
        synthetic ADDED events when None (resourceVersion unset or "0")."""
        if from_revision is None:
            out = [watcher.event("ADDED", obj)
                   for key, obj in sorted(self.objects.items())
                   if key.startswith(watcher.prefix) and watcher.selects(obj)]
            watcher.sent_revision = watcher.after = self.revision
        else:
            if from_revision < self.window_start:
                raise ApiError.gone(f"too old resource version: {from_revision} ({self.window_start + 1})")
            watcher.sent_revision = watcher.after = from_revision
            out = [item for cached in self.window for item in self._send(watcher, cached)]
        self.watchers[(watcher.client, watcher.request_id)] = watcher
        return out

    def stop(self, client: str, request_id: int) -> None:
        self.watchers.pop((client, request_id), None)

    def bookmarks(self) -> list[tuple[str, Any]]:
        """A BOOKMARK to every watcher that asked for them and is behind the cache's revision."""
        out = []
        for watcher in self._sorted():
            if watcher.bookmarks and self.revision > watcher.sent_revision:
                watcher.sent_revision = self.revision
                marker = {"kind": "", "apiVersion": "", "metadata": {"resourceVersion": str(self.revision)}}
                out.append(watcher.event("BOOKMARK", marker))
        return out

    def _send(self, watcher: CacheWatcher, cached: CachedEvent) -> list[tuple[str, Any]]:
        """A txn changes several keys at one revision: each is its own event, so the revision
        alone does not say what was sent (the caller picks the events; this only filters)."""
        if cached.revision <= watcher.after or not cached.key.startswith(watcher.prefix):
            return []
        watcher.sent_revision = max(watcher.sent_revision, cached.revision)
        kind = self._transition(watcher, cached)
        if kind is None:
            return []
        return [watcher.event(kind, cached.object)]

    @staticmethod
    def _transition(watcher: CacheWatcher, cached: CachedEvent) -> str | None:
        """What a watcher with a selector sees of a change: entering, changing within, or
        leaving its selection (a deletion is leaving)."""
        was = cached.previous is not None and watcher.selects(cached.previous)
        now = cached.type != "DELETED" and watcher.selects(cached.object)
        if was and now:
            return "MODIFIED"
        if now:
            return "ADDED"
        if was:
            return "DELETED"
        return None

    def _sorted(self) -> list[CacheWatcher]:
        return [self.watchers[k] for k in sorted(self.watchers)]
