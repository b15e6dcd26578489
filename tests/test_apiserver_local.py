"""The API server end to end in-process (impl/apiserver/local.py): the pipeline, REST semantics,
resourceVersion semantics and Status errors on one instance over one MVCC store."""

from __future__ import annotations

import json

import pytest

from impl.apiserver.authn import Authentication, StaticTokens
from impl.apiserver.core import ServerConfig
from impl.apiserver.local import LocalApiServer
from impl.apiserver.messages import WatchEvent

TOKENS = 'admin-token,admin,1,"system:masters"\nalice-token,alice,2\n'
ADMIN = (("Authorization", "Bearer admin-token"),)
ALICE = (("Authorization", "Bearer alice-token"),)
MERGE = (("Content-Type", "application/merge-patch+json"),)


@pytest.fixture
def server() -> LocalApiServer:
    s = LocalApiServer(config=ServerConfig(Authentication(static_tokens=StaticTokens.from_csv(TOKENS))))
    for path, body in (("/api/v1/namespaces", {"metadata": {"name": "ns1"}}),
                       ("/api/v1/namespaces/ns1/serviceaccounts", {"metadata": {"name": "default"}})):
        assert call(s, "POST", path, body).code == 201
    return s


def call(server, method, path, body=None, query=(), headers=ADMIN):
    data = json.dumps(body).encode() if body is not None else b""
    return server.request(method, path, data, tuple(query), headers)


def pod(name, **labels):
    return {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def test_create_sets_system_fields_and_defaults(server):
    created = call(server, "POST", "/api/v1/namespaces/ns1/pods", pod("p1")).body
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert created["status"] == {"phase": "Pending"}
    assert created["spec"]["serviceAccountName"] == "default"  # the ServiceAccount plugin
    assert any(v["name"].startswith("kube-api-access-") for v in created["spec"]["volumes"])
    assert {t["key"] for t in created["spec"]["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                                  "node.kubernetes.io/unreachable"}


def test_create_twice_is_already_exists(server):
    assert call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c"}}).code == 201
    again = call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c"}})
    assert (again.code, again.body["reason"]) == (409, "AlreadyExists")


def test_generate_name(server):
    created = call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"generateName": "web-"}})
    assert created.code == 201 and created.body["metadata"]["name"].startswith("web-")
    assert len(created.body["metadata"]["name"]) == len("web-") + 5


def test_update_with_a_stale_resource_version_is_a_conflict(server):
    created = call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c"}}).body
    first = {**created, "data": {"k": "1"}}
    second = {**created, "data": {"k": "2"}}
    assert call(server, "PUT", "/api/v1/namespaces/ns1/configmaps/c", first).code == 200
    lost = call(server, "PUT", "/api/v1/namespaces/ns1/configmaps/c", second)
    assert (lost.code, lost.body["reason"]) == (409, "Conflict")


def test_merge_patch_and_generation(server):
    call(server, "POST", "/apis/apps/v1/namespaces/ns1/deployments",
         {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
             "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    labels = call(server, "PATCH", "/apis/apps/v1/namespaces/ns1/deployments/d", {"metadata": {"labels": {"x": "y"}}},
                  headers=ADMIN + MERGE).body
    assert labels["metadata"]["generation"] == 1  # metadata only: the spec did not change
    scaled = call(server, "PATCH", "/apis/apps/v1/namespaces/ns1/deployments/d", {"spec": {"replicas": 3}},
                  headers=ADMIN + MERGE).body
    assert scaled["metadata"]["generation"] == 2 and scaled["spec"]["replicas"] == 3


def test_status_cannot_be_set_through_the_main_resource(server):
    call(server, "POST", "/api/v1/namespaces/ns1/pods", pod("p1"))
    patched = call(server, "PATCH", "/api/v1/namespaces/ns1/pods/p1", {"status": {"phase": "Running"}},
                   headers=ADMIN + MERGE).body
    assert patched["status"]["phase"] == "Pending"
    status = call(server, "PATCH", "/api/v1/namespaces/ns1/pods/p1/status", {"status": {"phase": "Running"}},
                  headers=ADMIN + MERGE).body
    assert status["status"]["phase"] == "Running"


def test_finalizers_hold_a_deletion_until_removed(server):
    call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c", "finalizers": ["kinv/x"]}})
    marked = call(server, "DELETE", "/api/v1/namespaces/ns1/configmaps/c").body
    assert marked["metadata"]["deletionTimestamp"]
    assert call(server, "GET", "/api/v1/namespaces/ns1/configmaps/c").code == 200
    call(server, "PATCH", "/api/v1/namespaces/ns1/configmaps/c", {"metadata": {"finalizers": None}},
         headers=ADMIN + MERGE)
    assert call(server, "GET", "/api/v1/namespaces/ns1/configmaps/c").code == 404


def test_a_shorter_grace_period_replaces_the_running_one_and_zero_deletes_at_once(server):
    """rest.BeforeDelete: deleting a pod already in its grace period changes nothing unless the
    new grace period is shorter; 0 (a kubelet confirming, or --force) removes it."""
    running = {**pod("p1"), "spec": {**pod("p1")["spec"], "nodeName": "node-1"}}
    assert call(server, "POST", "/api/v1/namespaces/ns1/pods", running).code == 201
    first = call(server, "DELETE", "/api/v1/namespaces/ns1/pods/p1")
    assert (first.code, first.body["metadata"]["deletionGracePeriodSeconds"]) == (200, 30)
    longer = call(server, "DELETE", "/api/v1/namespaces/ns1/pods/p1", {"gracePeriodSeconds": 60})
    assert longer.body["metadata"]["resourceVersion"] == first.body["metadata"]["resourceVersion"]
    shorter = call(server, "DELETE", "/api/v1/namespaces/ns1/pods/p1", {"gracePeriodSeconds": 5})
    assert shorter.body["metadata"]["deletionGracePeriodSeconds"] == 5
    assert call(server, "DELETE", "/api/v1/namespaces/ns1/pods/p1", {"gracePeriodSeconds": 0}).code == 200
    assert call(server, "GET", "/api/v1/namespaces/ns1/pods/p1").code == 404


def test_an_update_naming_another_uid_is_refused_as_immutable(server):
    """BeforeUpdate keeps the stored uid only when none is sent: a uid in the body is a
    precondition (the garbage collector's patches carry one)."""
    created = call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c"}}).body
    wrong = call(server, "PATCH", "/api/v1/namespaces/ns1/configmaps/c",
                 {"metadata": {"uid": "not-" + created["metadata"]["uid"], "labels": {"a": "b"}}}, headers=ADMIN + MERGE)
    assert (wrong.code, wrong.body["reason"]) == (422, "Invalid")
    assert "metadata.uid" in wrong.body["message"]
    right = call(server, "PATCH", "/api/v1/namespaces/ns1/configmaps/c",
                 {"metadata": {"uid": created["metadata"]["uid"], "labels": {"a": "b"}}}, headers=ADMIN + MERGE)
    assert right.code == 200 and right.body["metadata"]["labels"] == {"a": "b"}


def test_terminating_namespace_refuses_new_content(server):
    assert call(server, "DELETE", "/api/v1/namespaces/ns1").body["status"]["phase"] == "Terminating"
    refused = call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c"}})
    assert refused.code == 403 and "being terminated" in refused.body["message"]


def test_list_with_selectors_limit_and_continue(server):
    for i in range(5):
        call(server, "POST", "/api/v1/namespaces/ns1/configmaps",
             {"metadata": {"name": f"c{i}", "labels": {"even": str(i % 2 == 0).lower()}}})
    even = call(server, "GET", "/api/v1/namespaces/ns1/configmaps", query=(("labelSelector", "even=true"),)).body
    assert [i["metadata"]["name"] for i in even["items"]] == ["c0", "c2", "c4"]
    page = call(server, "GET", "/api/v1/namespaces/ns1/configmaps", query=(("limit", "2"),)).body
    assert len(page["items"]) == 2 and page["metadata"]["continue"]
    rest = call(server, "GET", "/api/v1/namespaces/ns1/configmaps",
                query=(("continue", page["metadata"]["continue"]),)).body
    assert [i["metadata"]["name"] for i in rest["items"]] == ["c2", "c3", "c4"]
    assert rest["metadata"]["resourceVersion"] == page["metadata"]["resourceVersion"]


def test_exact_list_of_a_compacted_revision_is_gone(server):
    call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c"}})
    server.local.store.compact(server.local.store.revision)
    gone = call(server, "GET", "/api/v1/namespaces/ns1/configmaps",
                query=(("resourceVersion", "2"), ("resourceVersionMatch", "Exact")))
    assert (gone.code, gone.body["reason"]) == (410, "Expired")


def test_watch_from_a_list_resource_version_sees_every_later_change(server):
    listed = call(server, "GET", "/api/v1/namespaces/ns1/configmaps").body
    started = server.request("GET", "/api/v1/namespaces/ns1/configmaps", b"",
                             (("watch", "true"), ("resourceVersion", listed["metadata"]["resourceVersion"])), ADMIN)
    assert started == []
    call(server, "POST", "/api/v1/namespaces/ns1/configmaps", {"metadata": {"name": "c"}})
    call(server, "DELETE", "/api/v1/namespaces/ns1/configmaps/c")
    events = [m for _, m in server.outbox if isinstance(m, WatchEvent)]
    assert [e.type for e in events] == ["ADDED", "DELETED"]


def test_forbidden_and_unauthorized(server):
    denied = call(server, "GET", "/api/v1/namespaces/ns1/pods", headers=ALICE)
    assert denied.code == 403 and 'User "alice" cannot list resource "pods"' in denied.body["message"]
    bad = call(server, "GET", "/api/v1/namespaces/ns1/pods", headers=(("Authorization", "Bearer nope"),))
    assert bad.code == 401


def test_escalation_is_prevented(server):
    call(server, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/ns1/roles",
         {"metadata": {"name": "writer"}, "rules": [{"apiGroups": ["rbac.authorization.k8s.io"],
                                                     "resources": ["roles"], "verbs": ["create"]}]})
    call(server, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/ns1/rolebindings",
         {"metadata": {"name": "alice-writer"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                            "name": "writer"},
          "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]})
    grab = call(server, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/ns1/roles",
                {"metadata": {"name": "all"}, "rules": [{"apiGroups": [""], "resources": ["secrets"],
                                                         "verbs": ["get"]}]}, headers=ALICE)
    assert grab.code == 403 and "not currently held" in grab.body["message"]


def test_health_and_metrics(server):
    assert call(server, "GET", "/readyz", headers=()).code == 200
    text = call(server, "GET", "/metrics").text
    assert 'apiserver_request_total{code="201",group="",resource="namespaces"' in text


@pytest.mark.parametrize("method,path,body,code", [
    ("GET", "/api/v1/namespaces/ns1/nothings", b"", 404),
    ("POST", "/api/v1/namespaces/ns1/pods", b"\xff\xfe", 400),
    ("POST", "/api/v1/namespaces/ns1/pods", b"[1]", 400),
    ("PUT", "/api/v1/namespaces/ns1/configmaps/x", b"{}", 404),
    ("GET", "/api/v1/namespaces/ns1/configmaps", b"", 400),  # with a bad selector, below
    ("TRACE", "/api/v1/namespaces", b"", 405),
])
def test_bad_requests_get_a_status(server, method, path, body, code):
    query = (("labelSelector", "a in (b"),) if code == 400 and not body else ()
    answer = server.request(method, path, body, query, ADMIN)
    assert answer.code == code and answer.body["kind"] == "Status"
