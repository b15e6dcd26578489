"""The cheaper forms of the controllers run's hot spots give what the plain forms gave: the
informer cache's copy (impl/controllers/api.py ``copied``) and the apiserver checks' policy per
revision (spec/apiserver/invariants.py ``_policies``)."""

from __future__ import annotations

import copy
from collections import OrderedDict

from impl.controllers.api import copied
from spec.apiserver.invariants import _policies
from spec.apiserver.observations import ApiView, Change
from spec.apiserver.rbac_oracle import policy_at

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-1", "namespace": "ns1", "labels": {"app": "web"}, "resourceVersion": "7",
                    "ownerReferences": [{"kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": True}]},
       "spec": {"containers": [{"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}],
                "terminationGracePeriodSeconds": 30, "nodeName": None},
       "status": {"phase": "Running", "ratio": 0.5, "conditions": [], "big": 2**70, "ready": False}}


def _containers(value):
    """Every dict and list inside ``value``, by id."""
    found, stack = {}, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found[id(item)] = item
            stack.extend(item.values())
        elif isinstance(item, list):
            found[id(item)] = item
            stack.extend(item)
    return found


def test_copied_is_a_deep_copy_that_shares_no_container():
    copy_ = copied(POD)
    assert copy_ == copy.deepcopy(POD)
    assert list(copy_) == list(POD) and list(copy_["metadata"]) == list(POD["metadata"])  # key order kept
    assert not set(_containers(copy_)) & set(_containers(POD))
    assert type(copy_["status"]["ready"]) is bool and type(copy_["status"]["big"]) is int
    copy_["metadata"]["labels"]["app"] = "other"
    copy_["spec"]["containers"].append({})
    assert POD["metadata"]["labels"] == {"app": "web"} and len(POD["spec"]["containers"]) == 1


def test_copied_makes_separate_copies_of_a_shared_value():
    shared = {"a": [1]}
    copy_ = copied({"x": shared, "y": shared})
    copy_["x"]["a"].append(2)
    assert copy_["y"] == {"a": [1]} and shared == {"a": [1]}


def test_copied_takes_what_is_not_plain_data_as_before():
    marker = object()
    value = {"ordered": OrderedDict(b=[1]), "marker": marker}
    copy_ = copied(value)
    assert type(copy_["ordered"]) is dict and copy_["ordered"] == {"b": [1]}
    assert copy_["ordered"]["b"] is not value["ordered"]["b"]
    assert copy_["marker"] is marker


def _binding(name, role_name):
    return {"kind": "ClusterRoleBinding", "metadata": {"name": name, "resourceVersion": "1"},
            "roleRef": {"kind": "ClusterRole", "name": role_name}, "subjects": [{"kind": "User", "name": "u"}]}


def test_policies_give_policy_at_for_every_revision():
    role = {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": []}
    changes = (Change(3, "/registry/clusterrolebindings/b", "clusterrolebindings", "", "b", _binding("b", "r")),
               Change(4, "/registry/pods/ns1/p", "pods", "ns1", "p", {"metadata": {"name": "p"}}),
               Change(6, "/registry/clusterrolebindings/c", "clusterrolebindings", "", "c", _binding("c", "r")),
               Change(6, "/registry/clusterroles/r", "clusterroles", "", "r", None),
               Change(9, "/registry/clusterrolebindings/b", "clusterrolebindings", "", "b", None))
    view = ApiView(changes=changes, base_policy=(role,))
    policies = _policies(view)
    for revision in (9, 0, 2, 3, 5, 4, 6, 7, 8, 12, 3):
        assert policies(revision) == policy_at(changes, revision, view.base_policy), revision
    assert policies(4) is policies(5)  # no RBAC change between: one policy made
