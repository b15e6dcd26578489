import base64
import json

import pytest

from impl.apiserver.admission.webhooks import (
    ReinvocationState, WebhookCallError, admission_review, apply_review_response, matching_webhooks,
    needs_reinvocation, on_call_failure, webhooks_of,
)
from impl.apiserver.status import ApiError
from tests.test_apiserver_admission_support import FakeLookup, namespace, pod, request


def configuration(name, *webhooks, mutating=True):
    kind = "MutatingWebhookConfiguration" if mutating else "ValidatingWebhookConfiguration"
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
            "webhooks": list(webhooks)}


def hook(name, resources=("pods",), operations=("CREATE",), groups=("",), **more):
    rule = {"operations": list(operations), "apiGroups": list(groups), "apiVersions": ["v1"],
            "resources": list(resources)}
    if "scope" in more:
        rule["scope"] = more.pop("scope")
    return {"name": name, "rules": [rule], "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": f"https://{name}"}, **more}


LOOKUP = FakeLookup(namespace("ns", {"team": "a"}), namespace("other", {"team": "b"}))


def names(configurations, attributes):
    return [w.name for w in matching_webhooks(configurations, attributes, LOOKUP)]


def test_order_configurations_by_name_webhooks_as_listed():
    configs = [configuration("z", hook("z1.x")), configuration("a", hook("a2.x"), hook("a1.x"))]
    assert names(configs, request("pods", pod())) == ["a2.x", "a1.x", "z1.x"]


@pytest.mark.parametrize("pattern,subresource,matches", [
    ("pods", "", True), ("pods", "status", False), ("pods/*", "status", True), ("pods/*", "", False),
    ("*", "", True), ("*", "status", False), ("*/*", "status", True), ("*/status", "status", True),
    ("pods/status", "status", True), ("pods/binding", "status", False), ("services", "", False),
])
def test_resource_patterns(pattern, subresource, matches):
    configs = [configuration("c", hook("h", resources=(pattern,), operations=("*",)))]
    attributes = request("pods", pod(), "UPDATE" if subresource else "CREATE", old=pod(), subresource=subresource)
    assert names(configs, attributes) == (["h"] if matches else [])


def test_operations_groups_and_scope():
    configs = [configuration("c", hook("h", operations=("UPDATE",)))]
    assert names(configs, request("pods", pod())) == []
    configs = [configuration("c", hook("apps", resources=("deployments",), groups=("apps",)))]
    assert names(configs, request("deployments", {"metadata": {"name": "d"}}, group="apps")) == ["apps"]
    cluster = [configuration("c", hook("h", resources=("*",), groups=("*",), scope="Cluster"))]
    assert names(cluster, request("pods", pod())) == []
    assert names(cluster, request("namespaces", namespace("new")[1])) == ["h"]
    namespaced = [configuration("c", hook("h", resources=("*",), groups=("*",), scope="Namespaced"))]
    assert names(namespaced, request("namespaces", namespace("new")[1])) == []
    assert names(namespaced, request("pods", pod())) == ["h"]


def test_namespace_selector():
    configs = [configuration("c", hook("h", resources=("pods", "namespaces"),
                                       namespaceSelector={"matchLabels": {"team": "a"}}))]
    assert names(configs, request("pods", pod())) == ["h"]
    assert names(configs, request("pods", pod(ns="other"), ns="other")) == []
    # a namespace is judged by its own labels
    assert names(configs, request("namespaces", namespace("x", {"team": "a"})[1])) == ["h"]
    assert names(configs, request("namespaces", namespace("x", {"team": "c"})[1])) == []


def test_object_selector_matches_new_or_old_labels():
    configs = [configuration("c", hook("h", operations=("*",), objectSelector={
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}))]
    labelled = pod()
    labelled["metadata"]["labels"] = {"app": "web"}
    assert names(configs, request("pods", labelled)) == ["h"]
    assert names(configs, request("pods", pod())) == []
    assert names(configs, request("pods", pod(), "UPDATE", old=labelled)) == ["h"]
    assert names(configs, request("pods", None, "DELETE", old=labelled, name="p")) == ["h"]


def test_admission_review_request():
    attributes = request("pods", pod("web"))
    review = admission_review(attributes, "uid-1", dry_run=True)
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    req = review["request"]
    assert req["uid"] == "uid-1" and req["operation"] == "CREATE" and req["dryRun"] is True
    assert req["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert (req["name"], req["namespace"]) == ("web", "ns")
    assert req["userInfo"]["username"] == "alice"
    assert req["object"] is attributes.object and req["oldObject"] is None
    assert req["options"] == {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    status = admission_review(request("pods", pod(), "UPDATE", old=pod(), subresource="status"), "u")["request"]
    assert status["subResource"] == "status"


def test_denial_message_and_code():
    [webhook] = webhooks_of([configuration("c", hook("policy.example.com"))])
    response = {"uid": "u", "allowed": False, "status": {"code": 403, "reason": "Forbidden", "message": "no latest tag"}}
    with pytest.raises(ApiError) as refusal:
        apply_review_response(request("pods", pod()), response, webhook, "u")
    assert (refusal.value.code, refusal.value.reason) == (403, "Forbidden")
    assert refusal.value.message == 'admission webhook "policy.example.com" denied the request: no latest tag'
    with pytest.raises(ApiError) as bare:
        apply_review_response(request("pods", pod()), {"uid": "u", "allowed": False}, webhook, "u")
    assert bare.value.code == 400
    assert bare.value.message == 'admission webhook "policy.example.com" denied the request without explanation'


def stub_patch(document, operations):
    """A local RFC 6902 subset (add/replace on object members) for these tests."""
    document = json.loads(json.dumps(document))
    for operation in operations:
        *parents, last = operation["path"].lstrip("/").split("/")
        target = document
        for part in parents:
            target = target[part]
        target[last] = operation["value"]
    return document


def patch_response(uid, operations):
    encoded = base64.b64encode(json.dumps(operations).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": True, "patchType": "JSONPatch", "patch": encoded}}


def test_patch_applies_and_reports_change():
    [webhook] = webhooks_of([configuration("c", hook("labeler"))])
    attributes = request("pods", pod())
    ops = [{"op": "add", "path": "/metadata/labels", "value": {"injected": "yes"}}]
    assert apply_review_response(attributes, patch_response("u", ops), webhook, "u", patcher=stub_patch)
    assert attributes.object["metadata"]["labels"] == {"injected": "yes"}
    assert not apply_review_response(attributes, patch_response("u", ops), webhook, "u", patcher=stub_patch)


def test_patch_with_the_real_json_patch():
    [webhook] = webhooks_of([configuration("c", hook("labeler"))])
    attributes = request("pods", pod())
    ops = [{"op": "add", "path": "/metadata/labels", "value": {"injected": "yes"}}]
    assert apply_review_response(attributes, patch_response("u", ops), webhook, "u")
    assert attributes.object["metadata"]["labels"] == {"injected": "yes"}
    bad = [{"op": "replace", "path": "/spec/nothing/here", "value": 1}]
    with pytest.raises(ApiError) as refusal:
        apply_review_response(attributes, patch_response("u", bad), webhook, "u")
    assert refusal.value.reason == "InternalError"


def test_malformed_answers_are_failed_calls():
    [mutating] = webhooks_of([configuration("c", hook("m"))])
    [validating] = webhooks_of([configuration("v", hook("v"), mutating=False)])
    with pytest.raises(WebhookCallError, match="expected response.uid"):
        apply_review_response(request("pods", pod()), {"uid": "other", "allowed": True}, mutating, "u")
    with pytest.raises(WebhookCallError, match="may not return patches"):
        apply_review_response(request("pods", pod()), patch_response("u", [])["response"], validating, "u")


def test_failure_policy():
    fail, ignore = webhooks_of([configuration("c", hook("strict.x"), hook("lenient.x", failurePolicy="Ignore"))])
    error = on_call_failure(fail, "connection refused")
    assert error.code == 500 and error.reason == "InternalError"
    assert error.message == 'Internal error occurred: failed calling webhook "strict.x": connection refused'
    assert on_call_failure(ignore, "timeout") is None


def test_reinvocation_after_a_later_webhook_changes_the_object():
    first, second = webhooks_of([configuration("c", hook("a", reinvocationPolicy="IfNeeded"), hook("b"))])
    state = ReinvocationState()
    state.record_call(first, changed=False)
    state.record_call(second, changed=True)
    assert needs_reinvocation(state)
    state.begin_second_round(object_changed_since_last_webhook=False)
    assert state.should_call(first) and not state.should_call(second)
    assert not needs_reinvocation(state)


def test_no_reinvocation_without_a_later_change_or_for_never_policy():
    first, second = webhooks_of([configuration("c", hook("a", reinvocationPolicy="IfNeeded"), hook("b"))])
    state = ReinvocationState()
    state.record_call(first, changed=True)  # its own change does not reinvoke it
    state.record_call(second, changed=False)
    assert needs_reinvocation(state)  # the chain reruns (a webhook changed the object)...
    state.begin_second_round(object_changed_since_last_webhook=False)
    assert not state.should_call(first) and not state.should_call(second)  # ...but calls no webhook again
    never, later = webhooks_of([configuration("c", hook("a"), hook("b"))])
    state = ReinvocationState()
    state.record_call(never, changed=False)
    state.record_call(later, changed=True)
    state.begin_second_round(False)
    assert not state.should_call(never)


def test_reinvocation_when_reinvoked_plugins_change_the_object():
    [first] = webhooks_of([configuration("c", hook("a", reinvocationPolicy="IfNeeded"))])
    state = ReinvocationState()
    state.record_call(first, changed=True)
    state.begin_second_round(object_changed_since_last_webhook=True)
    assert state.should_call(first)
