"""The garbage collector (impl/controllers/garbagecollector.py) on the apiserver harness's world:
background, foreground and orphan deletion; owners compared by UID; a dependent with two owners;
and the live read that keeps a cache which has not seen an owner from deleting its dependents.
Every apiserver invariant judges the traffic (run_hosted_until)."""

from __future__ import annotations

from typing import Any

from checks.apiserver.cluster import ApiCluster
from impl.apiserver.resources import resource_named
from impl.controllers.garbagecollector import GarbageCollector
from tests.controllers_world import CONTROLLER, admin_write, hosted_cluster, run_hosted_until, stored

NS = "ns3"
CORE = f"/api/v1/namespaces/{NS}"
SETTLE_TICKS = 30


def _cluster(collector: GarbageCollector | None = None) -> ApiCluster:
    """ns3 and its default account, made by admin: no other controller runs."""
    cluster = hosted_cluster((collector or GarbageCollector(),))
    assert admin_write(cluster, "POST", "/api/v1/namespaces",
                       {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}).code == 201
    assert admin_write(cluster, "POST", f"{CORE}/serviceaccounts", {"metadata": {"name": "default"}}).code == 201
    run_hosted_until(cluster, lambda: cluster.world.nodes[CONTROLLER].quiet())
    return cluster


def _create(cluster: ApiCluster, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin_write(cluster, "POST", resource_named(plural).path(NS), body)
    assert response.code == 201, response.body
    return response.body


def _ref(owner: dict[str, Any], *, block: bool = False, controller: bool = False) -> dict[str, Any]:
    meta = owner["metadata"]
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}
    if block:
        ref["blockOwnerDeletion"] = True
    if controller:
        ref["controller"] = True
    return ref


def _owned(name: str, *refs: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "ownerReferences": list(refs), **meta}}


def _delete(cluster: ApiCluster, plural: str, name: str, policy: str = "") -> Any:
    options = {"kind": "DeleteOptions", "apiVersion": "v1", **({"propagationPolicy": policy} if policy else {})}
    response = admin_write(cluster, "DELETE", resource_named(plural).path(NS, name), options)
    assert response.code == 200, response.body
    return response.body


def _names(cluster: ApiCluster, storage: str) -> set[str]:
    return {key.split("/", 1)[1] for key in stored(cluster, storage) if key.startswith(f"{NS}/")}


def _settle(cluster: ApiCluster) -> None:
    start = cluster.world.now
    run_hosted_until(cluster, lambda: cluster.world.now >= start + SETTLE_TICKS
                     and cluster.world.nodes[CONTROLLER].quiet())


def _deletes(cluster: ApiCluster) -> list[str]:
    return [c.request.path for c in cluster.api_log.calls if c.client == CONTROLLER and c.request.method == "DELETE"]


def _replicaset(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}


def _pod(owner: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"generateName": f"{owner['metadata']['name']}-", "labels": {"app": owner["metadata"]["name"]},
                         "ownerReferences": [_ref(owner, block=True, controller=True)]},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}


def test_background_the_dependents_of_a_deleted_owner_are_deleted():
    cluster = _cluster()
    web, other = _create(cluster, "replicasets", _replicaset("web")), _create(cluster, "replicasets", _replicaset("db"))
    pods = {_create(cluster, "pods", _pod(web))["metadata"]["name"] for _ in range(2)}
    kept = _create(cluster, "pods", _pod(other))["metadata"]["name"]
    _create(cluster, "configmaps", _owned("web-settings", _ref(web)))
    _settle(cluster)
    assert _names(cluster, "pods") == pods | {kept} and _deletes(cluster) == []  # live owners: nothing to do

    _delete(cluster, "replicasets", "web")  # no policy: Background for apps/v1
    run_hosted_until(cluster, lambda: _names(cluster, "pods") == {kept})
    run_hosted_until(cluster, lambda: "web-settings" not in _names(cluster, "configmaps"))
    assert _names(cluster, "replicasets") == {"db"}
    _settle(cluster)
    assert sorted(_deletes(cluster)) == sorted([resource_named("pods").path(NS, p) for p in pods]
                                               + [resource_named("configmaps").path(NS, "web-settings")])


def test_a_dependent_of_a_recreated_owner_of_the_same_name_is_collected():
    cluster = _cluster()
    first = _create(cluster, "configmaps", {"metadata": {"name": "parent"}})
    _delete(cluster, "configmaps", "parent")
    second = _create(cluster, "configmaps", {"metadata": {"name": "parent"}})
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    _create(cluster, "secrets", _owned("child-of-first", _ref(first)))  # its owner is gone: another uid now
    _create(cluster, "secrets", _owned("child-of-second", _ref(second)))
    run_hosted_until(cluster, lambda: "child-of-first" not in _names(cluster, "secrets"))
    _settle(cluster)
    assert _names(cluster, "secrets") >= {"child-of-second"}
    assert _names(cluster, "configmaps") == {"parent"}


def test_foreground_the_owner_stays_until_its_blocking_dependents_are_gone():
    cluster = _cluster()
    owner = _create(cluster, "configmaps", {"metadata": {"name": "owner"}})
    _create(cluster, "secrets", _owned("held", _ref(owner, block=True), finalizers=["example.com/hold"]))
    _create(cluster, "secrets", _owned("blocking", _ref(owner, block=True)))
    _create(cluster, "secrets", _owned("not-blocking", _ref(owner)))
    marked = _delete(cluster, "configmaps", "owner", "Foreground")
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]  # added by the API server

    run_hosted_until(cluster, lambda: _names(cluster, "secrets") & {"blocking", "not-blocking"} == set())
    _settle(cluster)
    held = stored(cluster, "secrets")[f"{NS}/held"]
    assert held["metadata"]["deletionTimestamp"]  # deleted, waiting for its own finalizer
    kept = stored(cluster, "configmaps")[f"{NS}/owner"]
    assert kept["metadata"]["deletionTimestamp"] and kept["metadata"]["finalizers"] == ["foregroundDeletion"]

    released = {**held, "metadata": {**held["metadata"], "finalizers": []}}
    assert admin_write(cluster, "PUT", resource_named("secrets").path(NS, "held"), released).code == 200
    run_hosted_until(cluster, lambda: "owner" not in _names(cluster, "configmaps"))
    assert "held" not in _names(cluster, "secrets")


def test_orphan_the_dependents_lose_their_reference_and_stay():
    cluster = _cluster()
    owner = _create(cluster, "configmaps", {"metadata": {"name": "owner"}})
    other = _create(cluster, "configmaps", {"metadata": {"name": "other"}})
    _create(cluster, "secrets", _owned("only-child", _ref(owner, block=True, controller=True)))
    _create(cluster, "secrets", _owned("shared-child", _ref(owner), _ref(other)))
    marked = _delete(cluster, "configmaps", "owner", "Orphan")
    assert marked["metadata"]["finalizers"] == ["orphan"]

    run_hosted_until(cluster, lambda: "owner" not in _names(cluster, "configmaps"))
    _settle(cluster)
    secrets = stored(cluster, "secrets")
    assert secrets[f"{NS}/only-child"]["metadata"].get("ownerReferences") in (None, [])
    assert secrets[f"{NS}/shared-child"]["metadata"]["ownerReferences"] == [_ref(other)]
    assert _deletes(cluster) == []


def test_a_dependent_with_two_owners_goes_only_when_both_are_gone():
    cluster = _cluster()
    first = _create(cluster, "configmaps", {"metadata": {"name": "first"}})
    second = _create(cluster, "configmaps", {"metadata": {"name": "second"}})
    _create(cluster, "secrets", _owned("shared", _ref(first), _ref(second)))
    _delete(cluster, "configmaps", "first")
    run_hosted_until(cluster, lambda: stored(cluster, "secrets")[f"{NS}/shared"]["metadata"]["ownerReferences"]
                     == [_ref(second)])  # the dangling reference is patched away
    _settle(cluster)
    assert "shared" in _names(cluster, "secrets") and _deletes(cluster) == []

    _delete(cluster, "configmaps", "second")
    run_hosted_until(cluster, lambda: "shared" not in _names(cluster, "secrets"))


def test_an_owner_missing_from_the_cache_is_read_live_before_anything_is_deleted():
    """A collector that does not watch secrets never has the owner in its cache, as one whose
    secret informer lags would not: the live GET finds the owner, and the dependent stays."""
    watched = [resource_named(plural) for plural in ("configmaps", "pods")]
    cluster = _cluster(GarbageCollector(watched))
    owner = _create(cluster, "secrets", {"metadata": {"name": "owner"}, "stringData": {"k": "v"}})
    _create(cluster, "configmaps", _owned("dependent", _ref(owner, block=True)))
    _settle(cluster)
    assert "dependent" in _names(cluster, "configmaps")
    gets = [c.request.path for c in cluster.api_log.calls if c.client == CONTROLLER and c.request.method == "GET"]
    assert resource_named("secrets").path(NS, "owner") in gets
    assert _deletes(cluster) == []
