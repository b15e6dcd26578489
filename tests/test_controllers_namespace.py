"""The namespace controller (impl/controllers/namespace.py) on the apiserver harness's world: a
deleted namespace is emptied through deletecollection, its deletion conditions kept while content
remains, and released through namespaces/NAME/finalize, after which the API server deletes it.
Every apiserver invariant judges the traffic (run_hosted_until)."""

from __future__ import annotations

from typing import Any

from checks.apiserver.cluster import ApiCluster
from impl.controllers.namespace import NamespaceController
from impl.controllers.serviceaccount import ServiceAccountController
from tests.controllers_world import CONTROLLER, admin_write, hosted_cluster, run_hosted_until, stored

NS = "ns3"
STORED_KINDS = ("configmaps", "secrets", "pods", "serviceaccounts", "services", "deployments", "leases")


def _until_released(cluster: ApiCluster) -> None:
    """Tick until the namespace is gone, then check every apiserver invariant."""
    for _ in range(600):
        if _namespace(cluster) is None:
            break
        cluster.world.tick()
    assert _namespace(cluster) is None
    cluster.check()
    assert cluster.violation is None, cluster.violation


def _cluster() -> ApiCluster:
    """ns3 with its default account (made by the ServiceAccount controller)."""
    cluster = hosted_cluster((NamespaceController(), ServiceAccountController()))
    assert admin_write(cluster, "POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}).code == 201
    run_hosted_until(cluster, lambda: f"{NS}/default" in stored(cluster, "serviceaccounts"))
    return cluster


def _create(cluster: ApiCluster, plural: str, body: dict[str, Any], group: str = "") -> dict[str, Any]:
    root = f"/apis/{group}" if group else "/api/v1"
    response = admin_write(cluster, "POST", f"{root}/namespaces/{NS}/{plural}", body)
    assert response.code == 201, response.body
    return response.body


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}], **spec}}


def _namespace(cluster: ApiCluster) -> dict[str, Any] | None:
    return stored(cluster, "namespaces").get(NS)


def _condition(cluster: ApiCluster, kind: str) -> dict[str, Any] | None:
    namespace = _namespace(cluster) or {}
    return next((c for c in (namespace.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def _content(cluster: ApiCluster) -> list[str]:
    return [f"{kind} {key}" for kind in STORED_KINDS for key in stored(cluster, kind) if key.startswith(f"{NS}/")]


def _controller_writes(cluster: ApiCluster) -> list[str]:
    return [f"{c.request.method} {c.request.path}" for c in cluster.api_log.calls
            if c.client == CONTROLLER and c.request.method != "GET"]


def test_a_deleted_namespace_loses_its_content_then_goes():
    cluster = _cluster()
    for name in ("settings", "flags"):
        _create(cluster, "configmaps", {"metadata": {"name": name}})
    _create(cluster, "secrets", {"metadata": {"name": "token"}, "stringData": {"k": "v"}})
    _create(cluster, "pods", _pod("pending"))  # on no node: deleted at once
    _create(cluster, "pods", _pod("bound", nodeName="node-1", terminationGracePeriodSeconds=0))
    assert len(_content(cluster)) == 6  # and the default account
    response = admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NS}")
    assert response.code == 200 and response.body["status"]["phase"] == "Terminating"

    _until_released(cluster)
    assert _content(cluster) == []
    assert {"ns1/c1", "ns2/c2"} <= set(stored(cluster, "configmaps"))  # other namespaces untouched
    assert "ns1/runner" in stored(cluster, "pods")
    writes = _controller_writes(cluster)
    assert f"DELETE /api/v1/namespaces/{NS}/configmaps" in writes  # deletecollection
    assert writes[-1] == f"PUT /api/v1/namespaces/{NS}/finalize"  # released last


def test_content_held_by_a_finalizer_keeps_the_namespace_until_it_is_removed():
    cluster = _cluster()
    _create(cluster, "configmaps", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    _create(cluster, "configmaps", {"metadata": {"name": "free"}})
    admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NS}")
    run_hosted_until(cluster, lambda: (_condition(cluster, "NamespaceFinalizersRemaining") or {}).get("status")
                     == "True")
    assert _condition(cluster, "NamespaceFinalizersRemaining")["message"] == \
        "Some finalizers are remaining: example.com/hold in 1 resource instances"
    remaining = _condition(cluster, "NamespaceContentRemaining")
    assert (remaining["status"], remaining["reason"]) == ("True", "SomeResourcesRemain")
    assert remaining["message"] == "Some resources are remaining: configmaps. has 1 resource instances"
    assert _condition(cluster, "NamespaceDeletionContentFailure")["status"] == "False"
    assert _content(cluster) == [f"configmaps {NS}/held"]
    assert _namespace(cluster)["spec"]["finalizers"] == ["kubernetes"]

    held = stored(cluster, "configmaps")[f"{NS}/held"]
    assert held["metadata"]["deletionTimestamp"]
    released = {**held, "metadata": {**held["metadata"], "finalizers": []}}
    assert admin_write(cluster, "PUT", f"/api/v1/namespaces/{NS}/configmaps/held", released).code == 200
    _until_released(cluster)  # requeued after the 15 s estimate
    assert _content(cluster) == []


def test_a_pod_in_its_grace_period_holds_the_namespace_as_content_remaining():
    """A bound pod is deleted gracefully and waits for its kubelet; there is none here, so the
    namespace stays Terminating, requeued after half the pod's grace period each time."""
    cluster = _cluster()
    _create(cluster, "pods", _pod("running", nodeName="node-1"))  # terminationGracePeriodSeconds 30
    _create(cluster, "configmaps", {"metadata": {"name": "settings"}})
    admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NS}")
    run_hosted_until(cluster, lambda: _condition(cluster, "NamespaceContentRemaining") is not None)
    deleted_at = cluster.world.now
    run_hosted_until(cluster, lambda: cluster.world.now >= deleted_at + 40)
    remaining = _condition(cluster, "NamespaceContentRemaining")
    assert remaining["message"] == "Some resources are remaining: pods. has 1 resource instances"
    assert _content(cluster) == [f"pods {NS}/running"]
    assert stored(cluster, "pods")[f"{NS}/running"]["metadata"]["deletionGracePeriodSeconds"] == 30
    namespace = _namespace(cluster)
    assert namespace["status"]["phase"] == "Terminating" and namespace["spec"]["finalizers"] == ["kubernetes"]
    passes = [c for c in cluster.api_log.calls if c.client == CONTROLLER and c.request.method == "GET"
              and c.request.path == f"/api/v1/namespaces/{NS}"]
    assert 2 <= len(passes) <= 4  # a pass every 30 // 2 + 1 = 16 ticks, not a busy loop


def test_namespaces_not_being_deleted_are_left_alone():
    cluster = hosted_cluster((NamespaceController(),))
    run_hosted_until(cluster, lambda: cluster.world.nodes[CONTROLLER].quiet())
    run_hosted_until(cluster, lambda: cluster.world.now >= 30)
    assert _controller_writes(cluster) == []
    assert {"ns1", "ns2"} <= set(stored(cluster, "namespaces"))
