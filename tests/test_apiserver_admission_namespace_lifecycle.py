import pytest

from impl.apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from impl.apiserver.status import ApiError, status_object
from tests.test_apiserver_admission_support import FakeLookup, namespace, pod, request

PLUGIN = NamespaceLifecycle()


def admit(attributes, lookup):
    assert PLUGIN.handles(attributes)
    PLUGIN.admit(attributes, lookup)


def test_create_in_missing_namespace_is_not_found():
    with pytest.raises(ApiError) as refusal:
        admit(request("pods", pod(ns="ghost"), ns="ghost"), FakeLookup())
    assert refusal.value.reason == "NotFound"
    assert refusal.value.message == 'namespaces "ghost" not found'


def test_update_in_missing_namespace_is_not_found_too():
    with pytest.raises(ApiError, match='namespaces "ghost" not found'):
        admit(request("pods", pod(ns="ghost"), "UPDATE", ns="ghost", old=pod(ns="ghost")), FakeLookup())


@pytest.mark.parametrize("marker", ["phase", "deletionTimestamp"])
def test_create_in_terminating_namespace_is_forbidden(marker):
    _, ns = namespace("ns", phase="Terminating" if marker == "phase" else "Active")
    if marker == "deletionTimestamp":
        ns["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    with pytest.raises(ApiError) as refusal:
        admit(request("pods", pod("web")), FakeLookup(("namespaces", ns)))
    error = refusal.value
    assert (error.reason, error.code) == ("Forbidden", 403)
    assert error.message == ('pods "web" is forbidden: unable to create new content in namespace ns '
                             "because it is being terminated")
    assert error.cause_types == ("NamespaceTerminating",)
    assert status_object(error)["details"]["causes"] == [
        {"reason": "NamespaceTerminating", "message": "namespace ns is being terminated", "field": "metadata.namespace"}]
    assert status_object(error)["details"]["causes"][0]["field"] == "metadata.namespace"


def test_group_is_named_in_the_refusal():
    lookup = FakeLookup(namespace("ns", phase="Terminating"))
    deployment = {"metadata": {"name": "d", "namespace": "ns"}, "spec": {}}
    with pytest.raises(ApiError, match='deployments.apps "d" is forbidden'):
        admit(request("deployments", deployment, group="apps"), lookup)


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE"])
def test_update_and_delete_in_terminating_namespace_pass(operation):
    lookup = FakeLookup(namespace("ns", phase="Terminating"))
    obj = None if operation == "DELETE" else pod()
    admit(request("pods", obj, operation, old=pod(), name="p"), lookup)


def test_active_namespace_passes():
    admit(request("pods", pod()), FakeLookup(namespace("ns")))


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_immortal_namespaces_cannot_be_deleted(name):
    with pytest.raises(ApiError) as refusal:
        admit(request("namespaces", None, "DELETE", name=name, old=namespace(name)[1]), FakeLookup(namespace(name)))
    assert refusal.value.message == f'namespaces "{name}" is forbidden: this namespace may not be deleted'


def test_namespaces_and_cluster_scoped_objects_are_exempt():
    admit(request("namespaces", namespace("new")[1], name="new"), FakeLookup())
    admit(request("namespaces", None, "DELETE", name="team", old=namespace("team")[1]), FakeLookup())
    node = {"metadata": {"name": "n1"}}
    admit(request("nodes", node), FakeLookup())


def test_never_edits_the_object():
    obj = pod()
    before = repr(obj)
    admit(request("pods", obj), FakeLookup(namespace("ns")))
    assert repr(obj) == before
