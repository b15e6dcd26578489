"""The service account controller (impl/controllers/serviceaccount.py) on the apiserver harness's
world: a new namespace gets its ``default`` account, a deleted one comes back, and a namespace
being terminated gets nothing new. Every apiserver invariant judges the traffic."""

from __future__ import annotations

from checks.apiserver.cluster import ApiCluster
from impl.controllers.serviceaccount import ServiceAccountController
from tests.controllers_world import CONTROLLER, admin_write, hosted_cluster, run_hosted_until, stored

NS = "ns3"


def _accounts(cluster: ApiCluster) -> dict[str, dict]:
    return stored(cluster, "serviceaccounts")


def _creates(cluster: ApiCluster) -> list[tuple[str, int]]:
    return [(c.request.path, c.response.code if c.response else 0) for c in cluster.api_log.calls
            if c.client == CONTROLLER and c.request.method == "POST"]


def _with_namespace() -> ApiCluster:
    cluster = hosted_cluster((ServiceAccountController(),))
    assert admin_write(cluster, "POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}).code == 201
    run_hosted_until(cluster, lambda: f"{NS}/default" in _accounts(cluster)
                     and cluster.world.nodes[CONTROLLER].quiet())
    return cluster


def test_a_new_namespace_gets_its_default_account_and_pods_can_run_there():
    cluster = _with_namespace()
    assert _creates(cluster) == [(f"/api/v1/namespaces/{NS}/serviceaccounts", 201)]  # the seed's need none
    pod = {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}
    response = admin_write(cluster, "POST", f"/api/v1/namespaces/{NS}/pods", pod)
    assert response.code == 201, response.body  # ServiceAccount admission found the account
    assert response.body["spec"]["serviceAccountName"] == "default"


def test_a_deleted_default_account_is_created_again():
    cluster = _with_namespace()
    first = _accounts(cluster)[f"{NS}/default"]["metadata"]["uid"]
    assert admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NS}/serviceaccounts/default").code == 200
    run_hosted_until(cluster, lambda: f"{NS}/default" in _accounts(cluster)
                     and _accounts(cluster)[f"{NS}/default"]["metadata"]["uid"] != first)
    # other accounts are not maintained: ns1/builder deleted stays deleted
    assert admin_write(cluster, "DELETE", "/api/v1/namespaces/ns1/serviceaccounts/builder").code == 200
    run_hosted_until(cluster, lambda: cluster.world.nodes[CONTROLLER].quiet())
    assert "ns1/builder" not in _accounts(cluster)
    assert len(_creates(cluster)) == 2


def test_a_terminating_namespace_gets_no_account():
    """No namespace controller runs, so ns3 stays Terminating (held by its kubernetes finalizer)."""
    cluster = _with_namespace()
    assert admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NS}").code == 200
    assert stored(cluster, "namespaces")[NS]["status"]["phase"] == "Terminating"
    assert admin_write(cluster, "DELETE", f"/api/v1/namespaces/{NS}/serviceaccounts/default").code == 200
    deleted_at = cluster.world.now
    run_hosted_until(cluster, lambda: cluster.world.now >= deleted_at + 30)
    assert f"{NS}/default" not in _accounts(cluster)
    assert len(_creates(cluster)) == 1  # only the first, when ns3 was new
    assert cluster.world.nodes[CONTROLLER].quiet()
