"""The resource handlers: reads (get, list, watch) and the dispatch to writes (``writes.py``).

Sources: the API concepts page ("Resource versions", "Semantics for get and list", "Semantics
for watch", "Retrieving large results sets in chunks") and k8s.io/apiserver
``pkg/storage/cacher`` (which reads the watch cache serves and which go to the store):

- get: resourceVersion unset is a quorum read of the store; "0" may come from the watch cache;
  any other R means "not older than R" (the cache if it has reached R, else the store; a store
  that has not reached R answers 504 "Too large resource version").
- list: unset is a consistent read of the store (paged with ``limit`` and ``continue``; a page
  is read at the first page's revision, 410 once that is compacted); "0" is served from the cache;
  R with ``resourceVersionMatch=Exact`` is a store read at exactly R (410 once compacted); R
  otherwise is not-older-than.
- watch: from the resource's cache (``watchcache.py``); selectors filter; bookmarks on request.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from impl.apiserver.decimal_text import is_decimal
from impl.apiserver.pipeline import Context, Reply, WatchStart
from impl.apiserver.resources import ResourceType, resource_for
from impl.apiserver.selectors import parse_field_selector, parse_label_selector
from impl.apiserver.status import ApiError
from impl.apiserver.storage import Effects, ObjectStore, key_of
from impl.etcd.registry import list_range

__all__ = ["Rest", "parse_resource_version", "list_kind", "label_and_field_selector"]

LIMIT_MAX = 500


def parse_resource_version(text: str | None) -> int | None:
    """None when unset; 0 for "0"; else a positive revision (400 when not a number)."""
    if text is None or text == "":
        return None
    if not is_decimal(text):
        raise ApiError("BadRequest", f'invalid resource version "{text}"')
    return int(text)


def list_kind(resource: ResourceType) -> str:
    return resource.kind + "List"


def label_and_field_selector(ctx: Context, resource: ResourceType):
    labels = parse_label_selector(ctx.request.query_value("labelSelector") or "")
    fields = parse_field_selector(ctx.request.query_value("fieldSelector") or "", resource)
    return lambda obj: labels.matches((obj.get("metadata") or {}).get("labels") or {}) and fields.matches(obj)


def _limit(ctx: Context) -> int:
    text = ctx.request.query_value("limit")
    if text is None or text == "":
        return 0
    if not is_decimal(text):
        raise ApiError("BadRequest", f'invalid limit "{text}": a non-negative integer is expected')
    return min(int(text), LIMIT_MAX) if int(text) else 0


def _continue_token(revision: int, last_key: bytes) -> str:
    raw = json.dumps({"rv": revision, "start": last_key.decode()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_continue(token: str) -> tuple[int, bytes]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), data["start"].encode() + b"\0"
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, UnicodeError):
        raise ApiError("BadRequest", "continue key is not valid: it was not issued by this server") from None


class Rest:
    def __init__(self, server: Any) -> None:
        self.server = server

    def serve(self, ctx: Context) -> Effects:
        info = ctx.info
        verb = info.verb
        if verb in ("get", "list", "watch"):
            if info.subresource == "scale":
                return (yield from self.server.writes.get_scale(ctx))
            return (yield from getattr(self, verb)(ctx))
        return (yield from self.server.writes.serve(ctx))

    # ----- store reads for the pipeline ---------------------------------------------------

    def fresh_get(self, ctx: Context, plural: str, namespace: str, name: str, group: str = "") -> Effects:
        """A quorum read of one object, remembered in the request's context (admission's
        lookups see it instead of the cache)."""
        resource = resource_for(group, plural)
        obj, _ = yield from ObjectStore(resource).get(namespace if resource.namespaced else "", name)
        ctx.fresh[(plural, namespace if resource.namespaced else "", name)] = obj
        return obj

    # ----- get ----------------------------------------------------------------------------

    def get(self, ctx: Context) -> Effects:
        info = ctx.info
        wanted = parse_resource_version(ctx.request.query_value("resourceVersion"))
        cache = self.server.cache(info.resource)
        key = key_of(info.resource, info.namespace, info.name)
        if wanted is not None and cache.ready and cache.revision >= wanted:
            obj = cache.get(key)
        else:
            obj, revision = yield from ObjectStore(info.resource).get(info.namespace, info.name)
            if wanted and revision < wanted:
                raise ApiError("Timeout", f"Too large resource version: {wanted}, current: {revision}")
        if obj is None:
            raise ApiError.not_found(info.plural, info.name, info.group)
        return Reply(200, obj)

    # ----- list ---------------------------------------------------------------------------

    def list(self, ctx: Context) -> Effects:
        info = ctx.info
        selects = label_and_field_selector(ctx, info.resource)
        wanted = parse_resource_version(ctx.request.query_value("resourceVersion"))
        match = ctx.request.query_value("resourceVersionMatch") or ""
        token = ctx.request.query_value("continue") or ""
        self._check_list_options(wanted, match, token)
        cache = self.server.cache(info.resource)
        if not token and match != "Exact" and wanted is not None and cache.ready and cache.revision >= wanted:
            items, revision = self.list_from_cache(ctx, selects)
            return Reply(200, self._list_body(info.resource, items, revision, None))
        revision = wanted if match == "Exact" else 0
        start = b""
        if token:
            revision, start = _parse_continue(token)
            low, high = self._scope(ctx)
            if not low <= start < high:  # kube's decodeContinue: the key must be under the list's prefix
                raise ApiError("BadRequest", "continue key is not valid: it was issued for another list")
        items, revision, more = yield from self._list_from_store(ctx, revision, start, token != "")
        if wanted and match != "Exact" and revision < wanted:
            raise ApiError("Timeout", f"Too large resource version: {wanted}, current: {revision}")
        items = [obj for obj in items if selects(obj)]
        return Reply(200, self._list_body(info.resource, items, revision, more))

    @staticmethod
    def _scope(ctx: Context) -> tuple[bytes, bytes]:
        info = ctx.info
        return list_range(info.resource.storage_resource, info.namespace or None) if info.resource.namespaced \
            else list_range(info.resource.storage_resource)

    def list_from_cache(self, ctx: Context, selects) -> tuple[list, int]:
        return self.server.cache(ctx.info.resource).list(self._scope(ctx)[0], selects)

    @staticmethod
    def _check_list_options(wanted: int | None, match: str, token: str) -> None:
        if match not in ("", "Exact", "NotOlderThan"):
            raise ApiError("BadRequest", f'resourceVersionMatch "{match}" is not one of Exact, NotOlderThan')
        if match and wanted is None:
            raise ApiError("BadRequest", "resourceVersionMatch is forbidden unless resourceVersion is provided")
        if match == "Exact" and wanted == 0:
            raise ApiError("BadRequest", 'resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
        if token and wanted is not None:
            raise ApiError("BadRequest", "specifying resource version is not allowed when using continue")

    def _list_from_store(self, ctx: Context, revision: int, start: bytes, continuing: bool) -> Effects:
        info = ctx.info
        limit = _limit(ctx)
        try:
            items, current, last = yield from ObjectStore(info.resource).list(
                info.namespace or None, revision, limit, start)
        except ApiError as error:
            if error.code == 410 and continuing:
                raise ApiError.gone("The provided continue parameter is too old to display a consistent list "
                                    "result. You can start a new list without the continue parameter.") from None
            raise
        # A read at a past revision (a continued page, an Exact list) is that revision's state: its
        # resourceVersion is the one asked for, not the store's current one the header carries.
        read_at = revision or current
        return items, read_at, (_continue_token(read_at, last) if last is not None else None)

    @staticmethod
    def _list_body(resource: ResourceType, items: list, revision: int, token: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if token:
            meta["continue"] = token
        return {"kind": list_kind(resource), "apiVersion": resource.api_version, "metadata": meta, "items": items}

    # ----- watch --------------------------------------------------------------------------

    def watch(self, ctx: Context) -> Effects:
        info = ctx.info
        selects = label_and_field_selector(ctx, info.resource)
        wanted = parse_resource_version(ctx.request.query_value("resourceVersion"))
        bookmarks = (ctx.request.query_value("allowWatchBookmarks") or "").lower() in ("true", "1")
        if not self.server.cache(info.resource).ready:
            raise ApiError("TooManyRequests", "the watch cache is not initialized yet; try again later")
        yield from ()
        return WatchStart(info, wanted or None, selects, bookmarks)
