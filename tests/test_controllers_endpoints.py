"""The Endpoints controller (impl/controllers/endpoints.py) on the apiserver world, with the
test playing the kubelets: it reports pods Running with an IP, Ready or not. Every apiserver
invariant judges the traffic on the way."""

from __future__ import annotations

from typing import Any

from checks.apiserver.cluster import ApiCluster
from impl.controllers.endpoints import HEADLESS_LABEL, EndpointsController, endpoint_subsets
from tests.controllers_world import CONTROLLER, admin_write, hosted_cluster, run_hosted_until, stored
from tests.test_controllers_nodelifecycle import make_namespace

NAMESPACE = "work"
PORTS = [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "admin", "port": 81, "targetPort": 9000}]


def _cluster() -> ApiCluster:
    cluster = hosted_cluster((EndpointsController(),))
    make_namespace(cluster, NAMESPACE)
    return cluster


def create_service(cluster: ApiCluster, name: str, selector: dict[str, str] | None, **spec: Any) -> None:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE,
                                                                "labels": {"tier": "front"}},
            "spec": {"ports": PORTS, **spec}}
    if selector is not None:
        body["spec"]["selector"] = selector
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/services", body).code == 201


def create_pod(cluster: ApiCluster, name: str, app: str) -> None:
    meta = {"name": name, "namespace": NAMESPACE, "labels": {"app": app}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": {"nodeName": "n1", "restartPolicy": "Always", "containers": [
               {"name": "c", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 8080}]}]}}
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/pods", pod).code == 201


def report(cluster: ApiCluster, name: str, ip: str, ready: bool, phase: str = "Running") -> None:
    """The kubelet's status of the pod."""
    pod = stored(cluster, "pods")[f"{NAMESPACE}/{name}"]
    status = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    body = {**pod, "metadata": {k: v for k, v in pod["metadata"].items() if k != "resourceVersion"}, "status": status}
    assert admin_write(cluster, "PUT", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status", body).code == 200


def endpoints(cluster: ApiCluster, name: str = "web") -> dict[str, Any] | None:
    return stored(cluster, "endpoints").get(f"{NAMESPACE}/{name}")


def ips(cluster: ApiCluster, field: str) -> set[str]:
    found = endpoints(cluster)
    return {a["ip"] for subset in (found or {}).get("subsets") or () for a in subset.get(field) or ()}


def endpoints_writes(cluster: ApiCluster) -> int:
    return sum(1 for c in cluster.api_log.calls
               if c.client == CONTROLLER and c.request.method != "GET" and "/endpoints" in c.request.path)


def test_endpoints_follow_pod_readiness():
    cluster = _cluster()
    for name, app in (("web-1", "web"), ("web-2", "web"), ("web-3", "web"), ("db-1", "db")):
        create_pod(cluster, name, app)
    report(cluster, "web-1", "10.0.0.1", ready=True)
    report(cluster, "web-2", "10.0.0.2", ready=False)
    report(cluster, "web-3", "", ready=False)  # no IP yet: not listed
    report(cluster, "db-1", "10.0.0.9", ready=True)  # not selected
    create_service(cluster, "web", {"app": "web"})
    run_hosted_until(cluster, lambda: endpoints(cluster) is not None and ips(cluster, "notReadyAddresses"))
    found = endpoints(cluster)
    assert found["metadata"]["labels"] == {"tier": "front"}
    assert len(found["subsets"]) == 1
    subset = found["subsets"][0]
    assert subset["ports"] == [{"name": "admin", "port": 9000, "protocol": "TCP"},
                               {"name": "http", "port": 8080, "protocol": "TCP"}]
    web_1 = stored(cluster, "pods")[f"{NAMESPACE}/web-1"]["metadata"]
    assert subset["addresses"] == [{"ip": "10.0.0.1", "nodeName": "n1", "targetRef": {
        "kind": "Pod", "namespace": NAMESPACE, "name": "web-1", "uid": web_1["uid"]}}]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.0.0.2"]

    report(cluster, "web-2", "10.0.0.2", ready=True)
    run_hosted_until(cluster, lambda: ips(cluster, "addresses") == {"10.0.0.1", "10.0.0.2"}, ticks_max=30)
    assert not ips(cluster, "notReadyAddresses")
    report(cluster, "web-1", "10.0.0.1", ready=False)
    run_hosted_until(cluster, lambda: ips(cluster, "notReadyAddresses") == {"10.0.0.1"}, ticks_max=30)
    report(cluster, "web-1", "10.0.0.1", ready=False, phase="Succeeded")  # terminal: gone from the list
    run_hosted_until(cluster, lambda: ips(cluster, "notReadyAddresses") == set(), ticks_max=30)
    assert ips(cluster, "addresses") == {"10.0.0.2"}

    # a pod change that does not change the endpoints writes nothing
    run_hosted_until(cluster, lambda: cluster.world.nodes[CONTROLLER].quiet())
    writes = endpoints_writes(cluster)
    report(cluster, "db-1", "10.0.0.9", ready=False)
    report(cluster, "web-2", "10.0.0.2", ready=True)
    run_hosted_until(cluster, lambda: cluster.world.nodes[CONTROLLER].quiet())
    assert endpoints_writes(cluster) == writes

    assert admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NAMESPACE}/services/web").code == 200
    run_hosted_until(cluster, lambda: endpoints(cluster) is None, ticks_max=30)


def test_a_service_without_a_selector_keeps_its_own_endpoints():
    cluster = _cluster()
    create_pod(cluster, "web-1", "web")
    report(cluster, "web-1", "10.0.0.1", ready=True)
    manual = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external", "namespace": NAMESPACE},
              "subsets": [{"addresses": [{"ip": "192.0.2.7"}], "ports": [{"port": 5432, "protocol": "TCP"}]}]}
    create_service(cluster, "external", None)
    assert admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/endpoints", manual).code == 201
    create_service(cluster, "headless", {"app": "web"}, clusterIP="None")
    run_hosted_until(cluster, lambda: endpoints(cluster, "headless") is not None)
    assert endpoints(cluster, "headless")["metadata"]["labels"] == {"tier": "front", HEADLESS_LABEL: ""}
    run_hosted_until(cluster, lambda: cluster.world.nodes[CONTROLLER].quiet())
    assert endpoints(cluster, "external")["subsets"] == manual["subsets"]


def test_subsets_group_addresses_by_ports():
    service = {"metadata": {"name": "web", "namespace": NAMESPACE},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    named = {"metadata": {"name": "a", "namespace": NAMESPACE, "uid": "u-a"},
             "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
             "status": {"phase": "Running", "podIP": "10.0.0.2", "conditions": [{"type": "Ready", "status": "True"}]}}
    other = {"metadata": {"name": "b", "namespace": NAMESPACE, "uid": "u-b"},
             "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 9090}]}]},
             "status": {"phase": "Running", "podIP": "10.0.0.1"}}
    nameless = {"metadata": {"name": "c", "namespace": NAMESPACE, "uid": "u-c"},
                "spec": {"containers": [{"name": "c"}]},
                "status": {"phase": "Running", "podIP": "10.0.0.3",
                           "conditions": [{"type": "Ready", "status": "True"}]}}
    subsets = endpoint_subsets(service, [named, other, nameless])
    assert [(s["ports"][0]["port"], [a["ip"] for a in s.get("addresses", [])],
             [a["ip"] for a in s.get("notReadyAddresses", [])]) for s in subsets] == [
        (8080, ["10.0.0.2"], []), (9090, [], ["10.0.0.1"])]
    published = {**service, "spec": {**service["spec"], "publishNotReadyAddresses": True}}
    assert [a["ip"] for s in endpoint_subsets(published, [other]) for a in s["addresses"]] == ["10.0.0.1"]
