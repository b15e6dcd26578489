import copy

from hypothesis import given

from impl.apiserver.admission.default_storage_class import DefaultStorageClass, default_class
from tests.test_apiserver_admission_support import FakeLookup, claim, claims, request

PLUGIN = DefaultStorageClass()


def storage_class(name, default=False, created="2024-01-01T00:00:00Z", beta=False):
    key = "storageclass.beta.kubernetes.io/is-default-class" if beta else "storageclass.kubernetes.io/is-default-class"
    annotations = {key: "true"} if default else {}
    return ("storageclasses", {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "x",
                               "metadata": {"name": name, "annotations": annotations, "creationTimestamp": created}})


def admit(obj, lookup):
    attributes = request("persistentvolumeclaims", obj)
    assert PLUGIN.handles(attributes)
    PLUGIN.admit(attributes, lookup)
    return attributes.object["spec"].get("storageClassName", "<absent>")


def test_claim_without_class_gets_the_default():
    assert admit(claim(), FakeLookup(storage_class("standard", True), storage_class("fast"))) == "standard"


def test_empty_class_or_beta_annotation_is_kept():
    lookup = FakeLookup(storage_class("standard", True))
    assert admit(claim(storageClassName=""), lookup) == ""
    assert admit(claim(storageClassName="fast"), lookup) == "fast"
    annotated = claim()
    annotated["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "old"}
    assert admit(annotated, lookup) == "<absent>"


def test_no_default_leaves_claim_unchanged():
    assert admit(claim(), FakeLookup(storage_class("fast"))) == "<absent>"


def test_several_defaults_newest_wins_ties_by_name():
    classes = [storage_class("old", True, "2023-01-01T00:00:00Z")[1], storage_class("b", True, "2024-05-01T00:00:00Z")[1],
               storage_class("a", True, "2024-05-01T00:00:00Z", beta=True)[1]]
    assert default_class(classes)["metadata"]["name"] == "a"
    assert default_class(classes[:2])["metadata"]["name"] == "b"
    assert default_class([storage_class("x", True, 5)[1], storage_class("y", True, 7)[1]])["metadata"]["name"] == "y"


def test_only_create_is_handled():
    assert not PLUGIN.handles(request("persistentvolumeclaims", claim(), "UPDATE", old=claim()))


@given(claims())
def test_admit_is_idempotent(generated):
    lookup = FakeLookup(storage_class("standard", True))
    once = request("persistentvolumeclaims", copy.deepcopy(generated))
    PLUGIN.admit(once, lookup)
    twice = request("persistentvolumeclaims", copy.deepcopy(once.object))
    PLUGIN.admit(twice, lookup)
    assert twice.object == once.object
