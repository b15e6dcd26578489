"""The scheduler (impl/controllers/scheduler.py): its filters and score alone, then on the
apiserver harness's world beside simulated kubelets (``node_cluster`` from the kubelet tests):
pods spread by least allocated, a pod too big waits as Unschedulable until a node with room
joins, taints and not-ready nodes are avoided, and the assumed-pod cache keeps a bind in flight
counted. Every apiserver invariant judges the traffic."""

from __future__ import annotations

from typing import Any

from impl.controllers.api import Answer, Client, Request, Result
from impl.controllers.kubelet import KubeletConfig
from impl.controllers.scheduler import Resources, Scheduler, pod_requests, tolerates
from tests.controllers_world import WRITER, run_hosted_until, stored
from tests.test_controllers_kubelet import (NAMESPACE, condition, create_pod, join, kubelet, node_cluster, pod,
                                            pod_body, ready)


def _capacity(cpu: str, memory: str, pods: str = "110") -> tuple[tuple[str, str], ...]:
    return (("cpu", cpu), ("memory", memory), ("pods", pods))


SMALL = KubeletConfig.numbered(1, "small", capacity=_capacity("2", "4Gi"))
MEDIUM = KubeletConfig.numbered(2, "medium", capacity=_capacity("4", "8Gi"))
LARGE = KubeletConfig.numbered(3, "large", capacity=_capacity("8", "16Gi"))


# ----- filters and score, alone --------------------------------------------------------------------

def test_tolerations_match_taints_as_kubernetes_does():
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    assert tolerates({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}, taint)
    assert tolerates({"key": "dedicated", "value": "gpu"}, taint)  # empty operator is Equal, empty effect all
    assert not tolerates({"key": "dedicated", "value": "cpu"}, taint)
    assert tolerates({"key": "dedicated", "operator": "Exists"}, taint)
    assert tolerates({"operator": "Exists"}, taint)  # empty key with Exists: every taint
    assert not tolerates({"operator": "Exists", "effect": "NoExecute"}, taint)
    assert not tolerates({"key": "other", "operator": "Exists"}, taint)


def test_pod_requests_sum_containers_take_the_largest_init_container_and_limits_as_requests():
    body = pod_body("p", cpu="250m", memory="64Mi", containers=2)
    body["spec"]["initContainers"] = [{"name": "init", "image": "i", "resources": {"requests": {"cpu": "1"}}}]
    assert pod_requests(body) == Resources(cpu=1000, memory=128 * 2 ** 20, pods=1)
    limited = pod_body("q")
    limited["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "300m", "memory": "1G"}}
    assert pod_requests(limited) == Resources(cpu=300, memory=10 ** 9, pods=1)
    assert pod_requests(pod_body("r"), nonzero=True) == Resources(cpu=100, memory=200 * 2 ** 20, pods=1)


def test_least_allocated_scores_in_whole_numbers_averaged_over_cpu_and_memory():
    allocatable = Resources(cpu=4000, memory=8 * 2 ** 30, pods=110)
    assert Scheduler.least_allocated_score(Resources(cpu=500, memory=2 ** 30), allocatable) == 87
    assert Scheduler.least_allocated_score(Resources(cpu=4000, memory=0), allocatable) == 50
    assert Scheduler.least_allocated_score(Resources(cpu=5000, memory=0), allocatable) == 50  # over: 0


def test_the_fit_error_counts_reasons_as_kube_scheduler_words_them():
    reasons = ["Insufficient cpu", "node(s) were not ready", "Insufficient cpu"]
    assert Scheduler.fit_error(3, reasons) == "0/3 nodes are available: 1 node(s) were not ready, 2 Insufficient cpu."
    assert Scheduler.fit_error(0, []) == "no nodes available to schedule pods"


class _Cache:
    """A stand-in for the informer cache: a reconcile only reads."""

    def __init__(self, pods: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> None:
        self.pods = {p["metadata"]["name"]: p for p in pods}
        self.nodes = nodes

    def get(self, resource: str, namespace: str, name: str):
        return self.pods.get(name)

    def list(self, resource: str, namespace: str = "", selector=None):
        return list(self.pods.values()) if resource == "pods" else list(self.nodes)


def _node(name: str, cpu: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pending(name: str, cpu: str) -> dict[str, Any]:
    body = pod_body(name, cpu=cpu)
    body["metadata"].update(namespace=NAMESPACE, uid=f"uid-{name}")
    body["spec"]["schedulerName"] = "default-scheduler"
    return body


def _schedule(scheduler: Scheduler, cache: _Cache, name: str, answer: Answer):
    """Run one reconcile to its bind, answer it; (the node bound to, the result)."""
    run = scheduler.reconcile(Request(NAMESPACE, name), cache, Client())
    call = next(run)
    assert call.verb == "bind", call
    try:
        run.send(answer)
    except StopIteration as end:
        return call.body["target"]["name"], end.value
    raise AssertionError("the reconcile went on after the bind")


def test_an_assumed_pod_counts_on_its_node_until_a_failed_bind_forgets_it():
    scheduler = Scheduler()
    cache = _Cache([_pending("first", "3"), _pending("second", "3")], [_node("a", "4"), _node("b", "4")])
    node, result = _schedule(scheduler, cache, "first", Answer(201, {}))
    assert (node, result) == ("a", Result())
    # the informer has not shown "first" bound: the assumption keeps "second" off node a
    assert _schedule(scheduler, cache, "second", Answer(500, {}))[0] == "b"
    assert _schedule(scheduler, cache, "second", Answer(201, {}))[0] == "b"  # the failed bind was forgotten
    scheduler.observe("pods", "update", cache.pods["first"], {**cache.pods["first"], "spec": {
        **cache.pods["first"]["spec"], "nodeName": "a"}})
    assert not scheduler.placed["uid-first"].assumed  # the informer confirmed it


# ----- on the world, beside kubelets ------------------------------------------------------------------

def _bound(cluster, names) -> dict[str, str]:
    return {name: ((pod(cluster, name) or {}).get("spec") or {}).get("nodeName", "") for name in names}


def _nodes_ready(cluster, names) -> bool:
    return all(ready(stored(cluster, "minions").get(name)) for name in names)


def test_pods_spread_by_least_allocated_and_run_on_their_kubelets():
    cluster = node_cluster((SMALL, MEDIUM, LARGE))
    run_hosted_until(cluster, lambda: _nodes_ready(cluster, ("small", "medium", "large")))
    names = [f"web-{i}" for i in range(7)]
    for name in names:  # one at a time: each placement sees the one before
        create_pod(cluster, pod_body(name, cpu="500m", memory="1Gi"))
        run_hosted_until(cluster, lambda: _bound(cluster, [name])[name])
    placed = _bound(cluster, names)
    # scores (free share x100, floored), ties to the first name: large 93, 87 (= medium's 87), 81,
    # 75, 75 (= medium's and small's); medium 87, 75, 62; small 75
    assert [placed[n] for n in names] == ["large", "large", "medium", "large", "large", "medium", "small"]
    run_hosted_until(cluster, lambda: all(ready(pod(cluster, n)) for n in names))
    assert all(pod(cluster, n)["status"]["hostIP"] for n in names)


def test_many_pods_at_once_never_overcommit_a_node():
    cluster = node_cluster((SMALL, MEDIUM))
    run_hosted_until(cluster, lambda: _nodes_ready(cluster, ("small", "medium")))
    names = [f"batch-{i}" for i in range(7)]
    for name in names:
        create_pod(cluster, pod_body(name, cpu="1"))
    run_hosted_until(cluster, lambda: sum(1 for node in _bound(cluster, names).values() if node) == 6)
    for _ in range(20):
        cluster.world.tick()
    placed = list(_bound(cluster, names).values())
    assert (placed.count("small"), placed.count("medium"), placed.count("")) == (2, 4, 1)


def test_a_pod_too_big_waits_unschedulable_until_a_node_with_room_joins():
    cluster = node_cluster((SMALL, MEDIUM, LARGE), spare=1)
    run_hosted_until(cluster, lambda: _nodes_ready(cluster, ("small", "medium", "large")))
    create_pod(cluster, pod_body("huge", cpu="16"))
    run_hosted_until(cluster, lambda: condition(pod(cluster, "huge"), "PodScheduled").get("reason") == "Unschedulable")
    assert condition(pod(cluster, "huge"), "PodScheduled")["status"] == "False"
    assert condition(pod(cluster, "huge"), "PodScheduled")["message"] == \
        "0/3 nodes are available: 3 Insufficient cpu."
    for _ in range(30):  # retried, still nowhere to go
        cluster.world.tick()
    assert _bound(cluster, ["huge"]) == {"huge": ""}
    join(cluster, "u6", KubeletConfig.numbered(4, "giant", capacity=_capacity("32", "64Gi")))
    run_hosted_until(cluster, lambda: _bound(cluster, ["huge"])["huge"] == "giant")
    run_hosted_until(cluster, lambda: ready(pod(cluster, "huge")))
    assert condition(pod(cluster, "huge"), "PodScheduled")["status"] == "True"


def test_a_tainted_node_is_avoided_unless_the_pod_tolerates_its_taint():
    tainted = KubeletConfig.numbered(3, "large", capacity=_capacity("8", "16Gi"),
                                     taints=(("dedicated", "gpu", "NoSchedule"),))
    cluster = node_cluster((SMALL, MEDIUM, tainted))
    run_hosted_until(cluster, lambda: _nodes_ready(cluster, ("small", "medium", "large")))
    create_pod(cluster, pod_body("plain", cpu="500m"))
    create_pod(cluster, pod_body("tolerant", cpu="500m", tolerations=[
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]))
    create_pod(cluster, pod_body("anything", cpu="500m", tolerations=[{"operator": "Exists"}]))
    run_hosted_until(cluster, lambda: all(_bound(cluster, ["plain", "tolerant", "anything"]).values()))
    assert _bound(cluster, ["plain", "tolerant", "anything"]) == {
        "plain": "medium", "tolerant": "large", "anything": "large"}


def _cordon(cluster, node: str) -> None:
    """kubectl cordon: a merge patch setting spec.unschedulable."""
    cluster.request(f"as admin cordon {node}", WRITER, "admin", "PATCH", f"/api/v1/nodes/{node}",
                    body={"spec": {"unschedulable": True}}, content_type="application/merge-patch+json")
    run_hosted_until(cluster, lambda: cluster.client(WRITER).idle)
    assert stored(cluster, "minions")[node]["spec"]["unschedulable"] is True


def test_not_ready_and_unschedulable_nodes_are_avoided():
    cluster = node_cluster((SMALL, MEDIUM, LARGE))
    run_hosted_until(cluster, lambda: _nodes_ready(cluster, ("small", "medium", "large")))
    kubelet(cluster, "u5").set_runtime_ready(False)  # large
    run_hosted_until(cluster, lambda: not ready(stored(cluster, "minions")["large"]))
    create_pod(cluster, pod_body("first", cpu="500m"))
    run_hosted_until(cluster, lambda: _bound(cluster, ["first"])["first"])
    assert _bound(cluster, ["first"]) == {"first": "medium"}
    _cordon(cluster, "medium")
    create_pod(cluster, pod_body("second", cpu="500m"))
    run_hosted_until(cluster, lambda: _bound(cluster, ["second"])["second"])
    assert _bound(cluster, ["second"]) == {"second": "small"}


def test_a_node_selector_picks_the_labelled_node():
    labelled = KubeletConfig.numbered(1, "small", capacity=_capacity("2", "4Gi"), labels=(("disk", "ssd"),))
    cluster = node_cluster((labelled, MEDIUM, LARGE))
    run_hosted_until(cluster, lambda: _nodes_ready(cluster, ("small", "medium", "large")))
    create_pod(cluster, pod_body("fast", cpu="500m", nodeSelector={"disk": "ssd"}))
    create_pod(cluster, pod_body("nowhere", nodeSelector={"disk": "tape"}))
    run_hosted_until(cluster, lambda: _bound(cluster, ["fast"])["fast"] and
                     condition(pod(cluster, "nowhere"), "PodScheduled").get("reason") == "Unschedulable")
    assert _bound(cluster, ["fast", "nowhere"]) == {"fast": "small", "nowhere": ""}
    assert condition(pod(cluster, "nowhere"), "PodScheduled")["message"] == \
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
