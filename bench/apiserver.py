"""API server figures for ``make bench``: requests per second through the whole pipeline of one
in-process ``LocalApiServer`` (authentication, impersonation, authorization, the admission chain,
validation, persist to the MVCC store, the watch caches fed from the store's watch), and the
share of each stage.

Kinds of request, each as an admin (``system:masters``) and as a user authorized through RBAC (a
RoleBinding to a Role in the namespace):

- get: one existing pod, resourceVersion unset, so a quorum read of the store;
- create: config maps and pods, each through the whole admission chain;
- list: 50 config maps from the store (resourceVersion unset) and from the watch cache
  (resourceVersion=0).

Stages are timed by subclasses of the server's own classes (``pipeline_class``,
``writes_class``), never by changing impl/: authentication, impersonation, authorization, each
admission step, validation and persist (the store transaction). "other" is the rest of a request:
routing, decoding the body, the REST handlers, the response, metrics, feeding the caches.
The issue's targets: 5,000 gets/s and 1,000 creates/s on 2 cores. The wall clock is read here only.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import time
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from impl.apiserver.authn import Authentication, StaticTokens
from impl.apiserver.core import ServerConfig
from impl.apiserver.local import LocalApiServer
from impl.apiserver.pipeline import Pipeline
from impl.apiserver.writes import Writes

__all__ = ["run", "TimedServer", "GETS", "CREATES", "LISTS"]

GETS = 4_000
CREATES = 2_000  # of each kind
LISTS = 2_000  # of each source
LISTED_OBJECTS = 50
TARGET_GETS_PER_SECOND = 5_000
TARGET_CREATES_PER_SECOND = 1_000
PROFILE_REQUESTS = 500
PROFILE_ROWS = 15

TOKENS = 'admin-token,admin,1,"system:masters"\nbob-token,bob,2\n'
USERS = {"admin": (("Authorization", "Bearer admin-token"),), "bob (RBAC)": (("Authorization", "Bearer bob-token"),)}
NAMESPACE = "bench"
LIST_NAMESPACE = "listed"


class TimedPipeline(Pipeline):
    """The pipeline with its request-level stages timed into ``server.stage_seconds``."""

    def _timed(self, stage: str, started: float) -> None:
        self.server.stage_seconds[stage] += time.perf_counter() - started

    def parse(self, ctx):
        started = time.perf_counter()
        try:
            return super().parse(ctx)
        finally:
            self._timed("routing (request info)", started)

    def authenticate(self, ctx):
        started = time.perf_counter()
        try:
            return (yield from super().authenticate(ctx))
        finally:
            self._timed("authentication", started)

    def impersonate(self, ctx):
        started = time.perf_counter()
        try:
            return (yield from super().impersonate(ctx))
        finally:
            self._timed("impersonation", started)

    def authorize(self, ctx):
        started = time.perf_counter()
        try:
            return super().authorize(ctx)
        finally:
            self._timed("authorization", started)


class TimedWrites(Writes):
    """Each write step (admission plugins, escalation, validation, persist) timed by its name.
    In-process the store answers at once, so a step's wall time includes its store calls."""

    def run_step(self, ctx, attributes, step, persist):
        started = time.perf_counter()
        try:
            return (yield from super().run_step(ctx, attributes, step, persist))
        finally:
            self.server.stage_seconds[step] += time.perf_counter() - started


class TimedServer(LocalApiServer):
    pipeline_class = TimedPipeline
    writes_class = TimedWrites

    def __init__(self, **kwargs: Any) -> None:
        self.stage_seconds: dict[str, float] = defaultdict(float)
        super().__init__(**kwargs)


def _body(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _pod(name: str) -> bytes:
    return _body({"metadata": {"name": name, "labels": {"app": "bench"}},
                  "spec": {"containers": [{"name": "c", "image": "nginx:1.25",
                                           "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}})


def _admin(server: TimedServer, method: str, path: str, body: Any) -> None:
    answer = server.request(method, path, _body(body), (), USERS["admin"])
    assert answer.code in (200, 201), (path, answer)


def new_server() -> TimedServer:
    """A server with two namespaces, their default service accounts, a pod to get, the listed
    config maps, and bob's Role and RoleBinding."""
    server = TimedServer(config=ServerConfig(Authentication(static_tokens=StaticTokens.from_csv(TOKENS))))
    for namespace in (NAMESPACE, LIST_NAMESPACE):
        _admin(server, "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        _admin(server, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "default"}})
    server.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", _pod("target"), (), USERS["admin"])
    for i in range(LISTED_OBJECTS):
        _admin(server, "POST", f"/api/v1/namespaces/{LIST_NAMESPACE}/configmaps",
               {"metadata": {"name": f"cm-{i:03d}", "labels": {"app": "bench"}}, "data": {"key": "value" * 20}})
    rule = {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list", "create"]}
    for namespace in (NAMESPACE, LIST_NAMESPACE):
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
        _admin(server, "POST", f"{rbac}/roles", {"metadata": {"name": "bench"}, "rules": [rule]})
        _admin(server, "POST", f"{rbac}/rolebindings", {
            "metadata": {"name": "bob-bench"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bench"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]})
    server.stage_seconds.clear()
    return server


def workloads(user: str) -> list[tuple[str, int, Any]]:
    """(label, count, request(i) -> (method, path, body, query)) per kind of request."""
    tag = user.split()[0]
    pods, configmaps = f"/api/v1/namespaces/{NAMESPACE}/pods", f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    listed = f"/api/v1/namespaces/{LIST_NAMESPACE}/configmaps"
    return [
        ("get pod (store)", GETS, lambda i: ("GET", f"{pods}/target", b"", ())),
        ("create configmap", CREATES, lambda i: ("POST", configmaps,
                                                 _body({"metadata": {"name": f"{tag}-{i}"}, "data": {"k": "v"}}), ())),
        ("create pod", CREATES, lambda i: ("POST", pods, _pod(f"{tag}-{i}"), ())),
        (f"list {LISTED_OBJECTS} (store)", LISTS, lambda i: ("GET", listed, b"", ())),
        (f"list {LISTED_OBJECTS} (cache, rv=0)", LISTS, lambda i: ("GET", listed, b"", (("resourceVersion", "0"),))),
    ]


WARM_UP_REQUESTS = 500


def measure(server: TimedServer, user: str, count: int, request) -> float:
    """Requests per second of ``count`` requests; each must succeed."""
    headers = USERS[user]
    started = time.perf_counter()
    for i in range(count):
        method, path, body, query = request(i)
        answer = server.request(method, path, body, query, headers)
        if answer.code not in (200, 201):
            raise AssertionError(f"{user} {method} {path}: {answer.code} {answer.body}")
    return count / (time.perf_counter() - started)


def _stage_table(title: str, seconds: dict[str, float], total: float, count: int) -> Table:
    table = Table(title=title)
    table.add_column("stage")
    table.add_column("share", justify="right")
    table.add_column("µs per request", justify="right")
    accounted = 0.0
    for stage, spent in sorted(seconds.items(), key=lambda item: -item[1]):
        if spent / total < 0.001:
            continue
        accounted += spent
        table.add_row(stage, f"{spent / total:.1%}", f"{spent / count * 1e6:.1f}")
    other = max(total - accounted, 0.0)
    table.add_row("other (routing, body, REST handler, response, caches)", f"{other / total:.1%}",
                  f"{other / count * 1e6:.1f}")
    return table


def _profile(server: TimedServer, user: str, request, console: Console, label: str) -> None:
    profile = cProfile.Profile()
    profile.enable()
    measure(server, user, PROFILE_REQUESTS, request)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(PROFILE_ROWS)
    console.print(f"cProfile of {PROFILE_REQUESTS} × {label} as {user} (top {PROFILE_ROWS} by own time):",
                  markup=False, highlight=False)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    for line in lines[start:]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def run(console: Console) -> None:
    """Print the apiserver figures (called by ``python -m bench``)."""
    console.rule("apiserver")
    table = Table(title="requests per second, one in-process LocalApiServer, whole pipeline")
    table.add_column("request")
    for user in USERS:
        table.add_column(user, justify="right")
    table.add_column("target", justify="right")
    rates: dict[tuple[str, str], float] = {}
    stages: dict[str, tuple[dict[str, float], float, int]] = {}
    for user in USERS:
        server = new_server()
        _, _, first = workloads(user)[0]
        measure(server, user, WARM_UP_REQUESTS, first)  # untimed: the first requests of a process pay its warm-up
        for label, count, request in workloads(user):
            server.stage_seconds.clear()
            started = time.perf_counter()
            rates[(label, user)] = measure(server, user, count, request)
            stages[f"{label} as {user}"] = (dict(server.stage_seconds), time.perf_counter() - started, count)
    targets = {"get pod (store)": TARGET_GETS_PER_SECOND, "create configmap": TARGET_CREATES_PER_SECOND,
               "create pod": TARGET_CREATES_PER_SECOND}
    missed = []
    for label, _, _ in workloads("admin"):
        target = targets.get(label)
        cells = []
        for user in USERS:
            rate = rates[(label, user)]
            ok = target is None or rate >= target
            cells.append(f"{'' if ok else '[red]'}{rate:,.0f}{'' if ok else '[/]'}")
            if not ok:
                missed.append((label, user))
        table.add_row(label, *cells, f"{target:,}" if target else "")
    console.print(table)
    for title in ("get pod (store) as bob (RBAC)", "create configmap as bob (RBAC)", "create pod as bob (RBAC)",
                  f"list {LISTED_OBJECTS} (store) as admin"):
        seconds, total, count = stages[title]
        console.print(_stage_table(f"where the time goes: {title}", seconds, total, count))
    for label in sorted({label for label, _ in missed}):  # once per kind, as the RBAC user
        user = "bob (RBAC)"
        request = next(r for name, _, r in workloads(user) if name == label)
        _profile(new_server(), user, request, console, label)
