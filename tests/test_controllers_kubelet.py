"""Simulated kubelets (impl/controllers/kubelet.py) on the apiserver harness's world: each node's
kubelet is a ``KubeletHost`` in place of one client; it registers its Node, heartbeats its Lease,
runs the pods bound to it, finishes pods that say they exit, and completes graceful deletion.
Every apiserver invariant judges the kubelets' traffic (``run_hosted_until`` checks them).

``node_cluster`` is the world the scheduler's tests use too: an optional scheduler host u2, then
one kubelet host per node (u3, u4, ...), spare client slots for nodes that join later, the
namespaces ``kube-node-lease`` and ``work`` (with its ``default`` ServiceAccount)."""

from __future__ import annotations

import json
from typing import Any

from checks.apiserver.cluster import ApiCluster, ApiOptions
from impl.apiserver.objectmeta import tick_of
from impl.apiserver.patch import strategic_merge_patch
from impl.controllers.host import ControllerHost
from impl.controllers.kubelet import (EXIT_AFTER_ANNOTATION, EXIT_CODE_ANNOTATION, ContainerRun, KubeletConfig,
                                      KubeletHost, run_at, status_patch)
from impl.controllers.scheduler import Scheduler
from tests.controllers_world import admin_write, run_hosted_until, stored

NAMESPACE = "work"
SCHEDULER_HOST = "u2"
FIRST_KUBELET = 3  # u3


def node_cluster(configs: tuple[KubeletConfig, ...], *, scheduler: bool = True, spare: int = 0,
                 seed: int = 1) -> ApiCluster:
    """The apiserver world with a scheduler host (u2, or a plain client when ``scheduler`` is
    False) and a kubelet host per config (u3, ...), ``spare`` client slots after them for
    ``join``; the namespaces the nodes and the tests' pods need are created before it returns."""
    clients = 1 + 1 + len(configs) + spare
    cluster = ApiCluster(ApiOptions(members=1, apiservers=2, clients=clients, seed=seed))
    if scheduler:
        cluster.world.nodes[SCHEDULER_HOST] = ControllerHost(
            SCHEDULER_HOST, cluster.instance_ids, cluster.api_log, cluster.credentials["admin"], (Scheduler(),))
    for index, config in enumerate(configs):
        join(cluster, f"u{FIRST_KUBELET + index}", config)
    for namespace in ("kube-node-lease", NAMESPACE):
        assert admin_write(cluster, "POST", "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}).code == 201
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts", {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}).code == 201
    return cluster


def join(cluster: ApiCluster, slot: str, config: KubeletConfig) -> KubeletHost:
    """Start a kubelet in client slot ``slot``, on the world's clock."""
    host = KubeletHost(slot, cluster.instance_ids, cluster.api_log, cluster.credentials["admin"], config,
                       clock=lambda: cluster.world.now)
    cluster.world.nodes[slot] = host
    return host


def kubelet(cluster: ApiCluster, slot: str) -> KubeletHost:
    return cluster.world.nodes[slot]


def pod_body(name: str, *, node: str = "", cpu: str = "", memory: str = "", annotations: dict | None = None,
             restart_policy: str = "", containers: int = 1, **spec: Any) -> dict[str, Any]:
    resources = {"requests": {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}} if cpu or memory else {}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"containers": [{"name": f"c{i}", "image": "registry.k8s.io/pause:3.9", "resources": resources}
                                    for i in range(containers)], **spec}}
    if node:
        body["spec"]["nodeName"] = node
    if restart_policy:
        body["spec"]["restartPolicy"] = restart_policy
    return body


def create_pod(cluster: ApiCluster, body: dict[str, Any]) -> dict[str, Any]:
    response = admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", body)
    assert response.code == 201, response.body
    return response.body


def pod(cluster: ApiCluster, name: str) -> dict[str, Any] | None:
    return stored(cluster, "pods").get(f"{NAMESPACE}/{name}")


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or ()
    return next((c for c in conditions if c.get("type") == kind), {})


def ready(obj: dict[str, Any] | None) -> bool:
    return condition(obj, "Ready").get("status") == "True"


def lease(cluster: ApiCluster, node: str) -> dict[str, Any] | None:
    return stored(cluster, "leases").get(f"kube-node-lease/{node}")


def renew_tick(cluster: ApiCluster, node: str) -> int | None:
    held = lease(cluster, node)
    return tick_of(held["spec"]["renewTime"][:19] + "Z") if held else None


NODES = (KubeletConfig.numbered(1, "worker-1"), KubeletConfig.numbered(2, "worker-2"))


# ----- the simulated runtime, alone --------------------------------------------------------------

def test_run_at_follows_startup_exit_and_restart_policy():
    assert run_at(5, None, 0, "Always", 4) == ContainerRun("waiting", "ContainerCreating", next_change=5)
    assert run_at(5, None, 0, "Always", 500).state == "running"
    ended = run_at(5, 3, 0, "Never", 8)
    assert (ended.state, ended.reason, ended.exit_code, ended.finished_at) == ("terminated", "Completed", 0, 8)
    assert run_at(5, 3, 2, "OnFailure", 7).next_change == 8
    first_restart = run_at(5, 3, 2, "OnFailure", 8)  # the first restart waits for nothing
    assert (first_restart.state, first_restart.restarts, first_restart.started_at) == ("running", 1, 8)
    backing_off = run_at(5, 3, 2, "OnFailure", 11)  # second exit at 11: 10 s back-off
    assert (backing_off.state, backing_off.reason, backing_off.next_change) == ("waiting", "CrashLoopBackOff", 21)
    assert backing_off.last.exit_code == 2
    assert run_at(5, 3, 0, "OnFailure", 100).state == "terminated"  # success ends OnFailure
    assert run_at(5, 3, 0, "Always", 8).restarts == 1  # Always restarts even after success


def test_a_status_patch_deletes_the_pod_ips_the_pod_no_longer_has():
    # podIPs merge by ip: without the delete directive the old address would stay beside the new.
    current = {"phase": "Running", "podIP": "10.244.1.2", "podIPs": [{"ip": "10.244.1.2"}]}
    wanted = {"phase": "Running", "podIP": "10.244.1.3", "podIPs": [{"ip": "10.244.1.3"}]}
    pod = {"metadata": {"name": "p"}, "status": current}
    patched = strategic_merge_patch(pod, {"status": status_patch(current, wanted)}, "Pod")
    assert patched["status"] == wanted
    assert status_patch(wanted, wanted) == wanted  # nothing gone: the wanted status as it is


# ----- the kubelet on the world -------------------------------------------------------------------

def test_a_kubelet_registers_its_node_and_renews_its_lease_every_10_ticks():
    cluster = node_cluster(NODES, scheduler=False)
    run_hosted_until(cluster, lambda: ready(stored(cluster, "minions").get("worker-1"))
                     and renew_tick(cluster, "worker-1") is not None)
    node = stored(cluster, "minions")["worker-1"]
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "worker-1"
    assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    assert node["status"]["nodeInfo"]["kubeletVersion"]
    assert condition(node, "Ready")["reason"] == "KubeletReady" and condition(node, "Ready")["lastHeartbeatTime"]
    held = lease(cluster, "worker-1")
    assert held["spec"]["holderIdentity"] == "worker-1" and held["spec"]["leaseDurationSeconds"] == 40
    renewals = [renew_tick(cluster, "worker-1")]
    while len(renewals) < 4:
        run_hosted_until(cluster, lambda: renew_tick(cluster, "worker-1") != renewals[-1], ticks_max=15)
        renewals.append(renew_tick(cluster, "worker-1"))
    assert [b - a for a, b in zip(renewals, renewals[1:])] == [10, 10, 10]
    owner = lease(cluster, "worker-1")["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("Node", node["metadata"]["uid"])


def test_bound_pods_run_to_ready_with_addresses_from_their_nodes_range():
    cluster = node_cluster(NODES, scheduler=False)
    for name, node in (("a", "worker-1"), ("b", "worker-1"), ("c", "worker-2")):
        create_pod(cluster, pod_body(name, node=node, containers=2))
    run_hosted_until(cluster, lambda: all(ready(pod(cluster, n)) for n in "abc"))
    a, b, c = (pod(cluster, n) for n in "abc")
    assert {x["status"]["phase"] for x in (a, b, c)} == {"Running"}
    for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
        assert condition(a, kind)["status"] == "True"
    assert {a["status"]["podIP"], b["status"]["podIP"]} == {"10.244.1.2", "10.244.1.3"}
    assert c["status"]["podIP"] == "10.244.2.2" and c["status"]["hostIP"] == "192.168.0.2"
    assert [s["name"] for s in a["status"]["containerStatuses"]] == ["c0", "c1"]
    assert all("running" in s["state"] and s["ready"] for s in a["status"]["containerStatuses"])
    # each kubelet lists and watches only its own pods (field selector spec.nodeName)
    assert [p["metadata"]["name"] for p in kubelet(cluster, "u3").cache.list("pods")] == ["a", "b"]
    assert all(("fieldSelector", "spec.nodeName=worker-1") in c.request.query for c in cluster.api_log.calls
               if c.client == "u3" and c.request.path == "/api/v1/pods")


def test_the_startup_delay_keeps_a_pod_pending_for_its_ticks():
    cluster = node_cluster((KubeletConfig.numbered(1, "worker-1", startup_ticks=8),), scheduler=False)
    run_hosted_until(cluster, lambda: ready(stored(cluster, "minions").get("worker-1")))
    create_pod(cluster, pod_body("slow", node="worker-1"))
    run_hosted_until(cluster, lambda: (pod(cluster, "slow")["status"].get("podIP")))
    pending_at = cluster.world.now
    assert pod(cluster, "slow")["status"]["phase"] == "Pending"
    assert "waiting" in pod(cluster, "slow")["status"]["containerStatuses"][0]["state"]
    run_hosted_until(cluster, lambda: ready(pod(cluster, "slow")))
    assert cluster.world.now - pending_at >= 6


def test_exit_annotations_finish_pods_by_their_restart_policy():
    cluster = node_cluster(NODES, scheduler=False)
    exits = {"done": ("Never", "0"), "broken": ("Never", "3"), "retried": ("OnFailure", "1"),
             "finished": ("OnFailure", "0")}
    for name, (policy, code) in exits.items():
        create_pod(cluster, pod_body(name, node="worker-1", restart_policy=policy,
                                     annotations={EXIT_AFTER_ANNOTATION: "3", EXIT_CODE_ANNOTATION: code}))

    def restarts(name: str) -> int:
        return pod(cluster, name)["status"]["containerStatuses"][0]["restartCount"]
    run_hosted_until(cluster, lambda: all(pod(cluster, n)["status"]["phase"] in ("Succeeded", "Failed")
                                          for n in ("done", "broken", "finished")) and restarts("retried") >= 2)
    assert pod(cluster, "done")["status"]["phase"] == "Succeeded"
    assert pod(cluster, "finished")["status"]["phase"] == "Succeeded"
    broken = pod(cluster, "broken")["status"]
    assert broken["phase"] == "Failed"
    assert broken["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert condition(pod(cluster, "broken"), "Ready")["reason"] == "PodCompleted"
    retried = pod(cluster, "retried")["status"]
    assert retried["phase"] == "Running" and retried["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1


def _kubelet_deletes(cluster: ApiCluster, slot: str) -> list:
    return [c for c in cluster.api_log.calls if c.client == slot and c.request.method == "DELETE"]


def _start_graceful_deletion(cluster: ApiCluster) -> dict[str, Any]:
    created = create_pod(cluster, pod_body("leaving", node="worker-1"))
    run_hosted_until(cluster, lambda: ready(pod(cluster, "leaving")))
    assert admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/leaving").code == 200
    return created


def test_graceful_deletion_stops_the_pod_reports_it_and_deletes_it_with_grace_0_and_its_uid():
    cluster = node_cluster(NODES, scheduler=False)
    created = _start_graceful_deletion(cluster)
    run_hosted_until(cluster, lambda: pod(cluster, "leaving") is None, ticks_max=60)
    delete = _kubelet_deletes(cluster, "u3")[0]
    assert delete.request.path.endswith("/pods/leaving")
    options = json.loads(delete.request.body)
    assert options["gracePeriodSeconds"] == 0
    assert options["preconditions"] == {"uid": created["metadata"]["uid"]}
    last_status = [c for c in cluster.api_log.calls if c.client == "u3" and c.request.method == "PATCH"
                   and c.request.path.endswith("/pods/leaving/status") and c.started <= delete.started][-1]
    stopped = json.loads(last_status.request.body)["status"]
    assert stopped["phase"] == "Failed"  # terminal before it goes: SIGTERM ended it with 143
    assert stopped["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143
    assert condition({"status": stopped}, "Ready")["status"] == "False"


def test_a_crashed_kubelet_stops_renewing_its_lease_and_the_others_go_on():
    cluster = node_cluster(NODES, scheduler=False)
    run_hosted_until(cluster, lambda: renew_tick(cluster, "worker-1") and renew_tick(cluster, "worker-2"))
    cluster.world.crash("u3")
    for _ in range(10):  # a renew already sent may still land
        cluster.world.tick()
    last, other = renew_tick(cluster, "worker-1"), renew_tick(cluster, "worker-2")
    for _ in range(45):
        cluster.world.tick()
    assert renew_tick(cluster, "worker-1") == last
    assert renew_tick(cluster, "worker-2") >= other + 40


def test_a_partitioned_kubelet_stops_renewing_until_the_network_heals():
    cluster = node_cluster(NODES, scheduler=False)
    run_hosted_until(cluster, lambda: renew_tick(cluster, "worker-1") is not None)
    cluster.world.network.partition([["u3"], [n for n in cluster.world.node_ids if n != "u3"]])
    cut = renew_tick(cluster, "worker-1")
    for _ in range(45):
        cluster.world.tick()
    assert renew_tick(cluster, "worker-1") <= cut + 10  # at most a renew already on its way
    frozen = renew_tick(cluster, "worker-1")
    cluster.world.network.heal()
    run_hosted_until(cluster, lambda: renew_tick(cluster, "worker-1") > frozen, ticks_max=60)


def test_a_runtime_that_goes_down_turns_the_node_not_ready_within_a_status_period():
    cluster = node_cluster(NODES, scheduler=False)
    run_hosted_until(cluster, lambda: ready(stored(cluster, "minions").get("worker-1")))
    kubelet(cluster, "u3").set_runtime_ready(False)
    took = run_hosted_until(cluster, lambda: condition(stored(cluster, "minions")["worker-1"], "Ready")
                            .get("status") == "False", ticks_max=20)
    assert took <= 10 + 6  # the next status check, and the patch's round trip
    assert condition(stored(cluster, "minions")["worker-1"], "Ready")["reason"] == "KubeletNotReady"
