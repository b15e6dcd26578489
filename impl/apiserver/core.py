"""What an API server instance is, whatever drives it: its caches, authenticator, authorizer,
admission chain, metrics and audit log, and the life of one request (start, effects, finish).

Two drivers share it: ``node.ApiServer`` (a node of the simulated world, a client of the store
members through the network) and ``local.LocalApiServer`` (in-process over one MVCC store, for
unit tests and benchmarks).
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from impl.apiserver.admission_runner import Admission
from impl.apiserver.audit import AuditEvent
from impl.apiserver.authn import Authentication, RequestAuthenticator
from impl.apiserver.authz.chain import PrivilegedGroups, UnionAuthorizer
from impl.apiserver.authz.manifests import ManifestError, policy_from_objects, with_bootstrap
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.escalation_step import EscalationCheck
from impl.apiserver.impersonation import impersonation_checks, impersonation_forbidden
from impl.apiserver.messages import ApiRequest, ApiResponse
from impl.apiserver.metrics import ServerMetrics
from impl.apiserver.pipeline import Context, Pipeline, Reply, WatchStart
from impl.apiserver.resources import RESOURCES, ResourceType, resource_for
from impl.apiserver.rest import Rest
from impl.apiserver.status import ApiError
from impl.apiserver.storage import decode, key_of
from impl.apiserver.watchcache import WINDOW_EVENTS_MAX, CacheWatcher, FeedProgress, WatchCache
from impl.apiserver.writes import Writes
from impl.etcd.registry import InvalidKey, list_range, parse_key
from impl.etcd.types import Event

__all__ = ["ServerConfig", "ApiServerCore", "AuditLog", "CacheLookup", "RBAC_PLURALS"]

RBAC_PLURALS = ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
_BY_STORAGE = {r.storage_resource: r for r in RESOURCES}


@attrs.frozen
class ServerConfig:
    authentication: Authentication = Authentication()
    audit_level: str = "Metadata"  # Metadata | Request (Request also records the request body)
    watch_cache_events: int = WINDOW_EVENTS_MAX  # --watch-cache-sizes: the events each cache keeps


class AuditLog:
    """Every instance's audit events, in the order requests completed (shared by a cluster)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def add(self, event: AuditEvent) -> None:
        self.events.append(event)


class CacheLookup:
    """Admission's view: objects this request read from the store, else the instance's cache."""

    def __init__(self, core: "ApiServerCore", ctx: Context) -> None:
        self.core, self.ctx = core, ctx

    def get(self, plural: str, namespace: str | None, name: str, group: str = "") -> dict[str, Any] | None:
        resource = resource_for(group, plural)
        scope = (namespace or "") if resource.namespaced else ""
        if (plural, scope, name) in self.ctx.fresh:
            return self.ctx.fresh[(plural, scope, name)]
        try:
            return self.core.cache(resource).get(key_of(resource, scope, name))
        except InvalidKey:
            return None

    def list(self, plural: str, namespace: str | None, group: str = "") -> list[dict[str, Any]]:
        resource = resource_for(group, plural)
        prefix, _ = list_range(resource.storage_resource, namespace if resource.namespaced and namespace else None)
        return self.core.cache(resource).list(prefix, lambda obj: True)[0]


class ApiServerCore:
    pipeline_class: type[Pipeline] = Pipeline
    writes_class: type[Writes] = Writes
    rest_class: type[Rest] = Rest
    admission_class: type[Admission] = Admission
    authenticator_class: type[RequestAuthenticator] = RequestAuthenticator
    escalation_class: type[EscalationCheck] = EscalationCheck
    cache_class: type[WatchCache] = WatchCache

    def __init__(self, node_id: str, rng: random.Random, config: ServerConfig = ServerConfig(),
                 audit_log: AuditLog | None = None) -> None:
        self.id = node_id
        self.rng = rng
        self.config = config
        self.now = 0
        self.feed = FeedProgress()
        self.caches = {r.storage_resource: self.cache_class(list_range(r.storage_resource)[0],
                                                            config.watch_cache_events, self.feed)
                       for r in RESOURCES}
        self.authentication = self.authenticator_class(config.authentication)
        self.metrics = ServerMetrics()
        self.audit_log = audit_log if audit_log is not None else AuditLog()
        self.pipeline = self.pipeline_class(self)
        self.rest = self.rest_class(self)
        self.writes = self.writes_class(self)
        self.admission = self.admission_class(self)
        self.escalation = self.escalation_class(self)
        self._policy: tuple[int, Any] | None = None  # (rbac change count, authorizer)
        self.rbac_changes = 0
        self._audit_ids = 0
        self._call_ids = 0
        self.watches: dict[tuple[str, int], ResourceType] = {}  # open watches -> their resource

    # ----- services the pipeline uses -----------------------------------------------------

    def cache(self, resource: ResourceType) -> WatchCache:
        return self.caches[resource.storage_resource]

    def lookup(self, ctx: Context) -> CacheLookup:
        return CacheLookup(self, ctx)

    def impersonation_checks(self, user, headers):
        return impersonation_checks(user, headers)

    def impersonation_forbidden(self, user, request):
        return impersonation_forbidden(user, request)

    def policy(self) -> Policy:
        """The bootstrap policy every cluster has (kube-apiserver reconciles it into the store at
        start; here it is read beside the stored objects), overlaid by the RBAC objects in the
        caches. An object the registry would refuse grants nothing."""
        objects = []
        for plural in RBAC_PLURALS:
            cache = self.cache(resource_for("rbac.authorization.k8s.io", plural))
            objects.extend(obj for _, obj in sorted(cache.objects.items()))
        stored = Policy((), ())
        for obj in objects:
            try:
                stored = stored.merged(policy_from_objects([obj], "<watch cache>"))
            except ManifestError:
                continue
        return with_bootstrap(stored)

    def _chain(self) -> tuple[UnionAuthorizer, RBACAuthorizer]:
        if self._policy is None or self._policy[0] != self.rbac_changes:
            rbac = RBACAuthorizer(self.policy())
            self._policy = (self.rbac_changes, (UnionAuthorizer([PrivilegedGroups(), rbac]), rbac))
        return self._policy[1]

    def authorizer(self) -> tuple[UnionAuthorizer, int]:
        """(the chain over the policy in the caches, the revision that policy is current at)."""
        return self._chain()[0], self.policy_revision()

    def rbac_authorizer(self) -> RBACAuthorizer:
        return self._chain()[1]

    def policy_revision(self) -> int:
        return min(self.cache(resource_for("rbac.authorization.k8s.io", p)).revision for p in RBAC_PLURALS)

    def ready(self) -> bool:
        return all(cache.ready for cache in self.caches.values())

    def cache_revision(self) -> int:
        return min(cache.revision for cache in self.caches.values())

    def store_reachable(self) -> bool:
        return True

    def non_resource(self, ctx: Context) -> Reply:
        path = ctx.info.path
        if path == "/metrics":
            return Reply(200, text=self.metrics.text())
        if path == "/version":
            return Reply(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-kinv", "platform": "sim"})
        if path in ("/api", "/apis"):
            return Reply(200, self._discovery(path))
        return self._health(path)

    def _health(self, path: str) -> Reply:
        checks = {"ping": True, "etcd": self.store_reachable()}
        if path.startswith("/readyz"):
            checks["informer-sync"] = self.ready()
        name = path.split("/")[2] if path.count("/") >= 2 else ""
        if name:
            if name not in checks:
                return Reply(404, text=f"no such health check {name!r}")
            ok = checks[name]
            return Reply(200 if ok else 500, text="ok" if ok else f"[-]{name} failed: reason withheld")
        failing = [n for n, ok in checks.items() if not ok]
        lines = [f"[{'+' if ok else '-'}]{n} {'ok' if ok else 'failed: reason withheld'}" for n, ok in checks.items()]
        verdict = f"{path[1:]} check failed" if failing else f"{path[1:]} check passed"
        return Reply(500 if failing else 200, text="\n".join(lines + [verdict]))

    @staticmethod
    def _discovery(path: str) -> dict[str, Any]:
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"]}
        groups = sorted({r.group for r in RESOURCES if r.group})
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}]} for g in groups]}

    def next_call_id(self) -> int:
        self._call_ids += 1
        return self._call_ids

    # ----- feeding the caches -------------------------------------------------------------

    def replace_caches(self, kvs, revision: int) -> list[tuple[str, Any]]:
        """A list of everything under /registry/ at ``revision``."""
        by_resource: dict[str, dict[bytes, dict]] = {name: {} for name in self.caches}
        for kv in kvs:
            resource = self._resource_of(kv.key)
            if resource is not None:
                by_resource[resource][kv.key] = decode(kv)
        out = []
        for name in sorted(self.caches):
            out.extend(self.caches[name].replace(by_resource[name], revision))
        self.rbac_changes += 1
        return out

    def apply_events(self, events: list[Event], revision: int) -> list[tuple[str, Any]]:
        out = []
        for event in events:
            resource = self._resource_of(event.kv.key)
            if resource is None:
                continue
            decoded = decode(event.kv) if event.type == "PUT" else None
            out.extend(self.caches[resource].apply(event, decoded))
            if _BY_STORAGE[resource].plural in RBAC_PLURALS:
                self.rbac_changes += 1
        self.progress(revision)
        return out

    def progress(self, revision: int) -> None:
        self.feed.revision = max(self.feed.revision, revision)

    @staticmethod
    def _resource_of(key: bytes) -> str | None:
        try:
            storage, _, _ = parse_key(key)
        except InvalidKey:
            return None
        return storage if storage in _BY_STORAGE else None

    # ----- the life of a request ----------------------------------------------------------

    def begin(self, client: str, request: ApiRequest) -> Context:
        self._audit_ids += 1
        audit = AuditEvent(f"{self.id}-{self._audit_ids}", self.id, client, request.request_id, request.method.lower(),
                           request.path, self.now, level=self.config.audit_level)
        if self.config.audit_level == "Request" and request.body:
            audit.request_object = request.body.decode("utf-8", errors="replace")[:4096]
        return Context(client, request, audit)

    def finish(self, ctx: Context, result: Any) -> list[tuple[str, Any]]:
        """The reply to send (or, for an accepted watch, its first events)."""
        if isinstance(result, WatchStart):
            return self.start_watch(ctx, result)
        return [(ctx.client, self.respond(ctx, result))]

    def respond(self, ctx: Context, reply: Reply) -> ApiResponse:
        audit = ctx.audit
        audit.code = reply.code
        audit.reason = reply.body.get("reason", "") if isinstance(reply.body, dict) else ""
        audit.completed = self.now
        self.audit_log.add(audit)
        info = ctx.info
        self.metrics.request_done(audit.verb, info.group if info else "", info.plural if info else "",
                                  info.subresource if info else "", reply.code, self.now - audit.received)
        return ApiResponse(ctx.request.request_id, reply.code, reply.body, reply.text)

    def start_watch(self, ctx: Context, start: WatchStart) -> list[tuple[str, Any]]:
        info = start.info
        prefix = list_range(info.resource.storage_resource, info.namespace or None)[0] \
            if info.resource.namespaced else list_range(info.resource.storage_resource)[0]
        watcher = CacheWatcher(ctx.client, ctx.request.request_id, prefix, start.selects, start.bookmarks)
        try:
            events = self.cache(info.resource).watch(watcher, start.from_revision)
        except ApiError as error:
            return [(ctx.client, self.respond(ctx, Reply(error.code, error.status())))]
        ctx.audit.step("watch", "ok", f"from {start.from_revision}", self.now)
        self.respond(ctx, Reply(200, None))
        self.watches[(ctx.client, ctx.request.request_id)] = info.resource
        return events

    def stop_watch(self, client: str, request_id: int) -> None:
        resource = self.watches.pop((client, request_id), None)
        if resource is not None:
            self.cache(resource).stop(client, request_id)

