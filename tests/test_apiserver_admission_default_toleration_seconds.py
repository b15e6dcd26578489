import copy

from hypothesis import given

from impl.apiserver.admission.default_toleration_seconds import DefaultTolerationSeconds
from tests.test_apiserver_admission_support import FakeLookup, pod, pods, request

PLUGIN = DefaultTolerationSeconds()
NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}


def admit(obj, operation="CREATE", plugin=PLUGIN):
    attributes = request("pods", obj, operation, old=copy.deepcopy(obj) if operation == "UPDATE" else None)
    assert plugin.handles(attributes)
    plugin.admit(attributes, FakeLookup())
    return attributes.object["spec"].get("tolerations")


def test_adds_both_tolerations():
    assert admit(pod()) == [NOT_READY, UNREACHABLE]
    assert admit(pod(), "UPDATE") == [NOT_READY, UNREACHABLE]


def test_existing_matching_toleration_is_respected():
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
           "tolerationSeconds": 6000}
    assert admit(pod("p", tolerations=[own])) == [own, NOT_READY]


def test_empty_key_or_empty_effect_tolerates_everything():
    wildcard = {"operator": "Exists"}
    assert admit(pod("p", tolerations=[wildcard])) == [wildcard]
    any_effect = {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}
    assert admit(pod("p", tolerations=[any_effect])) == [any_effect, UNREACHABLE]


def test_other_effects_do_not_count():
    no_schedule = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}
    assert admit(pod("p", tolerations=[no_schedule])) == [no_schedule, NOT_READY, UNREACHABLE]


def test_seconds_come_from_the_flags():
    plugin = DefaultTolerationSeconds(not_ready_seconds=60, unreachable_seconds=120)
    assert [t["tolerationSeconds"] for t in admit(pod(), plugin=plugin)] == [60, 120]


def test_subresources_are_not_handled():
    assert not PLUGIN.handles(request("pods", pod(), "UPDATE", old=pod(), subresource="status"))


@given(pods())
def test_admit_is_idempotent(generated):
    once = request("pods", copy.deepcopy(generated))
    PLUGIN.admit(once, FakeLookup())
    twice = request("pods", copy.deepcopy(once.object))
    PLUGIN.admit(twice, FakeLookup())
    assert twice.object == once.object
