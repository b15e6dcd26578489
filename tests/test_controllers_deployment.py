"""The Deployment controller (impl/controllers/deployment.py) with the ReplicaSet controller, on
the apiserver harness's world (see test_controllers_replicaset: the user u1, the test's kubelet
u2, the controller manager u3; every apiserver invariant checked on every tick). Rollout bounds
are checked on every tick from what the store holds."""

from __future__ import annotations

import math
from typing import Any

from checks.apiserver.cluster import ApiCluster
from impl.controllers.api import Request, controller_owner
from impl.controllers.deployment import (DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY,
                                         DeploymentController, resolve_fenceposts)
from impl.controllers.podtemplate import POD_TEMPLATE_HASH_LABEL, compute_hash
from impl.controllers.replicaset import ReplicaSetController
from tests.controllers_world import admin_write, stored
from tests.test_controllers_replicaset import (MERGE, NAMESPACE, Kubelet, active, apps_cluster, assert_fixpoint,
                                               manager, owned_by, pods, ready, run_until, write)

D_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
DEPLOYMENT_CONTROLLER = 1  # index among the manager's controllers


def template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}


def deployment(replicas: int, image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image),
                     **spec}}


def cluster_with(d: dict[str, Any]) -> ApiCluster:
    cluster = apps_cluster(ReplicaSetController, DeploymentController)
    answer = admin_write(cluster, "POST", D_PATH, d)
    assert answer.code == 201, answer
    return cluster


def stored_deployment(cluster: ApiCluster) -> dict[str, Any]:
    return stored(cluster, "deployments")[f"{NAMESPACE}/web"]


def replica_sets(cluster: ApiCluster) -> dict[str, dict[str, Any]]:
    """The Deployment's ReplicaSets by their template's image."""
    d = stored_deployment(cluster)
    return {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
            for rs in stored(cluster, "replicasets").values() if owned_by(rs, d)}


def active_pods(cluster: ApiCluster, rs: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in pods(cluster).values() if owned_by(p, rs) and active(p)]


def complete(cluster: ApiCluster, image: str) -> bool:
    """The rollout to ``image`` is done as kube's DeploymentComplete says, and reported."""
    d = stored_deployment(cluster)
    status, want = d.get("status", {}), d["spec"]["replicas"]
    progressing = next((c for c in status.get("conditions", ()) if c["type"] == "Progressing"), {})
    rss = replica_sets(cluster)
    return image in rss and all(status.get(f, 0) == want for f in ("replicas", "updatedReplicas", "availableReplicas")) \
        and status.get("observedGeneration") == d["metadata"]["generation"] \
        and progressing.get("reason") == "NewReplicaSetAvailable" \
        and all(not active_pods(cluster, rs) for i, rs in rss.items() if i != image)


def set_image(cluster: ApiCluster, image: str, each=()) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}
    assert write(cluster, "PATCH", f"{D_PATH}/web", patch, MERGE, each=each).code == 200


def patch_spec(cluster: ApiCluster, spec: dict[str, Any], each=()) -> None:
    assert write(cluster, "PATCH", f"{D_PATH}/web", {"spec": spec}, MERGE, each=each).code == 200


def condition(cluster: ApiCluster, kind: str) -> dict[str, Any]:
    return next(c for c in stored_deployment(cluster)["status"]["conditions"] if c["type"] == kind)


def idle(cluster: ApiCluster) -> bool:
    """Nothing queued or in progress (a rollout in progress keeps a delayed progress check)."""
    return all(not c.queue.queued() and all(w.request is None for w in c.workers) for c in manager(cluster).controllers)


class RolloutBounds:
    """On every tick: the Deployment's active pods (counted per ReplicaSet from the store) are at
    most replicas + maxSurge, and its available (ready) ones at least replicas - maxUnavailable."""

    def __init__(self, cluster: ApiCluster, replicas: int, surge: int, unavailable: int) -> None:
        self.cluster, self.most, self.fewest = cluster, replicas + surge, replicas - unavailable
        self.highest, self.lowest = 0, math.inf

    def __call__(self) -> None:
        per_rs = {image: active_pods(self.cluster, rs) for image, rs in replica_sets(self.cluster).items()}
        running = [p for group in per_rs.values() for p in group]
        available = [p for p in running if ready(p)]
        counts = {image: len(group) for image, group in per_rs.items()}
        assert len(running) <= self.most, f"tick {self.cluster.world.now}: {counts} pods, more than {self.most}"
        assert len(available) >= self.fewest, f"tick {self.cluster.world.now}: {len(available)} available of {counts}"
        self.highest, self.lowest = max(self.highest, len(running)), min(self.lowest, len(available))


# ----- tests ------------------------------------------------------------------------------------

def test_fenceposts_round_surge_up_and_unavailable_down():
    assert resolve_fenceposts("25%", "25%", 3) == (1, 0)
    assert resolve_fenceposts("25%", "25%", 4) == (1, 1)
    assert resolve_fenceposts("25%", "25%", 10) == (3, 2)
    assert resolve_fenceposts("10%", "10%", 5) == (1, 0)
    assert resolve_fenceposts(0, "20%", 4) == (0, 1)  # both resolve to 0: maxUnavailable becomes 1
    assert resolve_fenceposts("0%", 0, 7) == (0, 1)
    assert resolve_fenceposts(2, 3, 1) == (2, 3)  # MaxUnavailable caps it at replicas later


def test_a_rolling_update_respects_surge_and_unavailability_on_every_tick():
    """replicas 3 with the default 25%/25%: maxSurge rounds up to 1, maxUnavailable down to 0,
    so the rollout never has more than 4 pods nor fewer than 3 available."""
    cluster = cluster_with(deployment(3))
    kubelet = Kubelet(cluster)
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet,))
    first = replica_sets(cluster)["nginx:1"]
    pod_template_hash = compute_hash(template("nginx:1"))
    assert first["metadata"]["name"] == f"web-{pod_template_hash}"
    assert first["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == pod_template_hash
    assert first["spec"]["selector"]["matchLabels"] == {"app": "web", POD_TEMPLATE_HASH_LABEL: pod_template_hash}
    assert {k: first["metadata"]["annotations"][k] for k in (REVISION, DESIRED_REPLICAS, MAX_REPLICAS)} == \
        {REVISION: "1", DESIRED_REPLICAS: "3", MAX_REPLICAS: "4"}
    bounds = RolloutBounds(cluster, 3, surge=1, unavailable=0)
    set_image(cluster, "nginx:2", each=(kubelet, bounds))
    run_until(cluster, lambda: complete(cluster, "nginx:2"), each=(kubelet, bounds))
    assert (bounds.highest, bounds.lowest) == (4, 3), "the rollout used its surge and no unavailability"
    rss = replica_sets(cluster)
    assert rss["nginx:2"]["metadata"]["name"] == f"web-{compute_hash(template('nginx:2'))}"
    assert rss["nginx:2"]["metadata"]["annotations"][REVISION] == "2"
    assert rss["nginx:1"]["spec"]["replicas"] == 0 and rss["nginx:1"]["metadata"]["annotations"][REVISION] == "1"
    d = stored_deployment(cluster)
    assert d["metadata"]["annotations"][REVISION] == "2"
    status = {k: v for k, v in d["status"].items() if k != "conditions"}
    assert status == {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                      "availableReplicas": 3, "unavailableReplicas": 0}
    assert (condition(cluster, "Available")["status"], condition(cluster, "Available")["reason"]) == \
        ("True", "MinimumReplicasAvailable")
    assert condition(cluster, "Progressing")["status"] == "True"
    assert_fixpoint(cluster, Request(NAMESPACE, "web"), DEPLOYMENT_CONTROLLER)


def test_a_rollback_makes_the_old_replica_set_new_with_a_fresh_revision():
    cluster = cluster_with(deployment(2))
    kubelet = Kubelet(cluster)
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet,))
    set_image(cluster, "nginx:2", each=(kubelet,))
    run_until(cluster, lambda: complete(cluster, "nginx:2"), each=(kubelet,))
    first_uid = replica_sets(cluster)["nginx:1"]["metadata"]["uid"]
    bounds = RolloutBounds(cluster, 2, surge=1, unavailable=0)
    set_image(cluster, "nginx:1", each=(kubelet, bounds))  # kubectl rollout undo
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet, bounds))
    rss = replica_sets(cluster)
    assert len(rss) == 2 and rss["nginx:1"]["metadata"]["uid"] == first_uid, "no third ReplicaSet"
    annotations = rss["nginx:1"]["metadata"]["annotations"]
    assert (annotations[REVISION], annotations[REVISION_HISTORY]) == ("3", "1")
    assert rss["nginx:2"]["spec"]["replicas"] == 0 and rss["nginx:2"]["metadata"]["annotations"][REVISION] == "2"
    assert stored_deployment(cluster)["metadata"]["annotations"][REVISION] == "3"


def test_a_paused_deployment_scales_but_does_not_roll_out_until_resumed():
    cluster = cluster_with(deployment(2))
    kubelet = Kubelet(cluster)
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet,))
    patch_spec(cluster, {"paused": True}, each=(kubelet,))
    set_image(cluster, "nginx:2", each=(kubelet,))
    run_until(cluster, lambda: stored_deployment(cluster)["status"]["observedGeneration"] == 3, each=(kubelet,))
    assert (condition(cluster, "Progressing")["status"], condition(cluster, "Progressing")["reason"]) == \
        ("Unknown", "DeploymentPaused")
    patch_spec(cluster, {"replicas": 4}, each=(kubelet,))
    run_until(cluster, lambda: len(active_pods(cluster, replica_sets(cluster)["nginx:1"])) == 4, each=(kubelet,))
    run_until(cluster, lambda: manager(cluster).quiet(), each=(kubelet,))
    assert list(replica_sets(cluster)) == ["nginx:1"], "paused: no rollout"
    assert replica_sets(cluster)["nginx:1"]["metadata"]["annotations"][DESIRED_REPLICAS] == "4"
    bounds = RolloutBounds(cluster, 4, surge=1, unavailable=1)
    patch_spec(cluster, {"paused": False}, each=(kubelet, bounds))
    run_until(cluster, lambda: complete(cluster, "nginx:2"), each=(kubelet, bounds))
    assert replica_sets(cluster)["nginx:2"]["metadata"]["annotations"][REVISION] == "2"


def test_scaling_mid_rollout_is_proportional():
    """Kube's example: 10 replicas, maxSurge 3, maxUnavailable 2, a new template whose pods never
    become ready: the rollout stops at old 8, new 5. Scaling to 20 (max 23) shares the 10 extra
    pods by size over the max-replicas annotation: old 8*23/13 -> 14, new 5*23/13 -> 9."""
    cluster = cluster_with(deployment(10, strategy={"type": "RollingUpdate",
                                                    "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}))
    kubelet = Kubelet(cluster, runs=lambda pod: pod["spec"]["containers"][0]["image"] == "nginx:1")
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet,))
    bounds = RolloutBounds(cluster, 10, surge=3, unavailable=2)
    set_image(cluster, "nginx:2", each=(kubelet, bounds))

    def sizes(field: str = "") -> tuple[int, ...]:
        rss = [replica_sets(cluster).get(image) for image in ("nginx:1", "nginx:2")]
        return tuple((rs.get("status", {}).get(field, 0) if field else rs["spec"]["replicas"]) for rs in rss if rs)

    run_until(cluster, lambda: sizes() == (8, 5) == sizes("replicas") and idle(cluster), each=(kubelet, bounds))
    patch_spec(cluster, {"replicas": 20}, each=(kubelet,))
    run_until(cluster, lambda: sizes() == (14, 9), each=(kubelet,))
    for rs in replica_sets(cluster).values():
        assert (rs["metadata"]["annotations"][DESIRED_REPLICAS], rs["metadata"]["annotations"][MAX_REPLICAS]) == ("20", "23")
    run_until(cluster, lambda: sizes("replicas") == (14, 9) and idle(cluster), each=(kubelet,))
    assert sizes() == (14, 9), "the rollout stays where scaling put it: the new pods never become available"


def test_recreate_removes_every_old_pod_before_the_first_new_one():
    cluster = cluster_with(deployment(2, strategy={"type": "Recreate"}))
    kubelet = Kubelet(cluster)
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet,))
    overlaps = []

    def never_both() -> None:
        running = {image: len(active_pods(cluster, rs)) for image, rs in replica_sets(cluster).items()}
        if running.get("nginx:1") and running.get("nginx:2"):
            overlaps.append((cluster.world.now, running))

    set_image(cluster, "nginx:2", each=(kubelet, never_both))
    run_until(cluster, lambda: complete(cluster, "nginx:2"), each=(kubelet, never_both))
    assert overlaps == []
    assert replica_sets(cluster)["nginx:1"]["spec"]["replicas"] == 0


def test_old_replica_sets_beyond_the_revision_history_limit_are_deleted():
    cluster = cluster_with(deployment(1, revisionHistoryLimit=1))
    kubelet = Kubelet(cluster)
    for image in ("nginx:1", "nginx:2", "nginx:3"):
        if image != "nginx:1":
            set_image(cluster, image, each=(kubelet,))
        run_until(cluster, lambda: complete(cluster, image), each=(kubelet,))
    run_until(cluster, lambda: len(replica_sets(cluster)) == 2, each=(kubelet,))
    rss = replica_sets(cluster)
    assert sorted(rss) == ["nginx:2", "nginx:3"], "revision 1 was cleaned up, revision 2 kept for a rollback"
    assert rss["nginx:3"]["metadata"]["annotations"][REVISION] == "3"


def test_a_stalled_rollout_reports_progress_deadline_exceeded():
    cluster = cluster_with(deployment(1, progressDeadlineSeconds=20))
    kubelet = Kubelet(cluster, runs=lambda pod: pod["spec"]["containers"][0]["image"] == "nginx:1")
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet,))
    set_image(cluster, "nginx:2", each=(kubelet,))
    started = cluster.world.now
    run_until(cluster, lambda: condition(cluster, "Progressing")["reason"] == "ProgressDeadlineExceeded",
              each=(kubelet,))
    assert cluster.world.now - started > 20
    assert condition(cluster, "Progressing")["status"] == "False"
    assert (condition(cluster, "Available")["status"], condition(cluster, "Available")["reason"]) == \
        ("True", "MinimumReplicasAvailable")
    assert len(active_pods(cluster, replica_sets(cluster)["nginx:1"])) == 1, "maxUnavailable 0 keeps the old pod"


def test_a_hash_collision_bumps_collision_count_and_the_next_name_is_free():
    """Someone else's ReplicaSet already has the name the template hashes to (and labels the
    Deployment does not select): AlreadyExists, collisionCount 1, a name hashed with it."""
    cluster = apps_cluster(ReplicaSetController, DeploymentController)
    squatter = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"web-{compute_hash(template('nginx:1'))}"},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                         "template": {**template("nginx:1"), "metadata": {"labels": {"app": "other"}}}}}
    assert admin_write(cluster, "POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets", squatter).code == 201
    assert admin_write(cluster, "POST", D_PATH, deployment(1)).code == 201
    kubelet = Kubelet(cluster)
    run_until(cluster, lambda: complete(cluster, "nginx:1"), each=(kubelet,))
    assert stored_deployment(cluster)["status"]["collisionCount"] == 1
    assert replica_sets(cluster)["nginx:1"]["metadata"]["name"] == f"web-{compute_hash(template('nginx:1'), 1)}"
    assert controller_owner(stored(cluster, "replicasets")[f"{NAMESPACE}/{squatter['metadata']['name']}"]) is None
