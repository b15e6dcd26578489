"""The apiserver harness end to end on the simulated world: health endpoints follow the store,
instances recover from crashes, the audit trail and metrics are served, runs are deterministic."""

from __future__ import annotations

from checks.apiserver.cluster import ApiCluster, ApiOptions


def _get(cluster: ApiCluster, path: str, identity: str = "admin", instance: str = "a1") -> int:
    cluster.request(f"as {identity} get {path}", "u1", identity, "GET", path, instance=instance)
    cluster.settle()
    response = cluster.api_log.calls[-1].response
    return response.code if response is not None else 0


def test_readyz_fails_while_the_instance_cannot_reach_the_store_and_recovers():
    cluster = ApiCluster(ApiOptions(members=3, apiservers=2, clients=1, seed=4))
    assert _get(cluster, "/readyz", "anonymous") == 200  # system:public-info-viewer, as in kube
    cluster.partition([["a1"], ["n1", "n2", "n3"]])
    cluster.tick(40)
    assert _get(cluster, "/readyz", "anonymous") == 500
    assert _get(cluster, "/livez/etcd") == 500
    assert _get(cluster, "/readyz", "anonymous", instance="a2") == 200
    cluster.heal()
    cluster.tick(40)
    assert _get(cluster, "/readyz", "anonymous") == 200


def test_metrics_count_requests_by_verb_resource_and_code():
    cluster = ApiCluster(ApiOptions(members=1, apiservers=1, clients=1, seed=2))
    cluster.request("l", "u1", "bob", "GET", "/api/v1/namespaces/ns1/pods")
    cluster.settle()
    cluster.request("m", "u1", "admin", "GET", "/metrics")
    cluster.settle()
    text = cluster.api_log.calls[-1].response.text
    assert 'apiserver_request_total{code="200",group="",resource="pods",subresource="",verb="list"} 1.0' in text
    assert "apiserver_request_duration_ticks_bucket" in text
    assert 'apiserver_authorization_decisions_total{decision="Allow"}' in text


def test_a_restarted_instance_lists_again_and_serves():
    cluster = ApiCluster(ApiOptions(members=1, apiservers=2, clients=1, seed=5))
    cluster.crash("a1")
    cluster.request("c", "u1", "alice", "POST", "/api/v1/namespaces/ns1/configmaps", body={"metadata": {"name": "x"}},
                    instance="a2")
    cluster.settle()
    cluster.restart("a1")
    cluster.tick(60)
    assert cluster.instance("a1").ready()
    assert _get(cluster, "/api/v1/namespaces/ns1/configmaps/x", "bob") == 200
    assert cluster.violation is None


def test_the_same_seed_gives_the_same_run():
    def trace(seed: int) -> list[str]:
        cluster = ApiCluster(ApiOptions(members=3, apiservers=2, clients=2, seed=seed, webhooks=True))
        cluster.request("c", "u1", "alice", "POST", "/api/v1/namespaces/ns1/pods",
                        body={"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
        cluster.settle()
        return [event.line() for event in cluster.world.trace.events]
    assert trace(9) == trace(9)
