"""Patches: RFC 7386 Appendix A and RFC 6902 Appendix A test vectors, the strategic merge examples of
the Kubernetes docs ("Update API Objects in Place Using kubectl patch", API conventions), how
kube-apiserver answers each failure, and properties (no input mutated, {} is the identity, diffs)."""

import copy
import json

import pytest
from hypothesis import given, strategies as st

from impl.apiserver.patch import (JSON_PATCH_OPERATIONS_MAX, PatchOperationFailed, apply_patch, json_merge_diff,
                                  json_merge_patch, json_patch, strategic_merge_patch)
from impl.apiserver.status import ApiError

# --- RFC 7386, Appendix A: (target, patch, result)
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("target, patch, result", RFC7386)
def test_rfc7386_appendix_a(target, patch, result):
    before = copy.deepcopy((target, patch))
    assert json_merge_patch(target, patch) == result
    assert (target, patch) == before


# --- RFC 6902, Appendix A
RFC6902_OK = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}], {"foo": "bar", "baz": "qux"}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    ({"a/b": {"m~n": 1}}, [{"op": "copy", "from": "/a~1b/m~0n", "path": "/c"}], {"a/b": {"m~n": 1}, "c": 1}),
]


@pytest.mark.parametrize("document, operations, result", RFC6902_OK)
def test_rfc6902_appendix_a(document, operations, result):
    before = copy.deepcopy(document)
    assert json_patch(document, operations) == result
    assert document == before


@pytest.mark.parametrize("document, operations", [
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}]),  # A.9
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}]),  # A.12
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}]),  # A.15
    ({"foo": ["a"]}, [{"op": "add", "path": "/foo/5", "value": 1}]),
    ({"foo": ["a"]}, [{"op": "remove", "path": "/foo/01"}]),
    ({"foo": 1}, [{"op": "remove", "path": "/bar"}]),
    ({"foo": 1}, [{"op": "replace", "path": "/bar", "value": 2}]),
    ({"foo": {"a": 1}}, [{"op": "move", "from": "/foo", "path": "/foo/a/b"}]),
    ({"foo": 1}, [{"op": "frobnicate", "path": "/foo"}]),
    ({"foo": 1}, [{"op": "add", "path": "/bar"}]),
    ({"flag": True}, [{"op": "test", "path": "/flag", "value": 1}]),
])
def test_failed_operations_are_422_with_the_reason_as_cause(document, operations):
    with pytest.raises(ApiError) as raised:
        json_patch(document, operations)
    assert (raised.value.code, raised.value.reason) == (422, "Invalid")
    assert raised.value.message == "the server rejected our request due to an error in our request"
    assert isinstance(raised.value.__cause__, PatchOperationFailed)


def test_a_failed_operation_changes_nothing_and_names_itself():
    document = {"metadata": {"labels": {"a": "1"}}}
    with pytest.raises(ApiError) as raised:
        json_patch(document, [{"op": "add", "path": "/metadata/labels/b", "value": "2"},
                              {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}])
    assert document == {"metadata": {"labels": {"a": "1"}}}
    assert str(raised.value.__cause__).startswith("operation 1: ")


def test_malformed_json_patch_is_bad_request_and_too_many_is_413():
    with pytest.raises(ApiError) as raised:
        json_patch({}, {"op": "add"})
    assert raised.value.code == 400
    with pytest.raises(ApiError) as raised:
        json_patch({}, [{"op": "test", "path": "", "value": {}}] * (JSON_PATCH_OPERATIONS_MAX + 1))
    assert raised.value.code == 413


# --- strategic merge patch

def deployment(containers):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "patch-demo"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "nginx"}},
                                                 "spec": {"containers": containers}}}}


def test_kubectl_docs_strategic_patch_adds_a_container_first():
    live = deployment([{"name": "patch-demo-ctr", "image": "nginx"}])
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}}}
    result = strategic_merge_patch(live, patch, "Deployment")
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "patch-demo-ctr-2", "image": "redis"}, {"name": "patch-demo-ctr", "image": "nginx"}]
    assert json_merge_patch(live, patch)["spec"]["template"]["spec"]["containers"] == [
        {"name": "patch-demo-ctr-2", "image": "redis"}]


def test_kubectl_docs_tolerations_are_replaced():
    live = deployment([{"name": "c", "image": "nginx"}])
    live["spec"]["template"]["spec"]["tolerations"] = [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]
    patch = {"spec": {"template": {"spec": {"tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}}}}
    result = strategic_merge_patch(live, patch, "Deployment")
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]


def test_an_existing_container_is_merged_in_place():
    live = {"kind": "Pod", "spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}], "args": ["--x"]},
        {"name": "b", "image": "b:1", "ports": [{"containerPort": 80}]}]}}
    patch = {"spec": {"containers": [{"name": "b", "image": "b:2", "ports": [{"containerPort": 443}]},
                                     {"name": "a", "env": [{"name": "Y", "value": "2"}], "args": ["--y"]}]}}
    result = strategic_merge_patch(live, patch, "Pod")
    # Both containers are in the patch, so the patch's order wins ("$setElementOrder > order in patch
    # list > order in live list"); a new env entry goes before the server-only one.
    assert result["spec"]["containers"] == [
        {"name": "b", "image": "b:2", "ports": [{"containerPort": 443}, {"containerPort": 80}]},
        {"name": "a", "image": "a:1", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}],
         "args": ["--y"]},
    ]


def test_delete_directive_removes_a_list_element():
    live = {"spec": {"containers": [{"name": "nginx", "image": "nginx-1.0"}, {"name": "log", "image": "fluentd"}]}}
    patch = {"spec": {"containers": [{"name": "nginx", "$patch": "delete"}]}}
    assert strategic_merge_patch(live, patch, "Pod")["spec"]["containers"] == [{"name": "log", "image": "fluentd"}]


def test_replace_directive_in_a_list_and_in_a_map():
    live = {"spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}],
                     "nodeSelector": {"disk": "ssd", "zone": "a"}}}
    patch = {"spec": {"containers": [{"name": "c", "image": "c"}, {"$patch": "replace"}],
                      "nodeSelector": {"$patch": "replace", "zone": "b"}}}
    result = strategic_merge_patch(live, patch, "Pod")
    assert result["spec"]["containers"] == [{"name": "c", "image": "c"}]
    assert result["spec"]["nodeSelector"] == {"zone": "b"}


def test_finalizers_merge_and_delete_from_primitive_list():
    live = {"metadata": {"name": "x", "finalizers": ["a.io/one", "b.io/two"]}}
    added = strategic_merge_patch(live, {"metadata": {"finalizers": ["b.io/two", "c.io/three"]}}, "ConfigMap")
    assert sorted(added["metadata"]["finalizers"]) == ["a.io/one", "b.io/two", "c.io/three"]
    removed = strategic_merge_patch(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/one"]}}, "ConfigMap")
    assert removed["metadata"]["finalizers"] == ["b.io/two"]
    untouched = strategic_merge_patch({"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "Pod")
    assert untouched == {"metadata": {}}


def test_set_element_order_and_retain_keys_never_reach_the_object():
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                     "template": {"spec": {"containers": [{"name": "a", "image": "a"}]}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                      "template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                            "containers": [{"name": "a", "image": "a2"}]}}}}
    result = strategic_merge_patch(live, patch, "Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["spec"]["template"]["spec"] == {"containers": [{"name": "a", "image": "a2"}]}
    assert "$" not in json.dumps(result)


def test_service_ports_merge_by_port_and_volume_mounts_by_path():
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    result = strategic_merge_patch(service, {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}}, "Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "name": "http"}, {"port": 443}]
    pod = {"spec": {"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/data", "name": "v"}]}]}}
    patch = {"spec": {"containers": [{"name": "a", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}]}}
    assert strategic_merge_patch(pod, patch, "Pod")["spec"]["containers"][0]["volumeMounts"] == [
        {"mountPath": "/data", "name": "v", "readOnly": True}]


@pytest.mark.parametrize("patch, code", [
    ({"spec": {"containers": [{"image": "no-name"}]}}, 400),
    ({"spec": {"containers": [{"name": "a", "$patch": "frobnicate"}]}}, 400),
    ({"spec": {"nodeSelector": {"$patch": "merge"}}}, 400),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, 400),
])
def test_malformed_strategic_patches(patch, code):
    with pytest.raises(ApiError) as raised:
        strategic_merge_patch({"spec": {"containers": [{"name": "a"}]}}, patch, "Pod")
    assert raised.value.code == code


def test_strategic_patch_of_an_unknown_kind_is_415():
    with pytest.raises(ApiError) as raised:
        strategic_merge_patch({}, {}, "CronTab")
    assert raised.value.code == 415


# --- apply_patch: the request body

def test_apply_patch_dispatches_on_content_type():
    live = {"metadata": {"name": "x", "labels": {"a": "1"}}}
    merged = apply_patch(live, b'{"metadata":{"labels":{"b":"2"}}}', "application/merge-patch+json; charset=utf-8", "Pod")
    assert merged["metadata"]["labels"] == {"a": "1", "b": "2"}
    patched = apply_patch(live, b'[{"op":"remove","path":"/metadata/labels/a"}]', "application/json-patch+json", "Pod")
    assert patched["metadata"]["labels"] == {}
    strategic = apply_patch(live, b'{"metadata":{"labels":{"a":null}}}', "application/strategic-merge-patch+json", "Pod")
    assert strategic["metadata"]["labels"] == {}


@pytest.mark.parametrize("body, content_type, code", [
    (b"{}", "application/json", 415),
    (b"{}", "application/apply-patch+yaml", 415),
    (b"{not json", "application/merge-patch+json", 400),
    (b"\xff\xfe", "application/merge-patch+json", 400),
    (b'{"a": NaN}', "application/merge-patch+json", 400),
    (b"[1]", "application/merge-patch+json", 400),
    (b'{"op":"add"}', "application/json-patch+json", 400),
    (b'[{"op":"replace","path":"","value":3}]', "application/json-patch+json", 400),
    (b'[{"op":"test","path":"/metadata/name","value":"y"}]', "application/json-patch+json", 422),
])
def test_apply_patch_refusals(body, content_type, code):
    with pytest.raises(ApiError) as raised:
        apply_patch({"metadata": {"name": "x"}}, body, content_type, "Pod")
    assert raised.value.code == code
    assert "\n" not in raised.value.message


# --- properties

_SCALARS = st.one_of(st.booleans(), st.integers(-5, 5), st.text("abc", max_size=3))
_KEY = st.sampled_from(["a", "b", "c", "name", "spec"])
_JSON = st.recursive(_SCALARS | st.none(), lambda children: st.lists(children, max_size=3)
                     | st.dictionaries(_KEY, children, max_size=3), max_leaves=10)
_NO_NULL_JSON = st.recursive(_SCALARS, lambda children: st.lists(children, max_size=3)
                             | st.dictionaries(_KEY, children, max_size=3), max_leaves=10)
_OBJECTS = st.dictionaries(_KEY, _NO_NULL_JSON, max_size=4)


@given(_OBJECTS)
def test_empty_patches_are_the_identity(document):
    assert json_merge_patch(document, {}) == document
    assert strategic_merge_patch(document, {}, "ConfigMap") == document
    assert json_patch(document, []) == document


@given(_OBJECTS, _OBJECTS)
def test_merge_patch_of_the_diff_gives_the_target(original, modified):
    assert json_merge_patch(original, json_merge_diff(original, modified)) == modified


@given(_OBJECTS, st.dictionaries(_KEY, _JSON, max_size=4))
def test_patches_never_mutate_their_inputs(original, patch):
    before = copy.deepcopy((original, patch))
    json_merge_patch(original, patch)
    try:
        strategic_merge_patch(original, patch, "Pod")
    except ApiError:
        pass
    assert (original, patch) == before


@given(_OBJECTS, st.dictionaries(_KEY, _NO_NULL_JSON, max_size=4))
def test_strategic_patch_without_merge_lists_is_merge_patch(original, patch):
    # A ConfigMap has no merging lists at these keys, so both formats agree.
    assert strategic_merge_patch(original, patch, "ConfigMap") == json_merge_patch(original, patch)


@given(_OBJECTS, _KEY, _NO_NULL_JSON)
def test_json_patch_add_then_remove_restores(document, key, value):
    if key in document:
        return
    added = json_patch(document, [{"op": "add", "path": f"/{key}", "value": value}])
    assert json_patch(added, [{"op": "remove", "path": f"/{key}"}]) == document
