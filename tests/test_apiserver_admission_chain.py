import copy
import random

from hypothesis import given

from impl.apiserver.admission.chain import (
    ORDER, AsyncStep, default_mutating_plugins, default_plugins, default_validating_plugins,
)
from tests.test_apiserver_admission_support import FakeLookup, claims, namespace, pods, request, service_account


def test_order_is_kube_apiservers():
    assert [p.name for p in default_plugins(random.Random(0))] == list(ORDER)
    assert [p.name for p in default_mutating_plugins(random.Random(0))] == [
        "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "DefaultTolerationSeconds", "DefaultStorageClass",
        "MutatingAdmissionWebhook"]
    validating = default_validating_plugins(random.Random(0))
    assert [p.name for p in validating] == ["LimitRanger", "ServiceAccount", "PodSecurity",
                                            "ValidatingAdmissionWebhook", "ResourceQuota"]
    assert all(isinstance(p, AsyncStep) for p in validating[-2:])


LOOKUP = FakeLookup(
    namespace("ns"), service_account("ns"),
    ("limitranges", {"metadata": {"name": "lr", "namespace": "ns"}, "spec": {"limits": [
        {"type": "Container", "default": {"cpu": "1", "memory": "512Mi"}, "defaultRequest": {"cpu": "100m"}}]}}),
    ("storageclasses", {"metadata": {"name": "standard", "creationTimestamp": 1,
                                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}),
)


def run_mutating(attributes):
    for plugin in default_mutating_plugins(random.Random(0)):
        if not isinstance(plugin, AsyncStep) and plugin.handles(attributes):
            plugin.admit(attributes, LOOKUP)
    return attributes.object


@given(pods())
def test_mutating_phase_twice_equals_once_for_pods(generated):
    once = run_mutating(request("pods", copy.deepcopy(generated)))
    twice = run_mutating(request("pods", copy.deepcopy(once)))
    assert twice == once


@given(claims())
def test_mutating_phase_twice_equals_once_for_claims(generated):
    once = run_mutating(request("persistentvolumeclaims", copy.deepcopy(generated)))
    twice = run_mutating(request("persistentvolumeclaims", copy.deepcopy(once)))
    assert twice == once
