"""The authorization bug catalog: each bug is one small method overridden beside the reference.

Read each override next to the method it replaces (named in its docstring). The ``rbac`` area
plugs an override in by what it subclasses: ``RbacSemantics`` (the matchers), ``RBACAuthorizer``,
``UnionAuthorizer``, ``NodeAuthorizer``, ``EscalationGuard`` or ``Authenticator``.
"""

from __future__ import annotations

from collections.abc import Sequence

from impl.apiserver.authz.chain import UnionAuthorizer
from impl.apiserver.authz.escalation import EscalationGuard
from impl.apiserver.authz.identity import Authenticator
from impl.apiserver.authz.node import NodeAuthorizer
from impl.apiserver.authz.rbac import ALL, RBACAuthorizer, RbacSemantics
from impl.apiserver.authz.types import (
    AUTHENTICATED, UNAUTHENTICATED, Binding, Decision, PolicyRule, Request, Role, UserInfo,
)
from impl.catalog import Bug

__all__ = ["BUGS"]

AREA = "rbac"
DOCS = "Kubernetes documentation, Using RBAC Authorization"


class RoleBindingGrantsClusterWide(RbacSemantics):
    """Replaces ``binding_covers_namespace``: treats a RoleBinding to a ClusterRole like a
    ClusterRoleBinding, so it grants in every namespace."""

    def binding_covers_namespace(self, binding: Binding, namespace: str) -> bool:
        if binding.role_ref.kind == "ClusterRole":
            return True
        return super().binding_covers_namespace(binding, namespace)


class StarSubMatchesAnySubresource(RbacSemantics):
    """Replaces ``resource_matches``: reads ``*/scale`` as "any resource, any subresource"."""

    def resource_matches(self, rule: PolicyRule, resource: str, subresource: str) -> bool:
        if subresource and any(r.startswith("*/") for r in rule.resources):
            return True
        return super().resource_matches(rule, resource, subresource)


class ResourceNamesRestrictList(RbacSemantics):
    """Replaces ``resource_name_matches``: lets a request without a name (list, watch, create,
    deletecollection) through a rule with resourceNames, as if the names filtered the result."""

    def resource_name_matches(self, rule: PolicyRule, name: str) -> bool:
        return not name or super().resource_name_matches(rule, name)


class UrlPrefixWithoutStar(RbacSemantics):
    """Replaces ``non_resource_url_matches``: treats every rule URL as a prefix, so ``/healthz``
    also grants ``/healthz/etcd``."""

    def non_resource_url_matches(self, rule: PolicyRule, path: str) -> bool:
        return any(path.startswith(u.rstrip(ALL)) for u in rule.non_resource_urls)


class AggregationNotTransitive(RbacSemantics):
    """Replaces ``aggregate``: one pass in name order instead of a fixpoint, so ``admin`` copies
    ``edit`` before ``edit`` has gathered ``view``'s rules."""

    def aggregate(self, cluster_roles: Sequence[Role]):
        rules = {role.name: (() if role.aggregation is not None else role.rules) for role in cluster_roles}
        for target in sorted((r for r in cluster_roles if r.aggregation is not None), key=lambda r: r.name):
            rules[target.name] = self.union_of(rules[s.name] for s in self.aggregation_sources(target, cluster_roles))
        return rules


class RbacDeniesUnmatched(RBACAuthorizer):
    """Replaces ``no_match``: answers Deny when no rule matches, cutting off the rest of the chain."""

    def no_match(self) -> Decision:
        return Decision.DENY


class RoleBindingLooksUpRolesOnly(RBACAuthorizer):
    """Replaces ``role_for``: looks a RoleBinding's role up among the Roles of its namespace
    whatever its roleRef's kind, with an index that raises when it is missing: a RoleBinding to a
    ClusterRole (legal: it grants that ClusterRole in the binding's namespace) raises KeyError."""

    def role_for(self, binding: Binding) -> Role | None:
        if binding.kind == "RoleBinding":
            return self._roles[("Role", binding.namespace, binding.role_ref.name)]
        return super().role_for(binding)


class ChainDenyPassesOn(UnionAuthorizer):
    """Replaces ``is_decisive``: only Allow stops the chain, so a Deny is overridden by a later Allow."""

    def is_decisive(self, decision: Decision) -> bool:
        return decision is Decision.ALLOW


class NodeReadsAnyNamespace(NodeAuthorizer):
    """Replaces ``authorize_graph_read``: looks the object up by name only, so a node whose pod
    mounts secret ``db`` in one namespace reads every namespace's ``db``."""

    def authorize_graph_read(self, node: str, request: Request) -> Decision:
        if request.verb not in ("get", "list", "watch") or not request.name:
            return Decision.NO_OPINION
        field = {"secrets": "secrets", "configmaps": "configmaps", "persistentvolumeclaims": "claims"}.get(request.resource)
        if field and any(p.node == node and request.name in getattr(p, field) for p in self.graph.pods):
            return Decision.ALLOW
        return super().authorize_graph_read(node, request)


class BindWithoutCoverageCheck(EscalationGuard):
    """Replaces ``binding_escalation_ok``: writing a binding needs no proof that the writer holds
    the role's permissions, so whoever may create RoleBindings may bind ``admin`` to themselves."""

    def binding_escalation_ok(self, user: UserInfo, binding: Binding) -> bool:
        return True


class ImpersonateSkipsGroups(EscalationGuard):
    """Replaces ``impersonation_requests``: checks the user being impersonated but not the groups
    it claims, so permission to act as one user lets you claim ``system:masters``."""

    def impersonation_requests(self, user: UserInfo, target: UserInfo, namespace: str = "", uid: str = "",
                               extra=()) -> list[Request]:
        asked = super().impersonation_requests(user, target, namespace, uid, extra)
        return [request for request in asked if request.resource != "groups"]


class ImpersonateUsersInNamespace(EscalationGuard):
    """Replaces ``impersonation_namespace``: asks for ``impersonate`` on users and groups in the
    namespace of the impersonated request, so a RoleBinding in ``team-a`` that grants impersonate
    on users lets its holder be anyone, ``system:masters`` included, in ``team-a``."""

    def impersonation_namespace(self, resource: str, own_namespace: str, request_namespace: str) -> str:
        return own_namespace or request_namespace


class AnonymousIsAuthenticated(Authenticator):
    """Replaces ``anonymous_groups``: puts anonymous requests in ``system:authenticated`` too, so
    every binding meant for signed-in users is open to anyone who can reach the API server."""

    def anonymous_groups(self) -> tuple[str, ...]:
        return (UNAUTHENTICATED, AUTHENTICATED)


BUGS: tuple[Bug, ...] = (
    Bug("rolebinding-grants-cluster-wide", AREA, "RBAC-MATCHES-MODEL",
        "a RoleBinding that refers to a ClusterRole grants it in every namespace",
        f"{DOCS}, RoleBinding examples (a frequent misreading; the binding's namespace limits the grant)",
        RoleBindingGrantsClusterWide),
    Bug("star-sub-matches-any-subresource", AREA, "RBAC-MATCHES-MODEL",
        "a */scale rule allows every subresource of every resource",
        "kubernetes/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go ResourceMatches (the */subresource form)",
        StarSubMatchesAnySubresource),
    Bug("resource-names-restrict-list", AREA, "RBAC-MATCHES-MODEL",
        "a rule with resourceNames also allows list, watch and create",
        f"{DOCS}, Referring to resources (\"you cannot restrict create or deletecollection requests by their "
        "resource name\")", ResourceNamesRestrictList),
    Bug("url-prefix-without-star", AREA, "RBAC-MATCHES-MODEL",
        "a nonResourceURL without a trailing * matches every URL below it",
        "kubernetes/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go NonResourceURLMatches", UrlPrefixWithoutStar),
    Bug("aggregation-not-transitive", AREA, "RBAC-MATCHES-MODEL",
        "ClusterRole aggregation runs one pass, so admin misses view's rules gathered by edit",
        "kubernetes/kubernetes pkg/controller/clusterroleaggregation (the controller re-queues until stable)",
        AggregationNotTransitive),
    Bug("rbac-denies-unmatched", AREA, "RBAC-NEVER-DENIES",
        "RBAC answers Deny instead of NoOpinion when no rule matches",
        f"{DOCS} (\"Permissions are purely additive (there are no deny rules)\")", RbacDeniesUnmatched),
    Bug("rolebinding-to-clusterrole-crashes", AREA, "IMPL-EXCEPTION",
        "a RoleBinding to a ClusterRole is looked up among Roles and raises",
        "Ladicle/kubectl-rolesum #10 ('Fix crash when a role binding using a ClusterRole instead of a Role'); "
        f"{DOCS}, RoleBinding and ClusterRoleBinding (a RoleBinding may reference a ClusterRole)",
        RoleBindingLooksUpRolesOnly),
    Bug("chain-deny-passes-on", AREA, "RBAC-CHAIN-FIRST-DECISIVE",
        "the authorizer chain continues after a Deny, so a later Allow overrides it",
        "k8s.io/apiserver pkg/authorization/union (the first decisive answer wins)", ChainDenyPassesOn),
    Bug("node-reads-any-namespace", AREA, "RBAC-NODE-OWN-OBJECTS",
        "the Node authorizer matches secrets by name only, across namespaces",
        "Kubernetes documentation, Using Node Authorization (the graph is keyed by namespace and name)",
        NodeReadsAnyNamespace),
    Bug("bind-without-coverage-check", AREA, "RBAC-NO-ESCALATION",
        "creating a binding does not check that the creator holds the role's permissions",
        f"{DOCS}, Privilege escalation prevention and bootstrapping (restrictions on role binding creation)",
        BindWithoutCoverageCheck),
    Bug("impersonate-skips-groups", AREA, "RBAC-IMPERSONATION-AUTHORIZED",
        "impersonation checks the user but not the groups it claims",
        "Kubernetes documentation, Authenticating (User impersonation: each impersonated attribute is authorized)",
        ImpersonateSkipsGroups),
    Bug("impersonate-users-in-namespace", AREA, "RBAC-IMPERSONATION-AUTHORIZED",
        "impersonation of users and groups is asked in the request's namespace, so a RoleBinding grants it",
        "k8s.io/apiserver pkg/endpoints/filters/impersonation.go (only a ServiceAccount is asked in a namespace); "
        "the mistake kube-invariants' own `kinv rbac can-i` made (issue 9)", ImpersonateUsersInNamespace),
    Bug("anonymous-in-authenticated-group", AREA, "RBAC-IDENTITY-GROUPS",
        "anonymous requests are also put in system:authenticated",
        "Kubernetes documentation, Authenticating (Anonymous requests: system:anonymous in system:unauthenticated "
        "only); k8s.io/apiserver pkg/authentication/group", AnonymousIsAuthenticated),
)
