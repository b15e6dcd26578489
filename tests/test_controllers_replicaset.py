"""The ReplicaSet controller (impl/controllers/replicaset.py) on the apiserver harness's world.

The world: one store member, API server instances a1 and a2, the user ``u1`` (admin writes), the
test's kubelet ``u2`` and the controller manager ``u3``. Pods run and become Ready only when the
test's ``Kubelet`` says so, through the pods' status subresource, as a kubelet would. Every
apiserver invariant judges the traffic on every tick (``cluster.violation`` stays None), and the
assertions read what the store holds (``stored``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checks.apiserver.cluster import ApiCluster, ApiOptions
from impl.apiserver.objectmeta import tick_of, timestamp
from impl.apiserver.messages import WatchEvent
from impl.controllers.api import Request, controller_owner
from impl.controllers.host import ControllerHost, HostConfig
from impl.controllers.replicaset import EXPECTATIONS_TTL_TICKS, Expectations, ReplicaSetController, deletion_order
from tests.controllers_world import admin_write, run_hosted_until, stored

USER, KUBELET, MANAGER = "u1", "u2", "u3"
NAMESPACE = "apps"
TICKS_MAX = 600
MERGE = "application/merge-patch+json"
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}


# ----- the world: shared with test_controllers_deployment ------------------------------------------

def apps_cluster(*controller_classes, seed: int = 1) -> ApiCluster:
    """The harness with the controller manager ``u3`` running ``controller_classes`` (each built
    with the world's clock, the one the API server's timestamps use), namespace ``apps`` with its
    default ServiceAccount, and nodes node-1 and node-2."""
    cluster = ApiCluster(ApiOptions(members=1, apiservers=2, clients=3, seed=seed))
    reconcilers = tuple(cls(clock=lambda: cluster.world.now) for cls in controller_classes)
    cluster.world.nodes[MANAGER] = ControllerHost(MANAGER, cluster.instance_ids, cluster.api_log,
                                                  cluster.credentials["admin"], reconcilers, HostConfig())
    for path, body in (("/api/v1/namespaces", {"kind": "Namespace", "metadata": {"name": NAMESPACE}}),
                       (f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
                        {"kind": "ServiceAccount", "metadata": {"name": "default"}}),
                       ("/api/v1/nodes", {"kind": "Node", "metadata": {"name": "node-1"}}),
                       ("/api/v1/nodes", {"kind": "Node", "metadata": {"name": "node-2"}})):
        answer = admin_write(cluster, "POST", path, {"apiVersion": "v1", **body})
        assert answer.code == 201, answer
    return cluster


def manager(cluster: ApiCluster) -> ControllerHost:
    return cluster.world.nodes[MANAGER]


def run_until(cluster: ApiCluster, done: Callable[[], bool], *, each: tuple[Callable[[], None], ...] = (),
              ticks_max: int = TICKS_MAX) -> int:
    """Tick until ``done()``, every apiserver invariant checked; before each look at ``done``
    (so after every tick) each of ``each`` runs: the kubelet, the monitors."""
    def finished() -> bool:
        for step in each:
            step()
        return done()
    return run_hosted_until(cluster, finished, ticks_max)


def tick(cluster: ApiCluster, count: int, *, each: tuple[Callable[[], None], ...] = ()) -> None:
    """``count`` ticks, each of ``each`` after every one, every apiserver invariant checked."""
    for _ in range(count):
        cluster.world.tick()
        assert cluster.violation is None, cluster.violation
        for step in each:
            step()


def send(cluster: ApiCluster, method: str, path: str, body: Any = None, content_type: str = "") -> None:
    """A request as admin from the user, not waited for (the caller ticks)."""
    assert cluster.client(USER).idle
    cluster.request(f"as admin {method} {path}", USER, "admin", method, path, body=body, content_type=content_type)


def write(cluster: ApiCluster, method: str, path: str, body: Any = None, content_type: str = "",
          each: tuple[Callable[[], None], ...] = ()) -> Any:
    """A request as admin from the user, ticked (with ``each``) until answered; its response."""
    send(cluster, method, path, body, content_type)
    run_until(cluster, lambda: cluster.client(USER).idle, each=each)
    return next(c for c in reversed(cluster.api_log.calls) if c.client == USER).response


def pods(cluster: ApiCluster) -> dict[str, dict[str, Any]]:
    return {key: pod for key, pod in stored(cluster, "pods").items() if key.startswith(f"{NAMESPACE}/")}


def active(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


def ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", ()))


def owned_by(pod: dict[str, Any], owner: dict[str, Any]) -> bool:
    ref = controller_owner(pod)
    return ref is not None and ref["uid"] == owner["metadata"]["uid"]


class Kubelet:
    """The test's kubelets: one request at a time from ``u2``, oldest pod first: a pod that
    ``runs(pod)`` allows becomes Running and Ready ``startup_ticks`` after its creation (the
    tests' pods stay unbound, so a delete removes them at once)."""

    def __init__(self, cluster: ApiCluster, runs: Callable[[dict[str, Any]], bool] = lambda pod: True,
                 startup_ticks: int = 3) -> None:
        self.cluster, self.runs, self.startup_ticks = cluster, runs, startup_ticks

    def __call__(self) -> None:
        if not self.cluster.client(KUBELET).idle:
            return
        for pod in sorted(pods(self.cluster).values(), key=lambda pod: pod["metadata"]["creationTimestamp"]):
            path = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}"
            if active(pod) and not ready(pod) and self.runs(pod) and self._started(pod):
                self._request("PATCH", f"{path}/status", body={"status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": timestamp(self.cluster.world.now)}]}},
                    content_type=MERGE)
                return

    def _started(self, pod: dict[str, Any]) -> bool:
        return pod["metadata"]["creationTimestamp"] <= timestamp(self.cluster.world.now - self.startup_ticks)

    def _request(self, method: str, path: str, **options) -> None:
        self.cluster.request(f"kubelet {method} {path}", KUBELET, "admin", method, path, **options)


# ----- ReplicaSet helpers ---------------------------------------------------------------------

RS_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets"


def replica_set(name: str = "web", replicas: int = 3, template: dict[str, Any] = TEMPLATE) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(template["metadata"]["labels"])},
                     "template": template}}


def stored_rs(cluster: ApiCluster, name: str = "web") -> dict[str, Any]:
    return stored(cluster, "replicasets")[f"{NAMESPACE}/{name}"]


def owned_pods(cluster: ApiCluster, rs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: pod for key, pod in pods(cluster).items() if owned_by(pod, rs) and active(pod)}


def pod_creates(cluster: ApiCluster) -> list[Any]:
    """The controller manager's pod creates, in order, with their responses."""
    return [c for c in cluster.api_log.calls if c.client == MANAGER and c.request.method == "POST"
            and c.request.path.endswith("/pods")]


def scale(cluster: ApiCluster, name: str, replicas: int, each=()) -> None:
    answer = write(cluster, "PATCH", f"{RS_PATH}/{name}", {"spec": {"replicas": replicas}}, MERGE, each=each)
    assert answer.code == 200, answer


# ----- tests ------------------------------------------------------------------------------------

def test_creates_pods_up_to_replicas_and_the_status_converges():
    cluster = apps_cluster(ReplicaSetController)
    assert admin_write(cluster, "POST", RS_PATH, replica_set(replicas=5)).code == 201
    kubelet = Kubelet(cluster)
    run_until(cluster, lambda: stored_rs(cluster).get("status", {}).get("availableReplicas") == 5, each=(kubelet,))
    rs = stored_rs(cluster)
    owned = owned_pods(cluster, rs)
    assert len(owned) == 5 and len(pods(cluster)) == 5
    for pod in owned.values():
        assert pod["metadata"]["name"].startswith("web-") and pod["metadata"]["generateName"] == "web-"
        assert controller_owner(pod) == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                         "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        assert pod["metadata"]["labels"] == {"app": "web"} and pod["spec"]["containers"][0]["image"] == "nginx:1"
    assert rs["status"] == {"replicas": 5, "fullyLabeledReplicas": 5, "readyReplicas": 5, "availableReplicas": 5,
                            "observedGeneration": 1}
    assert len(pod_creates(cluster)) == 5
    assert_fixpoint(cluster, Request(NAMESPACE, "web"))


def manager_writes(cluster: ApiCluster) -> int:
    return len([c for c in cluster.api_log.calls if c.client == MANAGER and c.request.method != "GET"])


def assert_fixpoint(cluster: ApiCluster, request: Request, controller: int = 0) -> None:
    """Once converged, one more reconcile of ``request`` writes nothing."""
    run_until(cluster, lambda: manager(cluster).quiet())
    before = manager_writes(cluster)
    manager(cluster).controllers[controller].queue.add(request)
    run_until(cluster, lambda: manager(cluster).quiet())
    assert manager_writes(cluster) == before


def test_a_ready_pod_counts_as_available_after_min_ready_seconds():
    cluster = apps_cluster(ReplicaSetController)
    rs = replica_set(replicas=1)
    rs["spec"]["minReadySeconds"] = 30
    assert admin_write(cluster, "POST", RS_PATH, rs).code == 201
    kubelet = Kubelet(cluster)
    run_until(cluster, lambda: stored_rs(cluster).get("status", {}).get("readyReplicas") == 1, each=(kubelet,))
    assert stored_rs(cluster)["status"]["availableReplicas"] == 0
    became_ready = tick_of(next(iter(pods(cluster).values()))["status"]["conditions"][0]["lastTransitionTime"])
    run_until(cluster, lambda: stored_rs(cluster)["status"].get("availableReplicas") == 1)  # no event: a timed requeue
    assert cluster.world.now - became_ready > 30


def test_slow_start_batches_stop_at_the_first_failing_batch():
    assert ReplicaSetController(clock=lambda: 0).batches(8) == [1, 2, 4, 1]
    assert ReplicaSetController(clock=lambda: 0).batches(10) == [1, 2, 4, 3]
    # A ResourceQuota that lets 2 pods in: batch 1 (1 pod) and batch 2 (2 pods: 1 refused) end
    # the creates; the third batch is never tried, and those 5 are taken off the expectations.
    cluster = apps_cluster(ReplicaSetController)
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"pods": "2"}}}
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/resourcequotas", quota).code == 201
    quota_status = {"status": {"hard": {"pods": "2"}, "used": {"pods": "0"}}}  # as the quota controller would
    assert write(cluster, "PATCH", f"/api/v1/namespaces/{NAMESPACE}/resourcequotas/q/status", quota_status,
                 MERGE).code == 200
    assert admin_write(cluster, "POST", RS_PATH, replica_set(replicas=8)).code == 201
    run_until(cluster, lambda: stored_rs(cluster).get("status", {}).get("replicas") == 2)
    first = pod_creates(cluster)[:4]
    assert [c.response.code for c in first[:3]] == [201, 201, 403], [c.response for c in first]
    status_write = next(i for i, c in enumerate(cluster.api_log.calls)
                        if c.client == MANAGER and c.request.path.endswith("/replicasets/web/status"))
    assert len([c for c in cluster.api_log.calls[:status_write] if c in pod_creates(cluster)]) == 3
    key = f"{NAMESPACE}/web"
    assert manager(cluster).reconcilers[0].expectations.satisfied(key, cluster.world.now)
    assert len(pods(cluster)) == 2


def test_creates_refused_in_a_terminating_namespace_are_not_retried():
    cluster = apps_cluster(ReplicaSetController)
    assert admin_write(cluster, "POST", RS_PATH, replica_set(replicas=0)).code == 201
    run_until(cluster, lambda: stored_rs(cluster).get("status", {}).get("observedGeneration") == 1)
    assert admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NAMESPACE}").code == 200  # Terminating
    scale(cluster, "web", 2)
    run_until(cluster, lambda: len(pod_creates(cluster)) == 2)
    tick(cluster, 100)
    assert [c.response.code for c in pod_creates(cluster)] == [403, 403], "no retry: every create would fail"
    assert pods(cluster) == {}


def _pod(name: str, *, node: str = "", phase: str = "Pending", ready_at: int | None = None, created: int = 0,
         restarts: int = 0, uid: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "containerStatuses": [{"restartCount": restarts}]}
    if ready_at is not None:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": timestamp(ready_at)}]
    return {"metadata": {"name": name, "uid": uid or name, "creationTimestamp": timestamp(created)},
            "spec": {"nodeName": node}, "status": status}


def test_deletion_order_follows_kubes_ranking():
    now = 1000
    candidates = [
        _pod("running-ready-old", node="n1", phase="Running", ready_at=100),
        _pod("running-ready-new", node="n1", phase="Running", ready_at=990),
        _pod("running-not-ready", node="n1", phase="Running"),
        _pod("unknown", node="n1", phase="Unknown"),
        _pod("pending-assigned", node="n1"),
        _pod("unassigned", node=""),
    ]
    order = [p["metadata"]["name"] for p in deletion_order(candidates, {}, now)]
    assert order == ["unassigned", "pending-assigned", "unknown", "running-not-ready", "running-ready-new",
                     "running-ready-old"]
    # Same phase and readiness: more siblings on the node first, then more restarts, then newer.
    crowded = _pod("crowded", node="n2", phase="Running")
    restarted = _pod("restarted", node="n3", phase="Running", restarts=4)
    newer = _pod("newer", node="n4", phase="Running", created=900)
    older = _pod("older", node="n5", phase="Running", created=10)
    ranks = {"crowded": 3, "restarted": 1, "newer": 1, "older": 1}
    order = [p["metadata"]["name"] for p in deletion_order([older, newer, restarted, crowded], ranks, now)]
    assert order == ["crowded", "restarted", "newer", "older"]
    # Ready times within one log2 bucket of age tie, and the UID decides (deterministic).
    twins = [_pod("b", node="n1", phase="Running", ready_at=500, uid="u2"),
             _pod("a", node="n1", phase="Running", ready_at=510, uid="u1")]
    assert [p["metadata"]["name"] for p in deletion_order(twins, {}, now)] == ["a", "b"]


def bare_pod(name: str, labels: dict[str, str], node: str = "", owner: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pod written by hand (``node``: created already bound, as a static placement)."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
           "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}
    if node:
        pod["spec"]["nodeName"] = node
    if owner is not None:
        pod["metadata"]["ownerReferences"] = [owner]
    return pod


def test_surplus_pods_are_deleted_lowest_ranked_first():
    cluster = apps_cluster(ReplicaSetController)
    # Three pods placed on node-1 by hand (the RS adopts them), then the RS creates an unassigned one.
    for name in ("running-ready", "running", "pending"):
        answer = admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", bare_pod(name, {"app": "web"}, "node-1"))
        assert answer.code == 201, answer
    for name, conditions in (("running", []), ("running-ready", [{"type": "Ready", "status": "True",
                                                                  "lastTransitionTime": timestamp(cluster.world.now)}])):
        body = {"status": {"phase": "Running", "conditions": conditions}}
        assert write(cluster, "PATCH", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status", body, MERGE).code == 200
    assert admin_write(cluster, "POST", RS_PATH, replica_set(replicas=4)).code == 201
    run_until(cluster, lambda: len(owned_pods(cluster, stored_rs(cluster))) == 4)
    unassigned = next(pod["metadata"]["name"] for pod in pods(cluster).values() if not pod["spec"].get("nodeName"))
    scale(cluster, "web", 1)
    run_until(cluster, lambda: len(owned_pods(cluster, stored_rs(cluster))) == 1)
    assert list(owned_pods(cluster, stored_rs(cluster))) == [f"{NAMESPACE}/running-ready"]
    deletes = [c.request.path.rsplit("/", 1)[1] for c in cluster.api_log.calls
               if c.client == MANAGER and c.request.method == "DELETE"]
    assert deletes == [unassigned, "pending", "running"]
    left = pods(cluster)
    assert f"{NAMESPACE}/{unassigned}" not in left  # never bound: deleted at once
    assert all(left[f"{NAMESPACE}/{name}"]["metadata"].get("deletionTimestamp") for name in ("pending", "running"))
    run_until(cluster, lambda: stored_rs(cluster).get("status", {}).get("replicas") == 1)
    assert stored_rs(cluster)["status"]["readyReplicas"] == 1


# ----- expectations under a lagging cache ------------------------------------------------------------

class LaggingPodWatch:
    """Holds back every event of the controller manager's pod watch (its cache stops seeing
    pods) until ``release()``, which delivers them in order."""

    def __init__(self, cluster: ApiCluster) -> None:
        self.cluster, self.watch_ids, self.holding = cluster, set(), True

    def __call__(self) -> None:
        network = self.cluster.world.network
        for instance in self.cluster.instance_ids:
            for envelope in network.on_link(instance, MANAGER):
                message = envelope.message
                if not isinstance(message, WatchEvent):
                    continue
                if isinstance(message.object, dict) and message.object.get("kind") == "Pod":
                    self.watch_ids.add(message.request_id)
                if self.holding and message.request_id in self.watch_ids:
                    self.cluster.world.hold(envelope)

    def release(self) -> None:
        self.holding = False
        for instance in self.cluster.instance_ids:
            for envelope in sorted(self.cluster.world.network.held_on_link(instance, MANAGER), key=lambda e: e.id):
                self.cluster.world.deliver(envelope)


class RecordingReplicaSetController(ReplicaSetController):
    """Notes how many pods its cache held at each reconcile."""

    def __init__(self, *, clock) -> None:
        super().__init__(clock=clock)
        self.cache_sizes: list[int] = []

    def reconcile(self, request, cache, client):
        self.cache_sizes.append(len(cache.list("pods", request.namespace)))
        return (yield from super().reconcile(request, cache, client))


class NoExpectationsReplicaSetController(RecordingReplicaSetController):
    """The catalog's no-expectations-overshoot, for contrast: always acts."""

    def expectations_satisfied(self, key: str) -> bool:
        return True


def _lagging_run(controller_class) -> tuple[ApiCluster, LaggingPodWatch]:
    """RS web (3 replicas) created while the manager's pod watch is held back; once its
    creates are stored, a change to the ReplicaSet makes it reconcile again on a cache with
    no pods in it."""
    cluster = apps_cluster(controller_class)
    run_until(cluster, lambda: manager(cluster).quiet())
    lag = LaggingPodWatch(cluster)
    send(cluster, "POST", RS_PATH, replica_set(replicas=3))
    run_until(cluster, lambda: len(pods(cluster)) >= 3 and manager(cluster).quiet(), each=(lag,))
    reconciles = len(manager(cluster).reconcilers[0].cache_sizes)
    write(cluster, "PATCH", f"{RS_PATH}/web", {"metadata": {"annotations": {"poke": "1"}}}, MERGE, each=(lag,))
    run_until(cluster, lambda: manager(cluster).quiet() and len(manager(cluster).reconcilers[0].cache_sizes) > reconciles,
              each=(lag,))
    tick(cluster, 20, each=(lag,))
    assert manager(cluster).reconcilers[0].cache_sizes[-1] == 0, "the cache saw the pods: no lag"
    return cluster, lag


def test_expectations_stop_a_second_reconcile_on_a_lagging_cache_from_creating_more():
    cluster, lag = _lagging_run(RecordingReplicaSetController)
    assert len(pods(cluster)) == 3, "a reconcile on a stale cache created more pods"
    assert not manager(cluster).reconcilers[0].expectations.satisfied(f"{NAMESPACE}/web", cluster.world.now)
    lag.release()
    run_until(cluster, lambda: stored_rs(cluster).get("status", {}).get("replicas") == 3 and manager(cluster).quiet())
    assert len(pods(cluster)) == 3 and len(pod_creates(cluster)) == 3


def test_without_expectations_the_same_lag_overshoots():
    cluster, lag = _lagging_run(NoExpectationsReplicaSetController)
    assert len(pods(cluster)) > 3
    lag.release()
    run_until(cluster, lambda: len(owned_pods(cluster, stored_rs(cluster))) == 3 and manager(cluster).quiet())


def test_expectations_expire_after_their_ttl_and_a_still_lagging_cache_then_overshoots():
    """Kube's trade-off: after 5 minutes the controller stops waiting; if its cache still has
    not seen the pods, it creates them again, and deletes the surplus once it sees them."""
    cluster, lag = _lagging_run(RecordingReplicaSetController)
    controller = manager(cluster).reconcilers[0]
    record = controller.expectations.records[f"{NAMESPACE}/web"]
    run_until(cluster, lambda: cluster.world.now - record.since > EXPECTATIONS_TTL_TICKS, each=(lag,))
    write(cluster, "PATCH", f"{RS_PATH}/web", {"metadata": {"annotations": {"poke": "2"}}}, MERGE, each=(lag,))
    run_until(cluster, lambda: len(pods(cluster)) == 6 and manager(cluster).quiet(), each=(lag,))
    assert controller.cache_sizes[-1] == 0
    lag.release()
    run_until(cluster, lambda: len(owned_pods(cluster, stored_rs(cluster))) == 3 and manager(cluster).quiet())
    assert stored_rs(cluster)["status"]["replicas"] == 3


def test_expectations_count_each_observation_once_and_expire():
    expectations = Expectations(ttl_ticks=300)
    expectations.expect_creations("apps/web", "uid-1", 2, now=100)
    assert not expectations.satisfied("apps/web", 400)
    assert expectations.satisfied("apps/web", 401)  # kube's 5 minutes passed: act again
    expectations.expect_deletions("apps/web", "uid-1", ["apps/web-a", "apps/web-b"], now=500)
    expectations.deletion_observed("apps/web", "uid-1", "apps/web-a")
    expectations.deletion_observed("apps/web", "uid-1", "apps/web-a")  # counted once
    expectations.deletion_observed("apps/web", "uid-other", "apps/web-b")  # another ReplicaSet's
    assert not expectations.satisfied("apps/web", 501)
    expectations.deletion_observed("apps/web", "uid-1", "apps/web-b")
    assert expectations.satisfied("apps/web", 501)


# ----- adoption and release --------------------------------------------------------------------

def test_adopts_a_matching_orphan_and_releases_a_pod_whose_labels_stop_matching():
    cluster = apps_cluster(ReplicaSetController)
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", bare_pod("stray", {"app": "web"})).code == 201
    assert admin_write(cluster, "POST", RS_PATH, replica_set(replicas=2)).code == 201
    run_until(cluster, lambda: stored_rs(cluster).get("status", {}).get("replicas") == 2)
    rs = stored_rs(cluster)
    assert owned_by(pods(cluster)[f"{NAMESPACE}/stray"], rs), "the orphan was adopted"
    assert len(pods(cluster)) == 2 and len(pod_creates(cluster)) == 1
    # Relabel the adopted pod: it is released (reference removed) and replaced.
    write(cluster, "PATCH", f"/api/v1/namespaces/{NAMESPACE}/pods/stray", {"metadata": {"labels": {"app": "other"}}},
          MERGE)
    run_until(cluster, lambda: not pods(cluster)[f"{NAMESPACE}/stray"]["metadata"].get("ownerReferences")
              and len(owned_pods(cluster, rs)) == 2)
    assert len(pods(cluster)) == 3 and len(pod_creates(cluster)) == 2
    run_until(cluster, lambda: stored_rs(cluster)["status"].get("fullyLabeledReplicas") == 2
              and stored_rs(cluster)["status"]["replicas"] == 2)
    # A pod whose controller reference names the ReplicaSet's name but another UID is not ours.
    impostor = bare_pod("impostor", {"app": "web"}, owner={"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                                          "uid": "not-the-uid", "controller": True})
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", impostor).code == 201
    run_until(cluster, lambda: manager(cluster).quiet())
    assert len(owned_pods(cluster, rs)) == 2 and stored_rs(cluster)["status"]["replicas"] == 2
    assert controller_owner(pods(cluster)[f"{NAMESPACE}/impostor"])["uid"] == "not-the-uid"
