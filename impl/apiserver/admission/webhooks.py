"""MutatingAdmissionWebhook and ValidatingAdmissionWebhook, the pure half: which webhooks a
request calls, the AdmissionReview sent, what a response does, failure policy, reinvocation.

The server owns the calls (they are asynchronous); it asks this module what to call, builds the
request with ``admission_review``, and hands each answer to ``apply_review_response`` or each
failed call to ``on_call_failure``.

Rules (k8s.io/apiserver ``pkg/admission/plugin/webhook``: ``predicates/rules``,
``predicates/namespace``, ``predicates/object``, ``mutating/dispatcher.go``,
``mutating/reinvocationcontext.go``, ``errors``; "Dynamic Admission Control"):

- Order: configurations sorted by name, webhooks in their listed order.
- A webhook matches when any rule matches and both selectors match. A rule matches when
  ``operations`` has the operation or ``*``; ``apiGroups`` the group or ``*``; ``apiVersions``
  the version or ``*``; ``resources`` has ``*`` (main resources only), ``*/*`` (everything),
  ``plural``, ``plural/sub``, ``plural/*`` or ``*/sub``; and ``scope`` (default ``*``) fits:
  ``Cluster`` takes cluster-scoped requests and namespaces themselves, ``Namespaced`` the others.
- ``namespaceSelector`` (default: everything) is read against the namespace's labels; a
  namespace object is judged by its own labels (the old object's on DELETE); cluster-scoped
  objects always match. ``objectSelector`` (default: everything) matches when the object's or
  the old object's labels match. ``matchPolicy`` is taken as Exact (no equivalent versions);
  ``matchConditions`` (CEL) are not modelled.
- A response with ``allowed: false`` refuses with the webhook's status: code (at least 400,
  default 400), reason, and message ``admission webhook "NAME" denied the request: MSG`` (its
  reason when it has no message, ``... denied the request without explanation`` with neither).
- A mutating response may carry ``patchType: JSONPatch`` and a base64 ``patch`` (RFC 6902,
  ``impl.apiserver.patch.json_patch``). A response whose uid differs, another patch type, a
  patch from a validating webhook or on a DELETE is a failed call (``WebhookCallError``); a
  patch that does not decode or apply is InternalError whatever the failure policy.
- A failed call (unreachable, timeout, malformed answer) falls to ``failurePolicy``: ``Fail``
  (the default) refuses with InternalError ``Internal error occurred: failed calling webhook
  "NAME": ERR``; ``Ignore`` goes on. A refusal by the webhook itself is not a failure.
- Reinvocation (``ReinvocationState``): mutating webhooks with ``reinvocationPolicy:
  IfNeeded`` that ran are called once more, after every mutating plugin ran once more, when a
  later webhook changed the object after them, or the re-run plugins changed it since the last
  webhook. There is at most one extra round.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable

import attrs

from impl.apiserver.admission._objects import labels_of
from impl.apiserver.admission.attributes import AdmissionAttributes, Lookup
from impl.apiserver.selectors import label_selector_from_object
from impl.apiserver.status import REASONS, ApiError

__all__ = ["Webhook", "WebhookCallError", "ReinvocationState", "matching_webhooks", "webhooks_of", "rule_matches",
           "admission_review", "apply_review_response", "on_call_failure", "needs_reinvocation", "denial"]

Patcher = Callable[[Any, list[dict[str, Any]]], Any]
OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


class WebhookCallError(Exception):
    """The call did not give a usable answer; ``on_call_failure`` decides what it means."""


@attrs.frozen
class Webhook:
    """One webhook of one configuration (``mutating`` tells which kind of configuration)."""

    configuration: str
    spec: dict[str, Any] = attrs.field(eq=False, hash=False)
    mutating: bool

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def key(self) -> tuple[str, str]:
        return (self.configuration, self.name)

    @property
    def failure_policy(self) -> str:
        return self.spec.get("failurePolicy") or "Fail"

    @property
    def reinvocable(self) -> bool:
        return self.mutating and self.spec.get("reinvocationPolicy") == "IfNeeded"


def webhooks_of(configurations: list[dict[str, Any]]) -> list[Webhook]:
    """Every webhook in kube's calling order: configurations by name, webhooks as listed."""
    ordered = sorted(configurations, key=lambda c: (c.get("metadata") or {}).get("name", ""))
    return [Webhook((c.get("metadata") or {}).get("name", ""), spec, c.get("kind") == "MutatingWebhookConfiguration")
            for c in ordered for spec in c.get("webhooks") or []]


# -- matching ---------------------------------------------------------------------------------------

def _resource_matches(patterns: list[str], plural: str, subresource: str) -> bool:
    for pattern in patterns:
        main, _, sub = pattern.partition("/")
        if pattern == "*/*":
            return True
        if "/" not in pattern and subresource == "" and pattern in ("*", plural):
            return True
        if "/" in pattern and main in ("*", plural) and sub in ("*", subresource) and subresource != "":
            return True
    return False


def _is_namespace(attributes: AdmissionAttributes) -> bool:
    return attributes.resource.group == "" and attributes.resource.plural == "namespaces"


def _scope_matches(scope: str, attributes: AdmissionAttributes) -> bool:
    cluster = _is_namespace(attributes) or attributes.namespace == ""
    return scope == "*" or (scope == "Cluster" and cluster) or (scope == "Namespaced" and not cluster)


def rule_matches(rule: dict[str, Any], attributes: AdmissionAttributes) -> bool:
    resource = attributes.resource
    return (any(op in ("*", attributes.operation) for op in rule.get("operations") or [])
            and any(g in ("*", resource.group) for g in rule.get("apiGroups") or [])
            and any(v in ("*", resource.version) for v in rule.get("apiVersions") or [])
            and _resource_matches(rule.get("resources") or [], resource.plural, attributes.subresource)
            and _scope_matches(rule.get("scope") or "*", attributes))


def _selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    try:
        return label_selector_from_object(selector if selector is not None else {}).matches(labels)
    except ValueError as error:  # kube: the webhook's selector is invalid -> internal error
        raise ApiError("InternalError", f"Internal error occurred: {error}") from None


def namespace_selector_matches(webhook: Webhook, attributes: AdmissionAttributes, lookup: Lookup) -> bool:
    selector = webhook.spec.get("namespaceSelector")
    if not selector:  # absent or {}: everything, without a lookup
        return True
    if _is_namespace(attributes):
        return _selector_matches(selector, labels_of(attributes.object or attributes.old_object))
    if attributes.namespace == "":
        return True
    namespace = lookup.get("namespaces", None, attributes.namespace)
    if namespace is None:
        raise ApiError("InternalError", f'Internal error occurred: namespaces "{attributes.namespace}" not found')
    return _selector_matches(selector, labels_of(namespace))


def object_selector_matches(webhook: Webhook, attributes: AdmissionAttributes) -> bool:
    selector = webhook.spec.get("objectSelector")
    if not selector:
        return True
    return any(_selector_matches(selector, labels_of(obj)) for obj in (attributes.object, attributes.old_object)
               if obj is not None)


def matching_webhooks(configurations: list[dict[str, Any]], attributes: AdmissionAttributes,
                      lookup: Lookup) -> list[Webhook]:
    """The webhooks this request calls, in order (configurations of one kind, or both)."""
    return [w for w in webhooks_of(configurations)
            if any(rule_matches(rule, attributes) for rule in w.spec.get("rules") or [])
            and namespace_selector_matches(w, attributes, lookup) and object_selector_matches(w, attributes)]


# -- the review -------------------------------------------------------------------------------------

def admission_review(attributes: AdmissionAttributes, uid: str, *, dry_run: bool = False) -> dict[str, Any]:
    """The admission.k8s.io/v1 AdmissionReview the server sends (request only)."""
    resource = attributes.resource
    kind = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    gvr = {"group": resource.group, "version": resource.version, "resource": resource.plural}
    user = attributes.user
    request: dict[str, Any] = {
        "uid": uid, "kind": kind, "resource": gvr, "requestKind": kind, "requestResource": gvr,
        "name": attributes.name, "namespace": attributes.namespace, "operation": attributes.operation,
        "userInfo": {"username": user.name, "groups": list(user.groups)},
        "object": attributes.object, "oldObject": attributes.old_object, "dryRun": dry_run,
    }
    if attributes.subresource:
        request["subResource"] = request["requestSubResource"] = attributes.subresource
    if attributes.operation in OPTIONS_KIND:
        request["options"] = {"apiVersion": "meta.k8s.io/v1", "kind": OPTIONS_KIND[attributes.operation]}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def denial(webhook_name: str, status: dict[str, Any] | None) -> ApiError:
    """webhookerrors.ToStatusErr: the webhook's own code and reason, its message prefixed."""
    status = status or {}
    code = int(status.get("code") or 0)
    code = code if code >= 400 else 400
    denied = f'admission webhook "{webhook_name}" denied the request'
    why = status.get("message") or status.get("reason")
    message = f"{denied}: {why}" if why else f"{denied} without explanation"
    reason = status.get("reason") if status.get("reason") in REASONS else _reason_for(code)
    error = ApiError(reason, message)
    error.code = code  # the webhook's code stands even when no named reason carries it
    return error


def _reason_for(code: int) -> str:
    return next((reason for reason, c in REASONS.items() if c == code), "BadRequest")


def _decode_patch(response: dict[str, Any]) -> list[dict[str, Any]]:
    if response.get("patchType", "JSONPatch") != "JSONPatch":
        raise WebhookCallError(f"unsupported patch type {response.get('patchType')!r}")
    try:
        operations = json.loads(base64.b64decode(response["patch"], validate=True))
    except (binascii.Error, ValueError, TypeError) as error:
        raise _internal(f"the patch is not base64 JSON: {error}") from None
    if not isinstance(operations, list):
        raise _internal("the patch is not a JSON Patch array")
    return operations


def _internal(why: str) -> ApiError:
    return ApiError("InternalError", f"Internal error occurred: {why}")


def apply_review_response(attributes: AdmissionAttributes, response: dict[str, Any], webhook: Webhook, uid: str,
                          *, patcher: Patcher | None = None) -> bool:
    """Act on one answer: refuse (raises the denial), or apply its patch to ``attributes.object``.
    Returns whether the object changed. ``response`` is the AdmissionReview or its ``response``."""
    answer = response.get("response", response) if response.get("kind") == "AdmissionReview" else response
    if not isinstance(answer, dict) or answer.get("uid") != uid:
        got = answer.get("uid") if isinstance(answer, dict) else None
        raise WebhookCallError(f"expected response.uid={uid!r}, got {got!r}")
    if not answer.get("allowed"):
        raise denial(webhook.name, answer.get("status"))
    if not answer.get("patch"):
        return False
    if not webhook.mutating:
        raise WebhookCallError("validating webhooks may not return patches")
    if attributes.object is None:
        raise WebhookCallError(f"a patch on a {attributes.operation} request has no object to apply to")
    return _apply_patch(attributes, _decode_patch(answer), patcher)


def _apply_patch(attributes: AdmissionAttributes, operations: list[dict[str, Any]], patcher: Patcher | None) -> bool:
    if patcher is None:
        from impl.apiserver.patch import json_patch as patcher  # written alongside; imported when first needed
    try:
        patched = patcher(attributes.object, operations)
    except (ApiError, ValueError, KeyError, IndexError, TypeError) as error:
        # kube answers InternalError, whatever the failure policy (the call itself worked)
        raise _internal(f"the patch of the webhook does not apply: {getattr(error, 'message', error)}") from None
    if patched == attributes.object:
        return False
    attributes.object.clear()
    attributes.object.update(patched)
    return True


def on_call_failure(webhook: Webhook, error: BaseException | str) -> ApiError | None:
    """Failure policy: None to go on (Ignore), or the refusal (Fail, the default)."""
    if webhook.failure_policy == "Ignore":
        return None
    return ApiError("InternalError", f'Internal error occurred: failed calling webhook "{webhook.name}": {error}')


# -- reinvocation -----------------------------------------------------------------------------------

@attrs.define
class ReinvocationState:
    """kube's webhookReinvokeContext plus the chain's "reinvoke" flag, for one request.

    First round: call every matching webhook, then ``record_call`` each. If
    ``needs_reinvocation`` afterwards, the server re-runs every mutating plugin, calls
    ``begin_second_round(object_changed_since_last_webhook)`` on entering the webhook step, and
    calls only the webhooks ``should_call`` allows (recording them as well)."""

    invoked_reinvocable: set[tuple[str, str]] = attrs.field(factory=set)
    to_reinvoke: set[tuple[str, str]] = attrs.field(factory=set)
    reinvoke_requested: bool = False
    second_round: bool = False

    def record_call(self, webhook: Webhook, changed: bool) -> None:
        if changed:  # the webhooks before this one saw an older object
            self.to_reinvoke |= self.invoked_reinvocable
            self.invoked_reinvocable = set()
            self.reinvoke_requested = True
        if webhook.reinvocable:
            self.invoked_reinvocable.add(webhook.key)

    def begin_second_round(self, object_changed_since_last_webhook: bool) -> None:
        assert not self.second_round, "admission reinvokes at most once"
        self.second_round = True
        if object_changed_since_last_webhook:
            self.to_reinvoke |= self.invoked_reinvocable
            self.invoked_reinvocable = set()

    def should_call(self, webhook: Webhook) -> bool:
        return not self.second_round or webhook.key in self.to_reinvoke


def needs_reinvocation(state: ReinvocationState) -> bool:
    """After the first round: whether the mutating phase runs a second time."""
    return state.reinvoke_requested and not state.second_round
