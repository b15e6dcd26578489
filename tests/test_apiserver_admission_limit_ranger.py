import copy

import pytest
from hypothesis import given

from impl.apiserver.admission.limit_ranger import ANNOTATION, LimitRanger, item_with_defaults
from impl.apiserver.status import ApiError
from tests.test_apiserver_admission_support import FakeLookup, claim, container, pod, pods, request

PLUGIN = LimitRanger()


def limit_range(*items, name="limits"):
    return ("limitranges", {"apiVersion": "v1", "kind": "LimitRange",
                            "metadata": {"name": name, "namespace": "ns"}, "spec": {"limits": list(items)}})


# The "Configure Default CPU Requests and Limits for a Namespace" task's LimitRange.
CPU_DEFAULTS = limit_range({"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "500m"}})


def run(attributes, lookup):
    assert PLUGIN.handles(attributes)
    PLUGIN.admit(attributes, lookup)
    PLUGIN.validate(attributes, lookup)
    return attributes.object


def test_defaults_fill_missing_requests_and_limits():
    obj = run(request("pods", pod("default-cpu-demo")), FakeLookup(CPU_DEFAULTS))
    assert obj["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}
    assert obj["metadata"]["annotations"][ANNOTATION] == (
        "LimitRanger plugin set: cpu request for container c; cpu limit for container c")


def test_defaults_keep_what_the_container_says_and_cover_init_containers():
    spec_pod = pod("p", container("app", limits={"cpu": "2"}), initContainers=[container("init")])
    obj = run(request("pods", spec_pod), FakeLookup(CPU_DEFAULTS))
    app, init = obj["spec"]["containers"][0], obj["spec"]["initContainers"][0]
    assert app["resources"] == {"requests": {"cpu": "500m"}, "limits": {"cpu": "2"}}
    assert init["resources"] == {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}
    assert obj["metadata"]["annotations"][ANNOTATION].endswith("cpu limit for init container init")


def test_item_defaults_follow_api_defaulting():
    item = item_with_defaults({"type": "Container", "max": {"memory": "1Gi"}, "min": {"cpu": "100m"}})
    assert item["default"] == {"memory": "1Gi"}
    assert item["defaultRequest"] == {"memory": "1Gi", "cpu": "100m"}


def test_max_refuses_a_larger_limit():
    lookup = FakeLookup(limit_range({"type": "Container", "max": {"cpu": "800m"}, "min": {"cpu": "200m"}}))
    with pytest.raises(ApiError) as refusal:
        run(request("pods", pod("constraints-cpu-demo-2", container(limits={"cpu": "1.5"}, requests={"cpu": "500m"}))),
            lookup)
    assert refusal.value.reason == "Forbidden"
    assert refusal.value.message == ('pods "constraints-cpu-demo-2" is forbidden: maximum cpu usage per Container '
                                     "is 800m, but limit is 1500m")


def test_min_refuses_a_smaller_request():
    lookup = FakeLookup(limit_range({"type": "Container", "max": {"cpu": "800m"}, "min": {"cpu": "200m"}}))
    with pytest.raises(ApiError, match="minimum cpu usage per Container is 200m, but request is 100m"):
        run(request("pods", pod("p", container(limits={"cpu": "800m"}, requests={"cpu": "100m"}))), lookup)


def test_several_violations_are_aggregated():
    lookup = FakeLookup(limit_range({"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}}))
    with pytest.raises(ApiError) as refusal:
        PLUGIN.validate(request("pods", pod("p", container(limits={"cpu": "2", "memory": "2Gi"}))), lookup)
    assert refusal.value.message == ('pods "p" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, '
                                     "maximum memory usage per Container is 1Gi, but limit is 2Gi]")


def test_missing_limit_or_request_messages():
    lookup = FakeLookup(limit_range({"type": "Container", "max": {"cpu": "1"}}))
    with pytest.raises(ApiError, match=r"maximum cpu usage per Container is 1\.  No limit is specified"):
        PLUGIN.validate(request("pods", pod()), lookup)
    lookup = FakeLookup(limit_range({"type": "Pod", "min": {"cpu": "1"}}))
    with pytest.raises(ApiError, match=r"minimum cpu usage per Pod is 1\.  No request is specified"):
        PLUGIN.validate(request("pods", pod()), lookup)


def test_limit_request_ratio():
    lookup = FakeLookup(limit_range({"type": "Container", "maxLimitRequestRatio": {"memory": "2"}}))
    with pytest.raises(ApiError, match="memory max limit to request ratio per Container is 2, but provided ratio "
                                       "is 4.000000"):
        PLUGIN.validate(request("pods", pod("p", container(requests={"memory": "256Mi"}, limits={"memory": "1Gi"}))),
                        lookup)
    with pytest.raises(ApiError, match="but no request is specified or request is 0"):
        PLUGIN.validate(request("pods", pod("p", container(limits={"memory": "1Gi"}))), lookup)
    PLUGIN.validate(request("pods", pod("p", container(requests={"memory": "512Mi"}, limits={"memory": "1Gi"}))),
                    lookup)


def test_pod_type_sums_containers():
    lookup = FakeLookup(limit_range({"type": "Pod", "max": {"cpu": "1"}}))
    two = pod("p", container("a", limits={"cpu": "600m"}), container("b", limits={"cpu": "600m"}))
    with pytest.raises(ApiError, match="maximum cpu usage per Pod is 1, but limit is 1200m"):
        PLUGIN.validate(request("pods", two), lookup)


def test_claims_min_and_max_storage():
    lookup = FakeLookup(limit_range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"},
                                     "max": {"storage": "2Gi"}}))
    with pytest.raises(ApiError) as refusal:
        run(request("persistentvolumeclaims", claim("pvc-limit-greater", "5Gi")), lookup)
    assert refusal.value.message == ('persistentvolumeclaims "pvc-limit-greater" is forbidden: maximum storage usage '
                                     "per PersistentVolumeClaim is 2Gi, but limit is 5Gi")
    with pytest.raises(ApiError, match="minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"):
        run(request("persistentvolumeclaims", claim("small", "500Mi")), lookup)
    run(request("persistentvolumeclaims", claim("ok", "2Gi"), "UPDATE", old=claim("ok", "1Gi")), lookup)


def test_pod_updates_and_subresources_are_not_handled():
    assert not PLUGIN.handles(request("pods", pod(), "UPDATE", old=pod()))
    assert not PLUGIN.handles(request("pods", pod(), "UPDATE", old=pod(), subresource="status"))


def test_first_limit_range_with_violations_refuses():
    lookup = FakeLookup(limit_range({"type": "Container", "max": {"cpu": "1"}}, name="a"),
                        limit_range({"type": "Container", "max": {"cpu": "500m"}}, name="b"))
    with pytest.raises(ApiError, match="is 1, but limit is 2$"):
        PLUGIN.validate(request("pods", pod("p", container(limits={"cpu": "2"}))), lookup)


@given(pods())
def test_admit_is_idempotent(generated):
    lookup = FakeLookup(CPU_DEFAULTS, limit_range({"type": "Container", "max": {"memory": "1Gi"}}, name="mem"))
    once = request("pods", copy.deepcopy(generated))
    PLUGIN.admit(once, lookup)
    twice = request("pods", copy.deepcopy(once.object))
    PLUGIN.admit(twice, lookup)
    assert twice.object == once.object
