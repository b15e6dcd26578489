"""The controllers harness (checks/controllers/cluster.py): store, API server instances, kubectl,
two elected controller managers, the scheduler and three kubelets in one world. The seed's
sequence end to end (create, scale, rolling update, delete), a controller manager's failover and
a kubelet's crash, each converging, with every apiserver invariant judging all the traffic
(``cluster.violation`` stays None); and the sequence diagram drawn from the seed's run."""

from __future__ import annotations

import re
from typing import Any

from spec.controllers.desired import deployment_left, replica_set_left
from checks.controllers.cluster import MERGE_PATCH, SCHEDULER, ControllersCluster, ControllersOptions
from impl.controllers.host import ControllerHost
from impl.controllers.kubelet import KubeletHost
from checks.controllers.sequence import seed_run, sequence_diagram
from impl.apiserver.objectmeta import tick_of
from impl.controllers.nodelifecycle import NOT_READY_TAINT, UNREACHABLE_TAINT
from impl.controllers.podtemplate import POD_TEMPLATE_HASH_LABEL, pod_is_active
from impl.sim.network import NetworkFaults

OPTIONS = ControllersOptions(members=1, apiservers=2, managers=2, nodes=3, seed=0, faults=NetworkFaults())
D_PATH = "/apis/apps/v1/namespaces/default/deployments"
TOLERATION_TICKS = 20


def ready_cluster() -> ControllersCluster:
    cluster = ControllersCluster(OPTIONS)
    cluster.run_until_ready(ticks_max=100)
    return cluster


def deployment(name: str, replicas: int, image: str = "nginx:1.27", **pod_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}], **pod_spec}}}}


def uid(obj: dict[str, Any]) -> str:
    return obj["metadata"]["uid"]


def owned(objects: dict[str, dict[str, Any]], owner: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: o for k, o in objects.items() if any(r.get("uid") == uid(owner) and r.get("controller")
                                                    for r in o["metadata"].get("ownerReferences") or ())}


def ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def chain(cluster: ControllersCluster, name: str) -> tuple[dict, dict[str, dict], dict[str, dict]]:
    """The Deployment, its ReplicaSets, and the active pods of its ReplicaSets."""
    d = cluster.stored("deployments")[f"default/{name}"]
    rss = owned(cluster.stored("replicasets"), d)
    pods = {k: p for rs in rss.values() for k, p in owned(cluster.stored("pods"), rs).items() if pod_is_active(p)}
    return d, rss, pods


def converge(cluster: ControllersCluster, ticks_max: int, what: str, took: dict[str, int]) -> None:
    took[what] = cluster.run_until_converged(ticks_max)
    assert cluster.violation is None, cluster.violation


# ----- the seed's sequence ------------------------------------------------------------------------

def test_the_seeds_sequence_create_scale_roll_and_delete_converge():
    cluster, took = ready_cluster(), {}
    assert isinstance(cluster.host("cm1"), ControllerHost) and isinstance(cluster.host("k1"), KubeletHost)
    assert all(cluster.host(h).now == cluster.world.now for h in cluster.host_ids)
    assert cluster.leader() in cluster.manager_ids and cluster.leader("kube-scheduler") == SCHEDULER

    assert cluster.apply(deployment("web", 3)).code == 201
    converge(cluster, 200, "create", took)
    d, rss, pods = chain(cluster, "web")
    (rs,) = rss.values()
    assert rs["spec"]["replicas"] == 3 and rs["status"]["readyReplicas"] == 3
    assert sorted(p["spec"]["nodeName"] for p in pods.values()) == ["node-1", "node-2", "node-3"]  # spread
    for pod in pods.values():
        number = pod["spec"]["nodeName"].rsplit("-", 1)[1]
        assert pod["status"]["phase"] == "Running" and ready(pod)
        assert pod["status"]["podIP"].startswith(f"10.244.{number}.")
    assert d["status"]["availableReplicas"] == 3 and d["status"]["observedGeneration"] == d["metadata"]["generation"]

    scale = cluster.kubectl("PATCH", f"{D_PATH}/web/scale", {"spec": {"replicas": 5}}, MERGE_PATCH)
    assert scale.code == 200, scale.body
    converge(cluster, 200, "scale", took)
    assert len(chain(cluster, "web")[2]) == 5

    # A rolling update of 5 at 25%/25%: maxSurge 2 (rounded up), maxUnavailable 1 (rounded down).
    assert cluster.apply(deployment("web", 5, image="nginx:1.28")).code == 200
    seen = {"most": 0, "fewest_ready": 5}

    def rolled() -> bool:
        _, _, pods = chain(cluster, "web")
        seen["most"] = max(seen["most"], len(pods))
        seen["fewest_ready"] = min(seen["fewest_ready"], sum(ready(p) for p in pods.values()))
        return not cluster.converged()
    took["rolling update"] = cluster.run_until(rolled, 400, "rolled")
    assert seen["most"] <= 5 + 2 and seen["fewest_ready"] >= 5 - 1, seen
    _, rss, pods = chain(cluster, "web")
    new = next(rs for rs in rss.values() if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28")
    assert sorted(rs["spec"]["replicas"] for rs in rss.values()) == [0, 5] and new["spec"]["replicas"] == 5
    assert {p["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] for p in pods.values()} == \
        {new["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]}

    assert cluster.kubectl("DELETE", f"{D_PATH}/web").code == 200
    took["delete"] = cluster.run_until(
        lambda: not cluster.stored("replicasets") and not any(k.startswith("default/") for k in cluster.stored("pods")),
        200, "collected")
    assert cluster.converged() == [] and cluster.violation is None
    print(f"ticks to converge: {took}")


def test_the_leading_manager_crashes_and_the_other_takes_over():
    cluster, took = ready_cluster(), {}
    assert cluster.apply(deployment("web", 2)).code == 201
    converge(cluster, 200, "before", took)
    leader = cluster.leader()
    other = next(m for m in cluster.manager_ids if m != leader)
    assert not cluster.host(other).running  # a candidate, waiting

    cluster.crash(leader)
    assert cluster.apply(deployment("api", 3)).code == 201
    converge(cluster, 250, "failover", took)
    assert cluster.leader() == other and cluster.host(other).running
    assert len(chain(cluster, "api")[2]) == 3

    cluster.restart(leader)  # rebuilt from its disk: its second start, on the world's clock
    restarted = cluster.host(leader)
    assert isinstance(restarted, ControllerHost) and restarted.starts == 2 and restarted.now == cluster.world.now
    until = cluster.world.now + 30
    cluster.run_until(lambda: cluster.world.now >= until, 40)
    assert cluster.leader() == other and not restarted.running
    assert cluster.converged() == [] and cluster.violation is None
    print(f"ticks to converge: {took}")


def test_a_crashed_kubelets_pods_are_evicted_after_their_toleration_and_recreated_elsewhere():
    cluster, took = ready_cluster(), {}
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": TOLERATION_TICKS}
                   for key in (UNREACHABLE_TAINT, NOT_READY_TAINT)]
    assert cluster.apply(deployment("db", 3, tolerations=tolerations)).code == 201
    converge(cluster, 200, "create", took)
    _, _, pods = chain(cluster, "db")
    (lost_key, lost), = [(k, p) for k, p in pods.items() if p["spec"]["nodeName"] == "node-2"]

    crashed_at = cluster.world.now
    cluster.crash("k2")
    nodes = lambda: cluster.stored("minions")  # noqa: E731
    cluster.run_until(lambda: any(t["key"] == UNREACHABLE_TAINT and t["effect"] == "NoExecute"
                                  for t in nodes()["node-2"]["spec"].get("taints") or ()), 100, "tainted")
    condition = next(c for c in nodes()["node-2"]["status"]["conditions"] if c["type"] == "Ready")
    assert condition["status"] == "Unknown"
    tainted_at = tick_of(next(t["timeAdded"] for t in nodes()["node-2"]["spec"]["taints"]
                              if t["effect"] == "NoExecute"))
    evicted = lambda: cluster.stored("pods")[lost_key]["metadata"].get("deletionTimestamp")  # noqa: E731
    cluster.run_until(evicted, 60, "evicted")
    took["tainted"], took["evicted"] = tainted_at - crashed_at, cluster.world.now - crashed_at
    assert cluster.world.now - tainted_at >= TOLERATION_TICKS
    converge(cluster, 200, "re-created", took)
    _, _, pods = chain(cluster, "db")
    assert lost_key not in pods and len(pods) == 3 and all(p["spec"]["nodeName"] != "node-2" for p in pods.values())

    cluster.restart("k2")  # the kubelet returns and finishes the deletion it missed
    restarted = cluster.host("k2")
    assert isinstance(restarted, KubeletHost) and restarted.starts == 2 and restarted.now == cluster.world.now
    cluster.run_until(lambda: lost_key not in cluster.stored("pods") and not nodes()["node-2"]["spec"].get("taints"),
                      100, "recovered")
    assert uid(lost) not in {uid(p) for p in cluster.stored("pods").values()}
    assert cluster.converged() == [] and cluster.violation is None
    print(f"ticks to converge: {took}")


# ----- converged() --------------------------------------------------------------------------------

def test_converged_explains_what_is_left():
    d = {"metadata": {"uid": "d1", "generation": 2}, "spec": {"replicas": 2},
         "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2}}
    rs = {"metadata": {"name": "rs", "namespace": "default", "uid": "r1",
                       "ownerReferences": [{"uid": "d1", "controller": True, "kind": "Deployment"}]},
          "spec": {"replicas": 2}, "status": {"replicas": 2}}
    pending = {"metadata": {"name": "p", "namespace": "default",
                            "ownerReferences": [{"uid": "r1", "controller": True, "kind": "ReplicaSet"}]},
               "spec": {}, "status": {"phase": "Pending"}}
    left = deployment_left("default/web", d, [rs])
    assert left == ["deployment default/web: generation 2 not observed yet",
                    "deployment default/web: wants 2 replicas, status says replicas 2, updatedReplicas 1, "
                    "availableReplicas 2"]
    assert replica_set_left("default/rs", rs, [pending]) == [
        "replicaset default/rs: wants 2 replicas, status says 2, 1 active pods",
        "pod default/p of replicaset default/rs is not bound"]


def test_a_dangling_owner_reference_is_not_converged():
    cluster = ControllersCluster(OPTIONS)
    orphan = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "orphan", "ownerReferences": [
                  {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "no-such-uid"}]}}
    assert cluster.apply(orphan).code == 201
    assert cluster.converged() == ["configmaps default/orphan: its owners are all gone (ConfigMap gone)"]
    cluster.run_until(lambda: "default/orphan" not in cluster.stored("configmaps"), 100, "collected")  # the GC's work
    assert cluster.converged() == [] and cluster.violation is None


# ----- the seed's sequence diagram ----------------------------------------------------------------

def test_the_seed_sequence_diagram_draws_each_write_in_causal_order():
    cluster, ticks = seed_run()
    assert cluster.violation is None and ticks <= 200
    diagram = sequence_diagram(cluster.api_log, cluster.roles())
    lines = diagram.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert re.search(r"Note over kubectl,kubelet: not drawn: \d+ reads \(get, list\), \d+ watches, \d+ heartbeats",
                     diagram)
    arrows = [line.strip() for line in lines if "->>" in line]
    assert not any(word in arrow for arrow in arrows for word in ("GET", "Lease", "leases", "nodes"))
    assert "#" not in diagram.replace("#35;", "")

    def first(pattern: str) -> int:
        return next(i for i, a in enumerate(arrows) if re.search(pattern, a))
    order = [first(r"^kubectl->>api: create Deployment web$"), first(r"^cm->>api: cm\d: create ReplicaSet web-"),
             first(r"^cm->>api: cm\d: create Pod web-"), first(r"^sched->>api: bind Pod web-\S+ to node-\d$"),
             first(r"^kubelet->>api: k\d: status of Pod web-\S+: Running, Ready$"),
             first(r"^cm->>api: cm\d: status of ReplicaSet web-\S+: 3 replicas, 3 ready, 3 available$"),
             first(r"^cm->>api: cm\d: status of Deployment web: 3 replicas, 3 updated, 3 available$")]
    assert order == sorted(order), "\n".join(arrows)
    pods = [k.split("/")[1] for k in cluster.stored("pods") if k.startswith("default/web-")]
    assert len(pods) == 3
    for pod in pods:  # each pod: created, then bound, then Pending, then Running
        steps = [first(rf"create Pod {pod}$"), first(rf"bind Pod {pod} to"), first(rf"status of Pod {pod}: Pending$"),
                 first(rf"status of Pod {pod}: Running, Ready$")]
        assert steps == sorted(steps), "\n".join(arrows)
