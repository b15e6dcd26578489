"""The apiserver bug catalog: each bug a small override of one method of the reference, plugged
in as the instance class a simulated cluster is built from (``checks.apiserver.cluster.ApiParts``).

Read each broken method beside the reference one it replaces (named in its docstring).
"""

from __future__ import annotations

import copy
from typing import Any

import attrs

from impl.apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from impl.apiserver.admission_runner import Admission
from impl.apiserver.authn import RequestAuthenticator
from impl.apiserver.escalation_step import EscalationCheck
from impl.apiserver.node import ApiServer
from impl.apiserver.pipeline import Context, Reply
from impl.apiserver.rest import Rest, label_and_field_selector
from impl.apiserver.status import ApiError
from impl.apiserver.storage import StoreCall, encode
from impl.apiserver.watchcache import WatchCache
from impl.apiserver.writes import Writes
from impl.catalog import Bug
from impl.etcd.types import PutRequest

__all__ = ["BUGS", "ApiParts"]


@attrs.frozen
class ApiParts:
    """Which classes a simulated API server cluster is built from (the reference by default)."""

    apiserver: type[ApiServer] = ApiServer


def _server(name: str, **classes: Any) -> ApiParts:
    return ApiParts(type(f"ApiServer_{name.replace('-', '_')}", (ApiServer,), classes))


# ----- admission order ---------------------------------------------------------------------------

class ValidateBeforeMutate(Writes):
    """``Writes.write_steps``: the validating plugins run before the mutating ones, so what a
    mutating plugin or webhook adds is never validated."""

    def write_steps(self, operation, resource):
        steps = super().write_steps(operation, resource)
        validating = [s for s in steps if s.startswith("validating:")]
        rest = [s for s in steps if not s.startswith("validating:")]
        return validating + rest


class PersistBeforeValidatingWebhook(Writes):
    """``Writes.write_steps``: the object is stored before the validating webhooks are asked;
    a webhook's refusal then answers 403 for an object already in the store."""

    def write_steps(self, operation, resource):
        steps = super().write_steps(operation, resource)
        steps.remove("persist")
        at = steps.index("validating:ValidatingAdmissionWebhook")
        return steps[:at] + ["persist"] + steps[at:]


class NoReinvocation(Admission):
    """``Admission.reinvoke_if_needed``: webhooks with reinvocationPolicy IfNeeded are never
    called again, so a later webhook's change (an injected sidecar) escapes them."""

    def reinvoke_if_needed(self, ctx, attributes):
        ctx.reinvocation = None
        yield from ()


class FailOpenWebhooks(Admission):
    """``Admission.call_one``: a webhook that cannot be reached lets the request through even when
    its failurePolicy is Fail (the failure is read as Ignore)."""

    def call_one(self, ctx, attributes, hook):
        try:
            changed = yield from super().call_one(ctx, attributes, hook)
        except ApiError as error:
            if error.code == 500 and "failed calling webhook" in error.message:
                return False
            raise
        return changed


# ----- quota, namespaces, concurrency --------------------------------------------------------------

class QuotaWithoutConcurrencyControl(Admission):
    """``Admission.write_quotas``: the charged quota is written whatever its revision now, so two
    instances that read the same usage both admit, and the namespace ends up over its quota."""

    def write_quotas(self, store, charged):
        for quota in charged:
            meta = quota["metadata"]
            yield StoreCall(PutRequest(store.key(meta["namespace"], meta["name"]), encode(quota)))
        return True


class NeverTerminating(NamespaceLifecycle):
    def terminating(self, namespace):
        return False


class CreateInTerminatingNamespace(Admission):
    """``NamespaceLifecycle.terminating``: a namespace being deleted is taken for active, so new
    objects land in it after its deletion was acknowledged (and outlive the namespace's cleanup)."""

    def __init__(self, server):
        super().__init__(server)
        self.mutating = [NeverTerminating() if p.name == "NamespaceLifecycle" else p for p in self.mutating]
        self._by_name.update({("mutating", p.name): p for p in self.mutating})


class UpdateIgnoresResourceVersion(Writes):
    """``Writes.update``: the resourceVersion in the body is dropped, so an update made from a
    stale read overwrites a newer one (a lost update) instead of answering 409 Conflict."""

    def update(self, ctx: Context):
        new = self.object_from_body(ctx, ctx.info.resource)
        result = yield from self.guaranteed_update(ctx, 0, lambda current: copy.deepcopy(new))
        return result


# ----- reads and watches ------------------------------------------------------------------------

class StaleConsistentList(Rest):
    """``Rest.list``: a list without resourceVersion (a consistent read) is served from the watch
    cache, which may lag the store: a client misses writes acknowledged before it listed."""

    def list(self, ctx: Context):
        cache = self.server.cache(ctx.info.resource)
        if ctx.request.query_value("resourceVersion") is None and not ctx.request.query_value("continue") \
                and cache.ready:
            items, revision = self.list_from_cache(ctx, label_and_field_selector(ctx, ctx.info.resource))
            yield from ()
            return Reply(200, self._list_body(ctx.info.resource, items, revision, None))
        return (yield from super().list(ctx))


class WatchWithoutTooOldCheck(WatchCache):
    """``WatchCache.watch``: a watch from a resourceVersion older than the cache's window is served
    from what the window still has instead of 410 Gone: the events in between are silently lost."""

    def watch(self, watcher, from_revision):
        if from_revision is not None and from_revision < self.window_start:
            from_revision = self.window_start
        return super().watch(watcher, from_revision)


# ----- authentication and authorization ------------------------------------------------------------

class TokenOutlivesAccount(RequestAuthenticator):
    """``RequestAuthenticator.check_service_account_current``: a bound token is not checked
    against its service account, so it still works after the account was deleted."""

    def check_service_account_current(self, claims, service_account, now):
        return None


class SkipEscalationCheck(EscalationCheck):
    """``EscalationCheck.check``: roles and bindings are stored without checking that the writer
    holds what they grant, so a user who may write roles grants themselves anything."""

    def check(self, attributes):
        return "skipped"


class StalePolicy(ApiServer):
    """``ApiServerCore._chain``: the authorizer is built from the first policy the caches held and
    never rebuilt, so a deleted binding keeps granting."""

    def _chain(self):
        if self._policy is None:
            return super()._chain()
        return self._policy[1]


BUGS: tuple[Bug, ...] = (
    Bug("validate-before-mutate", "apiserver", "ADMISSION-ORDER",
        "validating admission runs before mutating admission, so mutations are never validated",
        "Kubernetes 'Admission control' docs: mutating plugins run first, then validating ones, so that "
        "validation sees the final object (the reason PodSecurityPolicy had to order its mutation)",
        _server("validate-before-mutate", writes_class=ValidateBeforeMutate)),
    Bug("persist-before-validating-webhook", "apiserver", "ADMISSION-ORDER",
        "the object is stored before the validating webhooks are asked; a refusal leaves it in the store",
        "Dynamic Admission Control docs: validating webhooks run after mutation and before persistence",
        _server("persist-before-validating-webhook", writes_class=PersistBeforeValidatingWebhook)),
    Bug("mutating-webhook-not-reinvoked", "apiserver", "ADMISSION-VALID",
        "webhooks with reinvocationPolicy IfNeeded are not called again after a later webhook changed the object",
        "Azure/azure-workload-identity#787: its mutating webhook missed containers another webhook injected "
        "after it; fixed by reinvocationPolicy IfNeeded (#794)",
        _server("mutating-webhook-not-reinvoked", admission_class=NoReinvocation)),
    Bug("fail-open-webhook-on-fail-policy", "apiserver", "ADMISSION-VALID",
        "an unreachable webhook lets requests through although its failurePolicy is Fail",
        "Dynamic Admission Control docs, failurePolicy: Fail rejects the request when the webhook cannot be called",
        _server("fail-open-webhook-on-fail-policy", admission_class=FailOpenWebhooks)),
    Bug("quota-check-without-concurrency-control", "apiserver", "QUOTA-NEVER-EXCEEDED",
        "the quota charge is written without a resourceVersion precondition, so concurrent creates exceed it",
        "Kubernetes design 'admission_control_resource_quota': the quota status is updated with its "
        "resourceVersion as a precondition, the only lock between several API servers",
        _server("quota-check-without-concurrency-control", admission_class=QuotaWithoutConcurrencyControl)),
    Bug("create-in-terminating-namespace", "apiserver", "NAMESPACE-TERMINATING",
        "NamespaceLifecycle takes a terminating namespace for active and admits new objects into it",
        "NamespaceLifecycle admission plugin docs: no new objects in a namespace that is being terminated",
        _server("create-in-terminating-namespace", admission_class=CreateInTerminatingNamespace)),
    Bug("update-ignores-resource-version", "apiserver", "NO-LOST-UPDATE",
        "an update's resourceVersion is ignored, so an update from a stale read overwrites a newer one",
        "Kubernetes API conventions, 'Concurrency Control and Consistency': a stale resourceVersion is 409 Conflict",
        _server("update-ignores-resource-version", writes_class=UpdateIgnoresResourceVersion)),
    Bug("watch-cache-serves-stale-list", "apiserver", "API-READ-CONSISTENT",
        "a list without resourceVersion (a consistent read) is served from a watch cache that may lag",
        "kubernetes/kubernetes#59848: reads from the watch cache may be stale; consistent reads must go to etcd "
        "(KEP-2340 later made the cache wait for the store's revision first)",
        _server("watch-cache-serves-stale-list", rest_class=StaleConsistentList)),
    Bug("watch-from-too-old-revision", "apiserver", "API-WATCH",
        "a watch from a resourceVersion older than the cache's window starts at the window instead of 410 Gone",
        "API concepts, 'Efficient detection of changes': a watch from a version no longer available is 410 Gone, "
        "never a silent gap",
        _server("watch-from-too-old-revision", cache_class=WatchWithoutTooOldCheck)),
    Bug("escalation-check-skipped", "apiserver", "API-NO-ESCALATION",
        "roles and bindings are stored without the escalation check",
        "RBAC docs, 'Privilege escalation prevention and bootstrapping'",
        _server("escalation-check-skipped", escalation_class=SkipEscalationCheck)),
    Bug("sa-token-outlives-account", "apiserver", "TOKEN-REVOCATION",
        "a bound service-account token still authenticates after its account was deleted",
        "Kubernetes 'Managing Service Accounts': bound tokens are invalidated with the object they are bound to "
        "(legacy tokens without --service-account-lookup were not)",
        _server("sa-token-outlives-account", authenticator_class=TokenOutlivesAccount)),
    Bug("authorizer-misses-policy-updates", "apiserver", "AUTHZ-SOUND",
        "the RBAC authorizer keeps the first policy it built: a deleted binding keeps granting",
        "RBAC authorizer reads its policy through informers and must follow every change "
        "(kubernetes/kubernetes pkg/registry/rbac, the rule resolver's listers)",
        ApiParts(type("ApiServer_authorizer_misses_policy_updates", (StalePolicy,), {}))),
)
