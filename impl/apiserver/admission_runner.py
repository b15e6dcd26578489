"""The admission chain of an instance: the plugins in kube-apiserver's order (``admission/chain``),
and the steps that call out (webhooks) or write (ResourceQuota), run as effects of the request.

- Mutating webhooks are called one after another in kube's order; a webhook whose answer
  changed the object makes the reinvocable (``reinvocationPolicy: IfNeeded``) webhooks before it
  stale, and then the whole mutating phase runs once more: the built-in plugins again
  (``reinvoke:PLUGIN`` steps), then the webhooks that need it (``reinvoke:MutatingAdmissionWebhook``).
  Source: k8s.io/apiserver ``pkg/admission/plugin/webhook/mutating/dispatcher.go`` and
  ``pkg/admission/reinvocation.go``.
- A webhook that cannot be reached, times out or answers nonsense is judged by its
  ``failurePolicy``: Fail (the default) refuses the request, Ignore goes on.
- ResourceQuota reads the namespace's quotas from the store, charges them, and writes each
  changed quota only if it is still at the revision read; on a conflict it reads again and
  starts over (``pkg/admission/plugin/resourcequota/controller.go``: the quota object's
  resourceVersion is the lock that makes concurrent creates through different instances safe).
"""

from __future__ import annotations

from typing import Any

from impl.apiserver.admission.chain import MUTATING_WEBHOOK, RESOURCE_QUOTA, VALIDATING_WEBHOOK, AsyncStep
from impl.apiserver.admission.chain import default_mutating_plugins, default_validating_plugins
from impl.apiserver.admission.resource_quota import charge_all
from impl.apiserver.admission.webhooks import (
    ReinvocationState, Webhook, WebhookCallError, admission_review, apply_review_response, matching_webhooks,
    needs_reinvocation, on_call_failure,
)
from impl.apiserver.messages import WebhookCall, WebhookReply
from impl.apiserver.plain import clone
from impl.apiserver.resources import resource_for
from impl.apiserver.status import ApiError
from impl.apiserver.storage import Effects, ObjectStore

__all__ = ["Admission", "QUOTA_ATTEMPTS_MAX"]

QUOTA_ATTEMPTS_MAX = 5
_QUOTAS = resource_for("", "resourcequotas")


def _rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"].get("resourceVersion") or 0)


def service_of(webhook: Webhook) -> str:
    """The node a webhook is served by: ``clientConfig.service.name``, or the host of its url."""
    config = webhook.spec.get("clientConfig") or {}
    service = config.get("service") or {}
    if service.get("name"):
        return str(service["name"])
    url = str(config.get("url") or "")
    return url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


class Admission:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.mutating = default_mutating_plugins(server.rng)
        self.validating = default_validating_plugins(server.rng)
        self._by_name = {("mutating", p.name): p for p in self.mutating}
        self._by_name.update({("validating", p.name): p for p in self.validating})

    @property
    def async_steps(self) -> frozenset[str]:
        return frozenset({MUTATING_WEBHOOK, VALIDATING_WEBHOOK, RESOURCE_QUOTA})

    def plugin(self, phase: str, name: str) -> Any:
        return self._by_name[(phase, name)]

    def run_async(self, ctx, attributes, phase: str, plugin: AsyncStep) -> Effects:
        if plugin.name == RESOURCE_QUOTA:
            return (yield from self.charge_quota(ctx, attributes))
        return (yield from self.call_webhooks(ctx, attributes, plugin.name == MUTATING_WEBHOOK))

    # ----- webhooks -----------------------------------------------------------------------

    def configurations(self, mutating: bool) -> list[dict[str, Any]]:
        plural = "mutatingwebhookconfigurations" if mutating else "validatingwebhookconfigurations"
        cache = self.server.cache(resource_for("admissionregistration.k8s.io", plural))
        return [obj for _, obj in sorted(cache.objects.items())]

    def call_webhooks(self, ctx, attributes, mutating: bool) -> Effects:
        hooks = matching_webhooks(self.configurations(mutating), attributes, self.server.lookup(ctx))
        if not hooks:
            return "skipped"
        state = ReinvocationState()
        changed = yield from self._call_round(ctx, attributes, hooks, state)
        if mutating and needs_reinvocation(state):
            ctx.reinvocation = (hooks, state)  # run after this step is recorded (reinvoke_if_needed)
        return "changed" if changed else "ok"

    def reinvoke_if_needed(self, ctx, attributes) -> Effects:
        """After the mutating webhook step: the second round, if a webhook asked for it."""
        pending, ctx.reinvocation = ctx.reinvocation, None
        if pending is not None:
            yield from self.reinvoke(ctx, attributes, *pending)

    def _call_round(self, ctx, attributes, hooks: list[Webhook], state: ReinvocationState) -> Effects:
        changed_any = False
        for hook in hooks:
            if not state.should_call(hook):
                continue
            changed = yield from self.call_one(ctx, attributes, hook)
            state.record_call(hook, changed)
            changed_any = changed_any or changed
        return changed_any

    def reinvoke(self, ctx, attributes, hooks: list[Webhook], state: ReinvocationState) -> Effects:
        """The second round: built-in mutating plugins again, then the webhooks that need it."""
        before = clone(attributes.object)
        lookup = self.server.lookup(ctx)
        for plugin in self.mutating:
            if isinstance(plugin, AsyncStep) or not plugin.handles(attributes):
                continue
            previous = clone(attributes.object)
            plugin.admit(attributes, lookup)
            ctx.audit.step(f"reinvoke:{plugin.name}", "changed" if attributes.object != previous else "ok", "",
                           self.server.now)
        state.begin_second_round(attributes.object != before)
        changed = yield from self._call_round(ctx, attributes, hooks, state)
        ctx.audit.step(f"reinvoke:{MUTATING_WEBHOOK}", "changed" if changed else "ok", "", self.server.now)

    def call_one(self, ctx, attributes, hook: Webhook) -> Effects:
        """Call one webhook and act on its answer; whether it changed the object."""
        call_id = self.server.next_call_id()
        uid = f"{ctx.audit.audit_id}-{call_id}"
        review = admission_review(attributes, uid)
        timeout = int(hook.spec.get("timeoutSeconds") or 10)
        reply: WebhookReply = yield WebhookCall(call_id, hook.name, review, service_of(hook), timeout)
        metrics = self.server.metrics.webhooks
        kind = "admit" if hook.mutating else "validating"
        try:
            if reply is None or reply.review is None:
                raise WebhookCallError("the webhook did not answer in time")
            if not isinstance(reply.review, dict):
                raise WebhookCallError("the webhook's answer is not an AdmissionReview")
            changed = apply_review_response(attributes, reply.review, hook, uid)
        except WebhookCallError as error:
            metrics.labels(hook.name, kind, "error").inc()
            refusal = on_call_failure(hook, error)
            ctx.audit.step(f"webhook:{hook.name}", "error" if refusal else "ignored", str(error), self.server.now)
            if refusal is not None:
                raise refusal from None
            return False
        except ApiError:
            metrics.labels(hook.name, kind, "rejected").inc()
            raise
        metrics.labels(hook.name, kind, "allowed").inc()
        return changed

    # ----- quota --------------------------------------------------------------------------

    def charge_quota(self, ctx, attributes) -> Effects:
        if not attributes.namespace or attributes.object is None:
            return "skipped"
        store = ObjectStore(_QUOTAS)
        for _ in range(QUOTA_ATTEMPTS_MAX):
            quotas, _, _ = yield from store.list(attributes.namespace)
            if not quotas:
                return "skipped"  # nothing to charge: no usage to compute
            charged = charge_all(quotas, attributes)
            if not charged:
                return "skipped" if not quotas else "ok"
            written = yield from self.write_quotas(store, charged)
            if written:
                return "ok"
            ctx.audit.step("quota:retry", "conflict", "a quota changed since it was read", self.server.now)
        raise ApiError("Conflict", "Operation cannot be fulfilled on resourcequotas: too many concurrent writers; "
                                   "try again")

    def write_quotas(self, store: ObjectStore, charged: list[dict[str, Any]]) -> Effects:
        """Write each charged quota if unchanged since read; False at the first that changed."""
        for quota in charged:
            meta = quota["metadata"]
            written = yield from store.write_if_unchanged(meta["namespace"], meta["name"], quota, _rv(quota))
            if written is None:
                return False
        return True
