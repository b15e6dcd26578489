"""The PersistentVolume binder (impl/controllers/pvbinder.py) on the apiserver world. The seed
has a default StorageClass ``standard``, so claims without a class get it (DefaultStorageClass
admission) and the volumes here are of that class. Every apiserver invariant judges the traffic
on the way."""

from __future__ import annotations

from typing import Any

from checks.apiserver.cluster import ApiCluster
from impl.controllers.pvbinder import BIND_COMPLETED, BOUND_BY_CONTROLLER, VolumeBinder, best_match
from tests.controllers_world import admin_write, hosted_cluster, run_hosted_until, stored

NAMESPACE = "ns1"  # claims are not pods: ns1's quota counts pods and configmaps only
RWO, RWX = "ReadWriteOnce", "ReadWriteMany"


def create_volume(cluster: ApiCluster, name: str, size: str, modes=(RWO,), storage_class: str = "standard",
                  policy: str = "Retain", claim_ref: dict[str, Any] | None = None) -> None:
    spec = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": f"/data/{name}"}}
    if claim_ref:
        spec["claimRef"] = claim_ref
    body = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}
    response = admin_write(cluster, "POST", "/api/v1/persistentvolumes", body)
    assert response.code == 201, response


def create_claim(cluster: ApiCluster, name: str, size: str, modes=(RWO,)) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}}
    response = admin_write(cluster, "POST", f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims", body)
    assert response.code == 201, response
    return response.body


def volumes(cluster: ApiCluster) -> dict[str, dict[str, Any]]:
    return stored(cluster, "persistentvolumes")


def claims(cluster: ApiCluster) -> dict[str, dict[str, Any]]:
    return {key.split("/", 1)[1]: claim for key, claim in stored(cluster, "persistentvolumeclaims").items()
            if key.startswith(f"{NAMESPACE}/")}


def phase(obj: dict[str, Any]) -> str:
    return (obj.get("status") or {}).get("phase", "")


def bound(cluster: ApiCluster) -> dict[str, str]:
    """claim -> volume, for every claim Bound to a volume Bound back to it."""
    pairs = {}
    for name, claim in claims(cluster).items():
        volume = volumes(cluster).get((claim.get("spec") or {}).get("volumeName") or "")
        if volume is None or phase(claim) != "Bound" or phase(volume) != "Bound":
            continue
        ref = volume["spec"].get("claimRef") or {}
        if ref.get("uid") == claim["metadata"]["uid"]:
            pairs[name] = volume["metadata"]["name"]
    return pairs


def claims_of(cluster: ApiCluster) -> list[str]:
    """The claim uid each volume's claimRef names (one entry per volume with a claimRef)."""
    return [v["spec"]["claimRef"]["uid"] for v in volumes(cluster).values() if (v.get("spec") or {}).get("claimRef")]


def _cluster() -> ApiCluster:
    return hosted_cluster((VolumeBinder(),))


def test_a_claim_gets_the_smallest_volume_that_fits():
    cluster = _cluster()
    for name, size, modes, storage_class in (("pv-1g", "1Gi", (RWO,), "standard"), ("pv-5g", "5Gi", (RWO,), "standard"),
                                             ("pv-10g", "10Gi", (RWO,), "standard"), ("pv-fast", "2Gi", (RWO,), "fast"),
                                             ("pv-shared", "3Gi", (RWO, RWX), "standard")):
        create_volume(cluster, name, size, modes, storage_class)
    run_hosted_until(cluster, lambda: all(phase(v) == "Available" for v in volumes(cluster).values()))
    claim = create_claim(cluster, "data", "2Gi")
    run_hosted_until(cluster, lambda: "data" in bound(cluster))
    # 1Gi is too small, pv-fast is of another class, pv-shared offers more modes than asked for
    # (kube searches the closest set of access modes first): the smallest of the rest
    assert bound(cluster) == {"data": "pv-5g"}
    volume, stored_claim = volumes(cluster)["pv-5g"], claims(cluster)["data"]
    assert volume["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": NAMESPACE,
                                          "name": "data", "uid": claim["metadata"]["uid"],
                                          "resourceVersion": volume["spec"]["claimRef"]["resourceVersion"]}
    assert volume["metadata"]["annotations"] == {BOUND_BY_CONTROLLER: "yes"}
    assert stored_claim["metadata"]["annotations"] == {BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"}
    assert stored_claim["status"] == {"phase": "Bound", "accessModes": [RWO], "capacity": {"storage": "5Gi"}}
    shared = create_claim(cluster, "shared", "1Gi", (RWX,))
    run_hosted_until(cluster, lambda: "shared" in bound(cluster))
    assert bound(cluster)["shared"] == "pv-shared" and shared["metadata"]["uid"] in claims_of(cluster)


def test_one_volume_never_goes_to_two_claims():
    cluster = _cluster()
    for index in range(4):
        create_claim(cluster, f"c{index}", "1Gi")
    # both volumes appear while four claims wait: the binder's two workers race for the smallest
    create_volume(cluster, "pv-a", "1Gi")
    create_volume(cluster, "pv-b", "2Gi")
    run_hosted_until(cluster, lambda: len(bound(cluster)) == 2, ticks_max=120)
    run_hosted_until(cluster, lambda: cluster.world.nodes["u2"].quiet())
    pairs = bound(cluster)
    assert sorted(pairs.values()) == ["pv-a", "pv-b"]
    assert len(claims_of(cluster)) == len(set(claims_of(cluster))) == 2
    waiting = [name for name, claim in claims(cluster).items() if name not in pairs]
    assert all(phase(claims(cluster)[name]) == "Pending" and not claims(cluster)[name]["spec"].get("volumeName")
               for name in waiting)
    create_volume(cluster, "pv-c", "1Gi")  # a new volume wakes the waiting claims; one gets it
    run_hosted_until(cluster, lambda: len(bound(cluster)) == 3, ticks_max=60)
    assert len(set(bound(cluster).values())) == 3


def test_a_volume_is_released_when_its_claim_is_deleted():
    cluster = _cluster()
    create_volume(cluster, "kept", "1Gi", policy="Retain")
    create_claim(cluster, "first", "1Gi")
    run_hosted_until(cluster, lambda: bound(cluster) == {"first": "kept"})
    create_volume(cluster, "scratch", "1Gi", policy="Delete")
    create_claim(cluster, "second", "1Gi")
    run_hosted_until(cluster, lambda: bound(cluster).get("second") == "scratch")
    for name in ("first", "second"):
        path = f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{name}"
        assert admin_write(cluster, "DELETE", path).code == 200
    run_hosted_until(cluster, lambda: phase(volumes(cluster)["kept"]) == "Released"
                     and "scratch" not in volumes(cluster), ticks_max=60)
    assert volumes(cluster)["kept"]["spec"]["claimRef"]["name"] == "first"  # kept for the administrator
    create_claim(cluster, "first", "1Gi")  # the same name again: a new claim, not the old one's volume
    run_hosted_until(cluster, lambda: cluster.world.nodes["u2"].quiet())
    assert phase(claims(cluster)["first"]) == "Pending" and phase(volumes(cluster)["kept"]) == "Released"


def test_a_volume_pre_bound_to_a_claim_goes_to_it():
    """A volume whose claimRef names a claim (by name, as an administrator pre-binds; or with its
    uid, as a binder that crashed after its first write leaves it) goes to that claim, not a
    smaller one, and the binding is completed on both sides."""
    cluster = _cluster()
    create_volume(cluster, "small", "1Gi")
    create_volume(cluster, "reserved", "8Gi", claim_ref={"namespace": NAMESPACE, "name": "late"})
    run_hosted_until(cluster, lambda: all(phase(v) == "Available" for v in volumes(cluster).values()))
    claim = create_claim(cluster, "late", "1Gi")
    run_hosted_until(cluster, lambda: "late" in bound(cluster))
    assert bound(cluster) == {"late": "reserved"}
    assert volumes(cluster)["reserved"]["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert BOUND_BY_CONTROLLER not in (volumes(cluster)["reserved"]["metadata"].get("annotations") or {})
    assert phase(volumes(cluster)["small"]) == "Available"


def test_best_match_prefers_a_volume_pre_bound_to_the_claim():
    claim = {"metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
             "spec": {"accessModes": [RWO], "resources": {"requests": {"storage": "1Gi"}}}}
    small = {"metadata": {"name": "small"}, "spec": {"accessModes": [RWO], "capacity": {"storage": "1Gi"}}}
    big = {"metadata": {"name": "big"}, "spec": {"accessModes": [RWO], "capacity": {"storage": "9Gi"},
                                                 "claimRef": {"namespace": "ns", "name": "c", "uid": "u1"}}}
    other = {"metadata": {"name": "other"}, "spec": {"accessModes": [RWO], "capacity": {"storage": "1Gi"},
                                                     "claimRef": {"namespace": "ns", "name": "c", "uid": "u0"}}}
    assert best_match(claim, [small, big, other])["metadata"]["name"] == "big"
    assert best_match(claim, [small, other])["metadata"]["name"] == "small"
    assert best_match(claim, [other]) is None
