"""Storage keys as the API server lays them out (impl/etcd/registry.py)."""

import pytest

from impl.etcd import Store
from impl.etcd.registry import InvalidKey, list_range, parse_key, storage_key


def test_namespaced_and_cluster_scoped_keys():
    assert storage_key("pods", "default", "web-0") == b"/registry/pods/default/web-0"
    assert storage_key("nodes", None, "node-1") == b"/registry/nodes/node-1"
    assert storage_key("deployments.apps", "kube-system", "coredns", prefix="/kube") == \
        b"/kube/deployments.apps/kube-system/coredns"


def test_parse_is_the_inverse():
    for args in (("pods", "default", "web-0"), ("nodes", None, "node-1")):
        assert parse_key(storage_key(*args)) == args


def test_a_namespace_list_does_not_match_a_longer_namespace():
    store = Store()
    store.put(storage_key("pods", "de", "a"), b"1")
    store.put(storage_key("pods", "default", "b"), b"2")
    store.put(storage_key("podsx", "de", "c"), b"3")
    key, end = list_range("pods", "de")
    assert [kv.key for kv in store.range(key, end).kvs] == [b"/registry/pods/de/a"]
    key, end = list_range("pods")
    assert [kv.key for kv in store.range(key, end).kvs] == [b"/registry/pods/de/a", b"/registry/pods/default/b"]


@pytest.mark.parametrize("resource, namespace, name", [
    ("pods", "default", "a/b"), ("pods", "default", ".."), ("pods", "default", ""),
    ("pods", "Default", "a"), ("pods", "x" * 64, "a"), ("Pods", "default", "a"), ("pods", "default", "50%"),
])
def test_invalid_parts_are_refused_with_a_reason(resource, namespace, name):
    with pytest.raises(InvalidKey, match="name|namespace|resource"):
        storage_key(resource, namespace, name)


@pytest.mark.parametrize("key", [b"/other/pods/a", b"/registry/pods", b"/registry/a/b/c/d"])
def test_keys_outside_the_layout_do_not_parse(key):
    with pytest.raises(InvalidKey):
        parse_key(key)
