"""The node lifecycle and taint eviction controllers (impl/controllers/nodelifecycle.py) on the
apiserver world, with the test playing the kubelet through admin writes: it creates the Node and
its Lease in kube-node-lease, renews the Lease and the Ready heartbeat every 10 ticks, reports its
pods Running and Ready, and stops. Every apiserver invariant judges the traffic on the way."""

from __future__ import annotations

from typing import Any

from checks.apiserver.cluster import ApiCluster
from impl.apiserver.objectmeta import tick_of, timestamp
from impl.controllers.nodelifecycle import (NODE_LEASE_NAMESPACE, NODE_MONITOR_GRACE_PERIOD_TICKS,
                                            NODE_MONITOR_PERIOD_TICKS, NOT_READY_TAINT, UNREACHABLE_TAINT,
                                            NodeLifecycle, TaintEviction, matching_tolerations,
                                            minimum_toleration_ticks)
from tests.controllers_world import WRITER, admin_write, hosted_cluster, run_hosted_until, stored

NAMESPACE, NODE = "work", "n1"
BEAT_TICKS = 10  # the kubelet's lease renewal period


def clocked_cluster(*make_reconcilers) -> ApiCluster:
    """A hosted cluster whose reconcilers, each made from a clock, read the world's tick (one
    tick, one second). The clock is a plain function: the host deep-copies its reconcilers, and
    a function is copied as itself, so every copy reads the one world."""
    made: list[ApiCluster] = []

    def clock() -> int:
        return made[0].world.now
    made.append(hosted_cluster(tuple(make(clock) for make in make_reconcilers)))
    return made[0]


def make_namespace(cluster: ApiCluster, name: str) -> None:
    """A namespace with its default ServiceAccount (the ServiceAccount admission plugin wants it)."""
    assert admin_write(cluster, "POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).code == 201
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{name}/serviceaccounts",
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}).code == 201


# ----- the kubelet, played by the test ------------------------------------------------------------

def report_ready(cluster: ApiCluster, status: str = "True") -> None:
    now = timestamp(cluster.world.now)
    response = admin_write(cluster, "PUT", f"/api/v1/nodes/{NODE}/status", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
        "status": {"conditions": [{"type": "Ready", "status": status, "reason": "KubeletReady",
                                   "lastHeartbeatTime": now, "lastTransitionTime": now}]}})
    assert response.code == 200, response


def renew_lease(cluster: ApiCluster) -> None:
    now = timestamp(cluster.world.now)
    path = f"/apis/coordination.k8s.io/v1/namespaces/{NODE_LEASE_NAMESPACE}/leases/{NODE}"
    response = admin_write(cluster, "PUT", path, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": NODE, "namespace": NODE_LEASE_NAMESPACE},
        "spec": {"holderIdentity": NODE, "leaseDurationSeconds": 40, "renewTime": now}})
    assert response.code == 200, response


def beat_for(cluster: ApiCluster, ticks: int, ready: str = "True") -> None:
    """The kubelet alive for ``ticks``: a lease renewal and a Ready heartbeat every 10 ticks."""
    until = cluster.world.now + ticks
    while cluster.world.now < until:
        next_beat = cluster.world.now + BEAT_TICKS
        renew_lease(cluster)
        report_ready(cluster, ready)
        run_hosted_until(cluster, lambda: cluster.world.now >= min(next_beat, until), ticks_max=BEAT_TICKS + 1)


def run_pod(cluster: ApiCluster, name: str, tolerations: list[dict[str, Any]]) -> None:
    """A pod bound to the node, reported Running and Ready with an IP."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"nodeName": NODE, "restartPolicy": "Always", "tolerations": tolerations,
                    "containers": [{"name": "c", "image": "busybox:1.36"}]}}
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", pod).code == 201
    pod["status"] = {"phase": "Running", "podIP": "10.0.0.1",
                     "conditions": [{"type": "Ready", "status": "True"}]}
    assert admin_write(cluster, "PUT", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status", pod).code == 200


def start_node(cluster: ApiCluster) -> None:
    """The Node and its Lease, Ready (pods first: admin writes take ticks, and a kubelet silent
    through a long setup would be found dead)."""
    assert admin_write(cluster, "POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NODE_LEASE_NAMESPACE}}).code == 201
    assert admin_write(cluster, "POST", "/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}).code == 201
    report_ready(cluster)
    assert admin_write(cluster, "POST", f"/apis/coordination.k8s.io/v1/namespaces/{NODE_LEASE_NAMESPACE}/leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": NODE, "namespace": NODE_LEASE_NAMESPACE},
        "spec": {"holderIdentity": NODE, "leaseDurationSeconds": 40,
                 "renewTime": timestamp(cluster.world.now)}}).code == 201


# ----- what the store says -----------------------------------------------------------------------

def node(cluster: ApiCluster) -> dict[str, Any]:
    return stored(cluster, "minions")[NODE]


def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def taints(cluster: ApiCluster) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node(cluster).get("spec") or {}).get("taints") or ()}


def pod(cluster: ApiCluster, name: str) -> dict[str, Any]:
    return stored(cluster, "pods")[f"{NAMESPACE}/{name}"]


def evicted(cluster: ApiCluster, name: str) -> bool:
    """Deleted by the taint manager: a pod on a node waits for its kubelet, so it stays with a
    deletionTimestamp (or is gone)."""
    pods = stored(cluster, "pods")
    return f"{NAMESPACE}/{name}" not in pods or bool(pods[f"{NAMESPACE}/{name}"]["metadata"].get("deletionTimestamp"))


UNREACHABLE = {(UNREACHABLE_TAINT, "NoExecute"), (UNREACHABLE_TAINT, "NoSchedule")}
NOT_READY = {(NOT_READY_TAINT, "NoExecute"), (NOT_READY_TAINT, "NoSchedule")}
# A toleration for the unreachable taint's key and effect whose value never matches the taint:
# DefaultTolerationSeconds (which looks at key and effect only) adds no 300 s toleration, and
# the taint is not tolerated: the pod has no matching toleration.
NOT_TOLERATING = [{"key": UNREACHABLE_TAINT, "operator": "Equal", "value": "never", "effect": "NoExecute"}]
TOLERATING_20 = [{"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20}]
TOLERATING_FOREVER = [{"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute"}]


def test_a_silent_node_goes_unknown_gets_tainted_its_pods_evicted_and_recovers():
    cluster = clocked_cluster(NodeLifecycle, TaintEviction)
    make_namespace(cluster, NAMESPACE)
    for name, tolerations in (("doomed", NOT_TOLERATING), ("patient", TOLERATING_20),
                              ("steadfast", TOLERATING_FOREVER), ("defaulted", [])):
        run_pod(cluster, name, tolerations)
    start_node(cluster)
    assert {t["tolerationSeconds"] for t in pod(cluster, "defaulted")["spec"]["tolerations"]} == {300}
    beat_for(cluster, 30)
    assert ready_condition(node(cluster))["status"] == "True" and not taints(cluster)

    silent_from = cluster.world.now  # the kubelet stops: no lease renewal, no heartbeat
    run_hosted_until(cluster, lambda: ready_condition(node(cluster))["status"] == "Unknown", ticks_max=120)
    took = cluster.world.now - silent_from
    assert NODE_MONITOR_GRACE_PERIOD_TICKS <= took <= NODE_MONITOR_GRACE_PERIOD_TICKS + NODE_MONITOR_PERIOD_TICKS + 5
    assert ready_condition(node(cluster))["reason"] == "NodeStatusUnknown"
    run_hosted_until(cluster, lambda: taints(cluster) == UNREACHABLE, ticks_max=10)
    tainted_at = cluster.world.now
    assert tainted_at - 10 <= tick_of(next(t["timeAdded"] for t in node(cluster)["spec"]["taints"]
                                           if t["effect"] == "NoExecute")) <= tainted_at

    run_hosted_until(cluster, lambda: evicted(cluster, "doomed"), ticks_max=10)
    assert not evicted(cluster, "patient")
    run_hosted_until(cluster, lambda: evicted(cluster, "patient"), ticks_max=40)
    assert 20 <= cluster.world.now - tainted_at <= 20 + 10  # the informer's lag and the delete's round trip
    run_hosted_until(cluster, lambda: ready_condition(pod(cluster, "steadfast"))["status"] == "False",
                     ticks_max=20)  # MarkPodsNotReady, one pod at a time
    run_hosted_until(cluster, lambda: cluster.world.now >= tainted_at + 40, ticks_max=60)
    assert not evicted(cluster, "steadfast") and not evicted(cluster, "defaulted")

    back_at = cluster.world.now  # the kubelet comes back
    beat_for(cluster, 20)
    run_hosted_until(cluster, lambda: not taints(cluster), ticks_max=20)
    assert cluster.world.now - back_at <= 30
    assert ready_condition(node(cluster))["status"] == "True"


def test_a_node_reporting_not_ready_is_tainted_not_ready_and_not_marked_unknown():
    cluster = clocked_cluster(NodeLifecycle, TaintEviction)
    start_node(cluster)
    beat_for(cluster, 10)
    beat_for(cluster, 20, ready="False")
    assert taints(cluster) == NOT_READY
    beat_for(cluster, 60, ready="False")  # heartbeats keep coming: never Unknown
    assert ready_condition(node(cluster))["status"] == "False" and taints(cluster) == NOT_READY
    beat_for(cluster, 20)
    assert not taints(cluster)


def test_taints_left_by_another_controller_are_kept():
    cluster = clocked_cluster(NodeLifecycle, TaintEviction)
    start_node(cluster)
    own = {"key": "example.com/dedicated", "value": "db", "effect": "NoSchedule"}
    cluster.request("taint", WRITER, "admin", "PATCH", f"/api/v1/nodes/{NODE}", body={"spec": {"taints": [own]}},
                    content_type="application/merge-patch+json")
    run_hosted_until(cluster, lambda: ("example.com/dedicated", "NoSchedule") in taints(cluster), ticks_max=10)
    run_hosted_until(cluster, lambda: UNREACHABLE <= taints(cluster), ticks_max=120)
    assert taints(cluster) == UNREACHABLE | {("example.com/dedicated", "NoSchedule")}


def test_toleration_rules():
    unreachable = {"key": UNREACHABLE_TAINT, "effect": "NoExecute"}
    assert matching_tolerations([unreachable], NOT_TOLERATING) == (False, [])
    assert matching_tolerations([unreachable], [{"operator": "Exists"}])[0]
    assert matching_tolerations([unreachable], [{"key": UNREACHABLE_TAINT, "operator": "Exists",
                                                 "effect": "NoSchedule"}]) == (False, [])
    assert minimum_toleration_ticks(TOLERATING_20 + [{"tolerationSeconds": 5}]) == 5
    assert minimum_toleration_ticks([{"tolerationSeconds": -3}]) == 0
    assert minimum_toleration_ticks(TOLERATING_FOREVER) is None


# ----- with the simulated kubelets ---------------------------------------------------------------

def test_with_kubelets_a_partitioned_node_is_tainted_its_pods_evicted_and_it_recovers_when_healed():
    from impl.controllers.host import ControllerHost
    from impl.controllers.kubelet import KubeletConfig
    from tests.test_controllers_kubelet import create_pod, node_cluster, pod_body, ready

    cluster = node_cluster((KubeletConfig.numbered(1, "worker-1"), KubeletConfig.numbered(2, "worker-2")),
                           scheduler=False)
    def clock() -> int:
        return cluster.world.now
    manager = ControllerHost("u2", cluster.instance_ids, cluster.api_log, cluster.credentials["admin"],
                             (NodeLifecycle(clock), TaintEviction(clock)), clock=clock)
    cluster.world.nodes["u2"] = manager
    create_pod(cluster, pod_body("quick", node="worker-1", tolerations=TOLERATING_20))
    create_pod(cluster, pod_body("stays", node="worker-1"))  # DefaultTolerationSeconds: 300 s
    create_pod(cluster, pod_body("elsewhere", node="worker-2"))
    pods = lambda: stored(cluster, "pods")  # noqa: E731
    run_hosted_until(cluster, lambda: all(ready(pods().get(f"work/{n}")) for n in ("quick", "stays", "elsewhere")))
    nodes = lambda: stored(cluster, "minions")  # noqa: E731
    taints_of = lambda name: {(t["key"], t["effect"]) for t in nodes()[name]["spec"].get("taints") or ()}  # noqa: E731

    cluster.world.network.partition([["u3"], [n for n in cluster.world.node_ids if n != "u3"]])
    run_hosted_until(cluster, lambda: taints_of("worker-1") == UNREACHABLE, ticks_max=100)
    assert ready_condition(nodes()["worker-1"])["status"] == "Unknown"
    run_hosted_until(cluster, lambda: pods()["work/quick"]["metadata"].get("deletionTimestamp"), ticks_max=40)
    run_hosted_until(cluster, lambda: not ready(pods()["work/stays"]), ticks_max=20)
    assert not pods()["work/stays"]["metadata"].get("deletionTimestamp")
    assert not taints_of("worker-2") and ready(pods()["work/elsewhere"])

    cluster.world.network.heal()  # the kubelet reports again, and finishes the eviction it missed
    run_hosted_until(cluster, lambda: not taints_of("worker-1") and "work/quick" not in pods()
                     and ready(pods()["work/stays"]), ticks_max=60)
    assert ready_condition(nodes()["worker-1"])["status"] == "True"
