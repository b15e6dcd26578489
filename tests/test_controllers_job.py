"""The Job controller (impl/controllers/job.py) on the apiserver world, with the test playing
the kubelet: it reports the Job's pods Running, then Succeeded or Failed. Every apiserver
invariant judges the traffic on the way."""

from __future__ import annotations

from typing import Any

from checks.apiserver.cluster import ApiCluster
from impl.apiserver.objectmeta import tick_of
from impl.controllers.job import (BACKOFF_LIMIT_EXCEEDED, BACKOFF_LIMIT_MESSAGE, CONTROLLER_UID_LABEL, JOB_NAME_LABEL,
                                  POD_FAILURE_BACKOFF_TICKS, TRACKING_FINALIZER, JobController)
from tests.controllers_world import CONTROLLER, admin_write, run_hosted_until, stored
from tests.test_controllers_nodelifecycle import clocked_cluster, make_namespace

NAMESPACE = "work"


def create_job(cluster: ApiCluster, name: str, completions: int, parallelism: int,
               backoff_limit: int) -> dict[str, Any]:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": backoff_limit,
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}
    response = admin_write(cluster, "POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", job)
    assert response.code == 201, response
    return response.body


def job_status(cluster: ApiCluster, name: str) -> dict[str, Any]:
    return stored(cluster, "jobs")[f"{NAMESPACE}/{name}"].get("status") or {}


def condition(cluster: ApiCluster, name: str, kind: str) -> dict[str, Any] | None:
    return next((c for c in job_status(cluster, name).get("conditions") or () if c["type"] == kind), None)


def pods_of(cluster: ApiCluster, uid: str) -> list[dict[str, Any]]:
    return [pod for pod in stored(cluster, "pods").values()
            if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or ())]


def active(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                   and not p["metadata"].get("deletionTimestamp")), key=lambda p: p["metadata"]["name"])


def finish_pod(cluster: ApiCluster, pod: dict[str, Any], phase: str) -> None:
    """The kubelet reports the pod's exit: Succeeded on code 0, Failed otherwise."""
    body = {**pod, "metadata": {k: v for k, v in pod["metadata"].items() if k != "resourceVersion"},
            "status": {"phase": phase}}
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}/status"
    assert admin_write(cluster, "PUT", path, body).code == 200


def controller_writes(cluster: ApiCluster) -> int:
    return sum(1 for call in cluster.api_log.calls if call.client == CONTROLLER and call.request.method != "GET")


class Watcher:
    """Runs the world and records the most pods ever active at once, and every pod ever seen."""

    def __init__(self, cluster: ApiCluster, uid: str) -> None:
        self.cluster, self.uid = cluster, uid
        self.most_active, self.seen = 0, set()

    def until(self, done, ticks_max: int = 200) -> None:
        def look() -> bool:
            pods = pods_of(self.cluster, self.uid)
            self.most_active = max(self.most_active, len(active(pods)))
            self.seen |= {p["metadata"]["uid"] for p in pods}
            return done()
        run_hosted_until(self.cluster, look, ticks_max=ticks_max)


def started(name: str, completions: int, parallelism: int, backoff_limit: int) -> tuple[ApiCluster, str, Watcher]:
    """A world with the Job controller and the Job created: the world, the Job's uid, a Watcher."""
    cluster = clocked_cluster(JobController)
    make_namespace(cluster, NAMESPACE)
    uid = create_job(cluster, name, completions, parallelism, backoff_limit)["metadata"]["uid"]
    return cluster, uid, Watcher(cluster, uid)


def test_a_job_of_three_completions_two_at_a_time_completes():
    cluster, uid, watcher = started("batch", completions=3, parallelism=2, backoff_limit=6)
    watcher.until(lambda: len(active(pods_of(cluster, uid))) == 2)
    pod = active(pods_of(cluster, uid))[0]
    assert pod["metadata"]["generateName"] == "batch-"
    assert pod["metadata"]["labels"] == {"app": "batch", JOB_NAME_LABEL: "batch", CONTROLLER_UID_LABEL: uid,
                                         "job-name": "batch", "controller-uid": uid}
    assert pod["metadata"]["finalizers"] == [TRACKING_FINALIZER]
    assert pod["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": "batch",
                                                   "uid": uid, "controller": True, "blockOwnerDeletion": True}]
    for done in range(3):
        watcher.until(lambda: active(pods_of(cluster, uid)))
        finish_pod(cluster, active(pods_of(cluster, uid))[0], "Succeeded")
        watcher.until(lambda: job_status(cluster, "batch").get("succeeded", 0) == done + 1)
    watcher.until(lambda: condition(cluster, "batch", "Complete") is not None)
    status = job_status(cluster, "batch")
    assert (status["succeeded"], status.get("failed", 0), status["active"]) == (3, 0, 0)
    assert status["uncountedTerminatedPods"] == {"succeeded": [], "failed": []}
    assert status["completionTime"] == condition(cluster, "batch", "Complete")["lastTransitionTime"]
    assert tick_of(status["startTime"]) <= tick_of(status["completionTime"])
    assert watcher.most_active == 2 and len(watcher.seen) == 3  # never more than parallelism, no extra pod
    assert all(TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or ()) for p in pods_of(cluster, uid))
    # once the caches have caught up (a reconcile on a stale one may still try a write the
    # server refuses with 409), a reconcile at the fixpoint writes nothing
    settled = cluster.world.now + 10
    run_hosted_until(cluster, lambda: cluster.world.now >= settled and cluster.world.nodes[CONTROLLER].quiet())
    writes, later = controller_writes(cluster), cluster.world.now + 30
    run_hosted_until(cluster, lambda: cluster.world.now >= later)
    assert controller_writes(cluster) == writes


def test_failures_up_to_the_backoff_limit_then_the_job_fails():
    cluster, uid, watcher = started("flaky", completions=1, parallelism=1, backoff_limit=2)
    created = []
    for failures in range(3):
        watcher.until(lambda: active(pods_of(cluster, uid)), ticks_max=120)
        created.append(cluster.world.now)
        assert condition(cluster, "flaky", "Failed") is None
        finish_pod(cluster, active(pods_of(cluster, uid))[0], "Failed")
    watcher.until(lambda: condition(cluster, "flaky", "Failed") is not None)
    failed = condition(cluster, "flaky", "Failed")
    assert (failed["reason"], failed["message"]) == (BACKOFF_LIMIT_EXCEEDED, BACKOFF_LIMIT_MESSAGE)
    assert job_status(cluster, "flaky")["failed"] == 3 and job_status(cluster, "flaky")["active"] == 0
    # the pod failure backoff: 10 s after the first failure, 20 s after the second
    assert created[1] - created[0] >= POD_FAILURE_BACKOFF_TICKS
    assert created[2] - created[1] >= 2 * POD_FAILURE_BACKOFF_TICKS
    watcher.until(lambda: cluster.world.now >= created[2] + 60)
    assert len(watcher.seen) == 3 and condition(cluster, "flaky", "Complete") is None


def test_exceeding_the_backoff_limit_deletes_the_remaining_active_pods():
    cluster, uid, watcher = started("fragile", completions=4, parallelism=2, backoff_limit=0)
    watcher.until(lambda: len(active(pods_of(cluster, uid))) == 2)
    first, second = active(pods_of(cluster, uid))
    finish_pod(cluster, first, "Failed")
    watcher.until(lambda: condition(cluster, "fragile", "Failed") is not None)
    assert f"{NAMESPACE}/{second['metadata']['name']}" not in stored(cluster, "pods")  # deleted, finalizer removed
    status = job_status(cluster, "fragile")
    assert status["active"] == 0 and status["failed"] == 2  # a pod deleted unfinished counts as failed
    assert len(watcher.seen) == 2


def test_the_pods_of_a_deleted_job_lose_their_tracking_finalizer():
    cluster, uid, _ = started("doomed", completions=2, parallelism=2, backoff_limit=6)
    run_hosted_until(cluster, lambda: len(pods_of(cluster, uid)) == 2)
    # Background deletion with no garbage collector running: the pods stay, their owner gone
    response = admin_write(cluster, "DELETE", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/doomed",
                           {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
    assert response.code == 200
    run_hosted_until(cluster, lambda: f"{NAMESPACE}/doomed" not in stored(cluster, "jobs"))
    run_hosted_until(cluster, lambda: all(TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or ())
                                          for p in pods_of(cluster, uid)), ticks_max=60)
    assert len(pods_of(cluster, uid)) == 2


def test_with_the_scheduler_and_kubelets_pods_that_exit_0_complete_the_job():
    from impl.controllers.host import ControllerHost
    from impl.controllers.kubelet import EXIT_AFTER_ANNOTATION, EXIT_CODE_ANNOTATION
    from tests.test_controllers_kubelet import NODES, node_cluster

    cluster = node_cluster(NODES, spare=1)  # scheduler u2, kubelets u3 and u4, u5 for the job controller

    def clock() -> int:
        return cluster.world.now
    manager = ControllerHost("u5", cluster.instance_ids, cluster.api_log, cluster.credentials["admin"],
                             (JobController(clock),), clock=clock)
    cluster.world.nodes["u5"] = manager
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "exits", "namespace": NAMESPACE},
           "spec": {"completions": 3, "parallelism": 2, "template": {
               "metadata": {"annotations": {EXIT_AFTER_ANNOTATION: "3", EXIT_CODE_ANNOTATION: "0"}},
               "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}
    uid = admin_write(cluster, "POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", job).body["metadata"]["uid"]
    watcher = Watcher(cluster, uid)
    watcher.until(lambda: condition(cluster, "exits", "Complete") is not None, ticks_max=150)
    pods = pods_of(cluster, uid)
    assert len(pods) == 3 and all(p["status"]["phase"] == "Succeeded" and p["spec"].get("nodeName") for p in pods)
    assert watcher.most_active <= 2
    assert (job_status(cluster, "exits")["succeeded"], job_status(cluster, "exits")["active"]) == (3, 0)
