"""The request pipeline of one instance: authentication, impersonation, authorization, then the
resource handlers (``rest.py``). Every step is recorded in the request's audit event.

Source: k8s.io/apiserver ``pkg/server/config.go`` (``DefaultBuildHandlerChain``: the filters in
order: authentication, audit, impersonation, authorization) and ``pkg/endpoints/filters``.

- Authentication failure is 401 Unauthorized; a request without credentials is anonymous.
- Impersonation is checked by the authorizer, one check per impersonated attribute, before the
  request's own authorization, which is then made as the impersonated user.
- Authorization asks the chain (system:masters first, then RBAC over the policy in the
  instance's caches, as kube's RBAC authorizer reads informers); NoOpinion and Deny are 403.

Each stage is one method, so a catalog bug replaces exactly one.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.apiserver.audit import AuditEvent
from impl.apiserver.authz.chain import allowed
from impl.apiserver.authz.types import Decision, Request, UserInfo
from impl.apiserver.messages import ApiRequest
from impl.apiserver.requestinfo import RequestInfo, request_info
from impl.apiserver.status import ApiError
from impl.apiserver.storage import Effects

__all__ = ["Context", "Reply", "WatchStart", "Pipeline", "BODY_BYTES_MAX"]

BODY_BYTES_MAX = 3 * 1024 * 1024  # kube-apiserver refuses bodies over 3 MiB (413)


@attrs.define
class Context:
    """One request in flight on one instance."""

    client: str
    request: ApiRequest
    audit: AuditEvent
    info: RequestInfo | None = None
    user: UserInfo | None = None  # the effective user (after impersonation)
    fresh: dict[tuple[str, str, str], Any] = attrs.field(factory=dict)  # objects read from the store for this request
    reinvocation: Any = None  # webhooks asked for a second mutating round


@attrs.frozen
class Reply:
    code: int
    body: Any = None
    text: str = ""


@attrs.frozen
class WatchStart:
    """The handler accepted a watch: the server registers it with the resource's cache."""

    info: RequestInfo
    from_revision: int | None
    selects: Any
    bookmarks: bool


class Pipeline:
    def __init__(self, server: Any) -> None:
        self.server = server

    # ----- the whole request --------------------------------------------------------------

    def handle(self, ctx: Context) -> Effects:
        """A generator: yields effects, returns a Reply or a WatchStart. Every ApiError becomes
        its Status; nothing before the persist step changes the store."""
        try:
            result = yield from self.stages(ctx)
            return result
        except ApiError as error:
            return Reply(error.code, error.status())

    def stages(self, ctx: Context) -> Effects:
        self.check_body_size(ctx)
        ctx.info = self.parse(ctx)
        yield from self.authenticate(ctx)
        yield from self.impersonate(ctx)
        self.authorize(ctx)
        if not ctx.info.is_resource_request:
            return self.server.non_resource(ctx)
        result = yield from self.server.rest.serve(ctx)
        return result

    def check_body_size(self, ctx: Context) -> None:
        if len(ctx.request.body) > BODY_BYTES_MAX:
            raise ApiError("RequestEntityTooLarge", f"the request body is {len(ctx.request.body)} bytes; the limit "
                                                    f"is {BODY_BYTES_MAX}")

    def parse(self, ctx: Context) -> RequestInfo:
        info = request_info(ctx.request)
        audit = ctx.audit
        audit.verb = info.verb
        if info.resource is not None:
            audit.resource, audit.group = info.resource.plural, info.resource.group
            audit.subresource, audit.namespace, audit.name = info.subresource, info.namespace, info.name
        return info

    # ----- authentication -----------------------------------------------------------------

    def authenticate(self, ctx: Context) -> Effects:
        now = self.server.now
        try:
            result = self.server.authentication.authenticate(ctx.request.headers, ctx.request.client_certificate, now)
            if result.claims is not None:
                yield from self.check_bound_token(ctx, result.claims)
        except ApiError as error:
            ctx.audit.step("authentication", "refused", error.message, now)
            raise
        ctx.user = result.user
        ctx.audit.user, ctx.audit.groups = result.user.name, result.user.groups
        ctx.audit.authenticated_as = result.user.name
        if result.claims is not None:
            ctx.audit.token_account_uid = result.claims.service_account.uid
            ctx.audit.token_pod_uid = result.claims.pod.uid if result.claims.pod is not None else ""
        ctx.audit.authentication_method = result.method
        ctx.audit.step("authentication", "ok", f"{result.method} {result.user.name}", now)

    def check_bound_token(self, ctx: Context, claims: Any) -> Effects:
        """A bound service-account token works only while its account (and pod) live, with the
        same uid: read them from the store, not a cache, so a deletion counts at once."""
        account = yield from self.server.rest.fresh_get(ctx, "serviceaccounts", claims.namespace,
                                                        claims.service_account.name)
        pod = None
        if claims.pod is not None:
            pod = yield from self.server.rest.fresh_get(ctx, "pods", claims.namespace, claims.pod.name)
        self.server.authentication.check_bound_token(claims, account, pod, self.server.now)

    # ----- impersonation and authorization ------------------------------------------------

    def impersonate(self, ctx: Context) -> Effects:
        target, checks = self.server.impersonation_checks(ctx.user, ctx.request.headers)
        if target is None:
            return
        yield from ()
        for check in checks:
            if not allowed(self.decide(check)):
                ctx.audit.step("impersonation", "refused", check.describe(), self.server.now)
                raise self.server.impersonation_forbidden(ctx.user, check)
        ctx.audit.impersonated_user = target.name
        ctx.audit.user, ctx.audit.groups = target.name, target.groups
        ctx.audit.step("impersonation", "ok", target.name, self.server.now)
        ctx.user = target

    def authorization_request(self, ctx: Context) -> Request:
        info = ctx.info
        if not info.is_resource_request:
            verb = {"GET": "get", "POST": "post", "PUT": "put", "DELETE": "delete"}.get(ctx.request.method, "get")
            return Request(user=ctx.user, verb=verb, resource_request=False, path=info.path)
        return Request(user=ctx.user, verb=info.verb, api_group=info.group, resource=info.plural,
                       subresource=info.subresource, name=info.name, namespace=info.namespace)

    def decide(self, request: Request, authorizer: Any = None) -> Decision:
        if authorizer is None:
            authorizer, _ = self.server.authorizer()
        decision = authorizer.authorize(request)
        metrics = self.server.metrics
        metrics.child(metrics.authorization, decision.value).inc()
        return decision

    def authorize(self, ctx: Context) -> None:
        request = self.authorization_request(ctx)
        authorizer, revision = self.server.authorizer()
        decision = self.decide(request, authorizer)
        ctx.audit.policy_revision = revision
        ctx.audit.annotations["authorization.k8s.io/decision"] = "allow" if allowed(decision) else "forbid"
        if allowed(decision):
            ctx.audit.step("authorization", "ok", f"{decision.value} at policy revision {revision}", self.server.now)
            return
        ctx.audit.step("authorization", "refused", f"{decision.value} at policy revision {revision}", self.server.now)
        raise forbidden(request)


def forbidden(request: Request) -> ApiError:
    """kube's message: ``pods is forbidden: User "bob" cannot list resource "pods" in API group ""
    in the namespace "ns1"``."""
    user = request.user.name
    if not request.resource_request:
        return ApiError("Forbidden", f'forbidden: User "{user}" cannot {request.verb} path "{request.path}"')
    resource = request.resource + (f"/{request.subresource}" if request.subresource else "")
    scope = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    return ApiError.forbidden(request.resource, request.name,
                              f'User "{user}" cannot {request.verb} resource "{resource}" in API group '
                              f'"{request.api_group}" {scope}', request.api_group)
