"""A controller's informers on the apiserver harness's world: one store member, two API server
instances, the kubectl client ``u1`` that writes, and in place of client ``u2`` an
``InformerHost``, a stand-in for a controller manager whose connection records into the same
``ApiLog``; so every apiserver invariant judges the informers' lists and watches after every
command (``cluster.violation`` stays None)."""

from __future__ import annotations

from typing import Any

from checks.apiserver.cluster import ApiCluster, ApiOptions
from impl.apiserver.client import ApiLog, ClientConfig
from impl.controllers.connection import ApiConnection, Received
from impl.controllers.informer import DeletedFinalStateUnknown, Handler, Informer, InformerConfig
from impl.sim.world import Output

__all__ = ["ControllerCluster", "InformerHost", "CONTROLLER", "WRITER"]

WRITER, CONTROLLER = "u1", "u2"
RUN_TICKS_MAX = 600


def _summary(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("resourceVersion", ""), meta.get("uid", "")


class InformerHost:
    """A world node holding one connection and its informers; every handler call is recorded in
    ``seen`` as (what, key, (resourceVersion, uid) ...), and what no informer claimed (answers
    to the test's own requests) in ``unclaimed``."""

    def __init__(self, node_id: str, instances: tuple[str, ...], log: ApiLog) -> None:
        self.id = node_id
        self.instances = instances
        self.log = log
        self.now = 0
        self.connection: ApiConnection | None = None
        self.informers: list[Informer] = []
        self.seen: list[tuple] = []
        self.unclaimed: list[Received] = []

    @property
    def idle(self) -> bool:
        return self.connection is None or self.connection.idle

    def connect(self, credentials, config: ClientConfig, *, instance: str | None = None,
                first_request_id: int = 1) -> ApiConnection:
        self.connection = ApiConnection(self.id, self.instances, self.log, credentials, config,
                                        instance=instance, first_request_id=first_request_id)
        return self.connection

    def inform(self, path: str, config: InformerConfig) -> Informer:
        assert self.connection is not None
        informer = Informer(self.connection, path, config)
        informer.add_handler(Handler(
            on_add=lambda obj: self.seen.append(("add", _key(obj), _summary(obj))),
            on_update=lambda old, new: self.seen.append(("update", _key(new), _summary(old), _summary(new))),
            on_delete=lambda obj: self.seen.append(
                ("tombstone", obj.key, _summary(obj.object)) if isinstance(obj, DeletedFinalStateUnknown)
                else ("delete", _key(obj), _summary(obj)))))
        self.informers.append(informer)
        informer.start(self.now)
        return informer

    def _route(self) -> None:
        for item in self.connection.drain():
            if not any(informer.handle(item) for informer in self.informers):
                self.unclaimed.append(item)

    def tick(self) -> Output:
        self.now += 1
        if self.connection is None:
            return Output()
        self.connection.tick(self.now)
        self._route()
        for informer in self.informers:
            informer.tick(self.now)
        return self.connection.output()

    def step(self, src: str, message: Any) -> Output:
        if self.connection is None:
            return Output()
        self.connection.step(src, message)
        self._route()
        return self.connection.output()


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


class ControllerCluster(ApiCluster):
    def __init__(self, seed: int = 1) -> None:
        super().__init__(ApiOptions(members=1, apiservers=2, clients=2, seed=seed))

    def _build(self, node_id: str, ids, disk, rng):
        if node_id == CONTROLLER:
            return InformerHost(node_id, self.instance_ids, self.api_log)
        return super()._build(node_id, ids, disk, rng)

    @property
    def host(self) -> InformerHost:
        return self.world.nodes[CONTROLLER]

    def flush(self) -> None:
        """Send what the test made the host queue outside a world step."""
        self.world.apply(CONTROLLER, self.host.connection.output())

    def start_informer(self, path: str, config: InformerConfig = InformerConfig(),
                       connection: ClientConfig = ClientConfig(), *, instance: str | None = None,
                       first_request_id: int = 1) -> Informer:
        if self.host.connection is None:
            self.host.connect(self.credentials["admin"], connection, instance=instance,
                              first_request_id=first_request_id)
        informer = self.host.inform(path, config)
        self.flush()
        return informer

    def run_until(self, done, ticks_max: int = RUN_TICKS_MAX) -> int:
        """Tick until ``done()`` (bounded); the ticks it took."""
        for ticks in range(ticks_max):
            if done():
                self.check()
                return ticks
            self.world.tick()
        raise AssertionError(f"not done after {ticks_max} ticks")

    def write(self, method: str, path: str, body: Any = None, instance: str = "a1") -> Any:
        """A request as admin from the writer; its response."""
        self.request(f"as admin {method} {path}", WRITER, "admin", method, path, body=body, instance=instance)
        self.run_until(lambda: self.client(WRITER).idle)  # settle would wait for the host too
        return next(c for c in reversed(self.api_log.calls) if c.client == WRITER).response

    def truth(self, path: str) -> dict[str, tuple[str, str]]:
        """A consistent list (resourceVersion unset, from the store): key -> (rv, uid)."""
        response = self.write("GET", path)
        assert response is not None and response.code == 200, response
        return {_key(obj): _summary(obj) for obj in response.body["items"]}


# ----- controller hosts on the apiserver world ---------------------------------------------------

HOSTED_TICKS_MAX = 600


def hosted_cluster(reconcilers, *, hosts: tuple[str, ...] = (CONTROLLER,), config=None, seed: int = 1) -> ApiCluster:
    """The apiserver harness's world (one member, instances a1 and a2, the writer u1) with a
    ``ControllerHost`` running ``reconcilers`` as admin in place of each client in ``hosts``
    (u2, u3, ...). Without an election config the first host runs alone."""
    from impl.controllers.host import ControllerHost, HostConfig

    config = config or HostConfig()
    clients = 1 + len(hosts)
    cluster = ApiCluster(ApiOptions(members=1, apiservers=2, clients=clients, seed=seed))
    for host in hosts:
        cluster.world.nodes[host] = ControllerHost(host, cluster.instance_ids, cluster.api_log,
                                                   cluster.credentials["admin"], tuple(reconcilers), config,
                                                   disk=cluster.world.disks[host])
    return cluster


def run_hosted_until(cluster: ApiCluster, done, ticks_max: int = HOSTED_TICKS_MAX) -> int:
    """Tick until ``done()``, with every apiserver invariant checked on the way; the ticks it took."""
    for ticks in range(ticks_max):
        if done():
            cluster.check()
            assert cluster.violation is None, cluster.violation
            return ticks
        cluster.world.tick()
        assert cluster.violation is None, cluster.violation
    raise AssertionError(f"not done after {ticks_max} ticks")


def stored(cluster: ApiCluster, storage_resource: str) -> dict[str, dict[str, Any]]:
    """What the store holds now for ``storage_resource`` (``configmaps``, ``pods``,
    ``deployments``, ``minions`` for nodes), as namespace/name (or name) -> object."""
    prefix = f"/registry/{storage_resource}/"
    return {key[len(prefix):]: obj for key, obj in sorted(cluster.observer.objects.items()) if key.startswith(prefix)}


def admin_write(cluster: ApiCluster, method: str, path: str, body: Any = None, instance: str = "a1",
                content_type: str = "") -> Any:
    """A request as admin from the writer u1 (ticks until it is answered); its response. A PATCH
    without ``content_type`` is a JSON merge patch."""
    if method == "PATCH" and not content_type:
        content_type = "application/merge-patch+json"
    cluster.request(f"as admin {method} {path}", WRITER, "admin", method, path, body=body, instance=instance,
                    content_type=content_type)
    run_hosted_until(cluster, lambda: cluster.client(WRITER).idle)
    return next(c for c in reversed(cluster.api_log.calls) if c.client == WRITER).response
