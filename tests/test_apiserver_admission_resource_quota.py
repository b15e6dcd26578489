import copy
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from impl.apiserver.admission.resource_quota import charge, charge_all, delta_of, quota_matches, usage_of
from impl.apiserver.resources import resource_for
from impl.apiserver.status import ApiError
from tests.test_apiserver_admission_support import claim, container, pod, request

PODS = resource_for("", "pods")


def quota(name, hard, used=None, rv="7", **spec):
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
            "spec": {"hard": dict(hard), **spec}, "status": {"hard": dict(hard), "used": dict(used or {})}}


def test_pod_usage():
    p = pod("p", container("a", requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "128Mi"}),
            container("b", requests={"cpu": "250m"}), initContainers=[container("i", requests={"cpu": "1"})])
    assert usage_of(PODS, p) == {"count/pods": 1, "pods": 1, "cpu": 1, "requests.cpu": 1,
                                 "memory": Fraction(64 * 2**20), "requests.memory": Fraction(64 * 2**20),
                                 "limits.cpu": Fraction(1, 2), "limits.memory": Fraction(128 * 2**20)}


def test_terminal_pod_counts_only_as_object():
    done = pod("p", container("a", requests={"cpu": "1"}))
    done["status"] = {"phase": "Succeeded"}
    assert usage_of(PODS, done) == {"count/pods": 1}


def test_other_usages():
    svc = {"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}
    assert usage_of(resource_for("", "services"), svc) == {
        "count/services": 1, "services": 1, "services.nodeports": 2, "services.loadbalancers": 1}
    assert usage_of(resource_for("", "persistentvolumeclaims"), claim("c", "2Gi", storageClassName="gold")) == {
        "count/persistentvolumeclaims": 1, "persistentvolumeclaims": 1, "requests.storage": 2 * 2**30,
        "gold.storageclass.storage.k8s.io/requests.storage": 2 * 2**30,
        "gold.storageclass.storage.k8s.io/persistentvolumeclaims": 1}
    assert usage_of(resource_for("apps", "deployments"), {"metadata": {"name": "d"}}) == {"count/deployments.apps": 1}
    assert usage_of(resource_for("", "secrets"), {"metadata": {"name": "s"}}) == {"count/secrets": 1, "secrets": 1}


def test_exceeded_quota_message():
    attributes = request("pods", pod("p"))
    full = quota("pod-demo", {"pods": "2"}, {"pods": "2"})
    with pytest.raises(ApiError) as refusal:
        charge_all([full], attributes)
    assert refusal.value.reason == "Forbidden"
    assert refusal.value.message == ('pods "p" is forbidden: exceeded quota: pod-demo, requested: pods=1, '
                                     "used: pods=2, limited: pods=2")


def test_charge_raises_used_and_keeps_resource_version():
    attributes = request("pods", pod("p", container("c", requests={"cpu": "500m", "memory": "1Gi"},
                                                    limits={"cpu": "1", "memory": "1Gi"})))
    q = quota("compute", {"requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi",
                          "pods": "10"},
              {"requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "0", "limits.memory": "0", "pods": "1"})
    before = copy.deepcopy(q)
    [charged] = charge_all([q], attributes)
    assert q == before  # the input is not edited
    assert charged["metadata"] == q["metadata"]
    assert charged["status"]["used"] == {"requests.cpu": "1500m", "requests.memory": "2Gi", "limits.cpu": "1",
                                         "limits.memory": "1Gi", "pods": "2"}


def test_memory_listing_prints_in_the_quota_format():
    attributes = request("pods", pod("p", container("c", requests={"memory": "512Mi"}, limits={"memory": "512Mi"})))
    with pytest.raises(ApiError, match="requested: requests.memory=512Mi, used: requests.memory=768Mi, "
                                       "limited: requests.memory=1Gi"):
        charge_all([quota("mem", {"requests.memory": "1Gi"}, {"requests.memory": "768Mi"})], attributes)


def test_untracked_resources_leave_the_quota_alone():
    attributes = request("configmaps", {"metadata": {"name": "cm"}})
    assert charge_all([quota("pods-only", {"pods": "1"}, {"pods": "1"})], attributes) == []
    assert not quota_matches(quota("pods-only", {"pods": "1"}), attributes.resource, attributes.object)


def test_status_unknown_and_missing_requests():
    attributes = request("pods", pod("p", container("c")))
    with pytest.raises(ApiError, match="status unknown for quota: q, resources: pods"):
        charge_all([quota("q", {"pods": "3"})], attributes)
    with pytest.raises(ApiError) as refusal:
        charge_all([quota("q", {"requests.cpu": "1", "limits.memory": "1Gi"},
                          {"requests.cpu": "0", "limits.memory": "0"})], attributes)
    assert refusal.value.message == ('pods "p" is forbidden: failed quota: q: must specify limits.memory for: c; '
                                     "requests.cpu for: c")


def test_update_charges_growth_only():
    old, new = claim("c", "1Gi"), claim("c", "3Gi")
    attributes = request("persistentvolumeclaims", new, "UPDATE", old=old)
    assert delta_of(attributes) == {"requests.storage": 2 * 2**30}
    shrink = request("persistentvolumeclaims", old, "UPDATE", old=new)
    assert delta_of(shrink) == {}
    assert delta_of(request("pods", pod(), "UPDATE", old=pod())) == {}


def test_scopes():
    best_effort = request("pods", pod("p"))
    burstable = request("pods", pod("p", container("c", requests={"cpu": "1"})))
    scoped = quota("be", {"pods": "1"}, {"pods": "0"}, scopes=["BestEffort"])
    assert quota_matches(scoped, PODS, best_effort.object)
    assert not quota_matches(scoped, PODS, burstable.object)
    assert not quota_matches(quota("pc", {"pods": "1"}, scopes=["PriorityClass"]), PODS, best_effort.object)


def test_stale_quota_is_detectable_by_resource_version():
    """Two requests charge the same quota read at rv 7: both succeed locally, both results carry
    rv 7; the server's compare-and-swap accepts the first and must refuse the second, whose retry
    from the fresh quota is then over the limit."""
    q = quota("two", {"pods": "2"}, {"pods": "1"}, rv="7")
    first = charge(q, {"pods": Fraction(1)}, request("pods", pod("a")))
    second = charge(q, {"pods": Fraction(1)}, request("pods", pod("b")))
    assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"] == "7"
    stored = {**first, "metadata": {**first["metadata"], "resourceVersion": "8"}}
    assert second["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
    with pytest.raises(ApiError, match="used: pods=2, limited: pods=2"):
        charge(stored, {"pods": Fraction(1)}, request("pods", pod("b")))


@given(st.lists(st.integers(0, 3), min_size=1, max_size=8), st.integers(0, 10))
def test_sequential_charges_never_exceed_hard(sizes, hard):
    q = quota("q", {"requests.storage": str(hard)}, {"requests.storage": "0"})
    for size in sizes:
        attributes = request("persistentvolumeclaims", claim("c", str(size)))
        try:
            q = charge(q, delta_of(attributes), attributes)
        except ApiError:
            pass
        used = Fraction(q["status"]["used"]["requests.storage"])
        assert 0 <= used <= hard
