"""RBAC escalation prevention: nobody grants what they do not hold, and impersonation.

Sources: kubernetes/kubernetes ``pkg/registry/rbac/escalation_check.go`` and
``pkg/registry/rbac/validation/rule.go`` (``ConfirmNoEscalation``, ``Covers``), and the
"Privilege escalation prevention and bootstrapping" section of the RBAC documentation.

- Creating or updating a Role/ClusterRole is allowed when the user holds every permission in it
  (in that namespace), or may ``escalate`` that role; setting an ``aggregationRule`` needs full
  authority, since it can gather anything.
- Creating or updating a binding is allowed when the user holds every permission of the role it
  refers to (in the binding's namespace), or may ``bind`` that role.
- Members of ``system:masters`` skip both checks.
- ``impersonate`` on ``users``, ``groups`` and ``serviceaccounts`` (and ``uids``, ``userextras``
  in authentication.k8s.io) lets a user act as them. Only a service account is asked in a
  namespace (its own); the rest are asked cluster-wide, so a RoleBinding never grants them.

"Holds" is checked the way Kubernetes does: the new rules are broken into single-verb,
single-resource, single-name atoms, and each atom must be covered by one rule the user has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from impl.apiserver.authz.rbac import ALL, RBACAuthorizer
from impl.apiserver.authz.types import (
    MASTERS, RBAC_GROUP, Binding, PolicyRule, Request, Role, UserInfo, parse_service_account_user,
)

__all__ = ["EscalationGuard", "breakdown", "rule_covers", "covers", "FULL_AUTHORITY", "AUTHENTICATION_GROUP"]

AUTHENTICATION_GROUP = "authentication.k8s.io"

FULL_AUTHORITY = (
    PolicyRule(verbs=(ALL,), api_groups=(ALL,), resources=(ALL,)),
    PolicyRule(verbs=(ALL,), non_resource_urls=(ALL,)),
)


def breakdown(rule: PolicyRule) -> list[PolicyRule]:
    """Split a rule into atoms with one verb, group, resource (and name, or URL) each."""
    atoms = []
    for verb in rule.verbs:
        for url in rule.non_resource_urls:
            atoms.append(PolicyRule(verbs=(verb,), non_resource_urls=(url,)))
        for group in rule.api_groups:
            for resource in rule.resources:
                names = [(name,) for name in rule.resource_names] or [()]
                atoms.extend(PolicyRule(verbs=(verb,), api_groups=(group,), resources=(resource,),
                                        resource_names=n) for n in names)
    return atoms


def _resource_covered(owner: Sequence[str], resource: str) -> bool:
    if ALL in owner or resource in owner:
        return True
    # "*/status" held covers "pods/status" granted.
    return "/" in resource and f"*/{resource.split('/', 1)[1]}" in owner


def _url_covered(owner: Sequence[str], url: str) -> bool:
    return any(o == ALL or o == url or (o.endswith(ALL) and url.startswith(o.rstrip(ALL))) for o in owner)


def rule_covers(owner: PolicyRule, atom: PolicyRule) -> bool:
    """Does one rule the user holds cover one atom of the rule being granted?"""
    verbs = ALL in owner.verbs or all(v in owner.verbs for v in atom.verbs)
    groups = ALL in owner.api_groups or all(g in owner.api_groups for g in atom.api_groups)
    resources = all(_resource_covered(owner.resources, r) for r in atom.resources)
    urls = all(_url_covered(owner.non_resource_urls, u) for u in atom.non_resource_urls)
    if atom.resource_names:
        names = not owner.resource_names or all(n in owner.resource_names for n in atom.resource_names)
    else:
        names = not owner.resource_names
    return verbs and groups and resources and urls and names


def covers(owner_rules: Iterable[PolicyRule], granted: Iterable[PolicyRule]) -> list[PolicyRule]:
    """The atoms of ``granted`` that no rule of ``owner_rules`` covers (empty: all covered)."""
    owner = list(owner_rules)
    return [atom for rule in granted for atom in breakdown(rule) if not any(rule_covers(o, atom) for o in owner)]


class EscalationGuard:
    """Answers "may this user write this role or binding?" beside the normal authorization."""

    def __init__(self, authorizer: RBACAuthorizer) -> None:
        self.authorizer = authorizer

    def held_rules(self, user: UserInfo, namespace: str) -> list[PolicyRule]:
        return [rule for _, role in self.authorizer.rules_for(user, namespace) for rule in role.rules]

    def may_verb_role(self, user: UserInfo, verb: str, kind: str, name: str, namespace: str) -> bool:
        resource = "roles" if kind == "Role" else "clusterroles"
        request = Request(user=user, verb=verb, api_group=RBAC_GROUP, resource=resource, name=name, namespace=namespace)
        return any(True for _ in self.authorizer.grants(request))

    def can_write_role(self, user: UserInfo, role: Role) -> bool:
        if MASTERS in user.groups:
            return True
        if self.may_verb_role(user, "escalate", role.kind, role.name, role.namespace):
            return True
        wanted = FULL_AUTHORITY if role.aggregation is not None else role.rules
        return not covers(self.held_rules(user, role.namespace), wanted)

    def can_write_binding(self, user: UserInfo, binding: Binding) -> bool:
        if MASTERS in user.groups:
            return True
        if self.may_verb_role(user, "bind", binding.role_ref.kind, binding.role_ref.name, binding.namespace):
            return True
        return self.binding_escalation_ok(user, binding)

    def binding_escalation_ok(self, user: UserInfo, binding: Binding) -> bool:
        """Without ``bind``, the user must hold every rule of the referenced role, in the
        binding's namespace (a missing role has no rules, so binding it escalates nothing)."""
        role = self.authorizer.role_for(binding)
        granted = role.rules if role is not None else ()
        return not covers(self.held_rules(user, binding.namespace), granted)

    def can_impersonate(self, user: UserInfo, target: UserInfo, namespace: str = "", uid: str = "",
                        extra: tuple[tuple[str, str], ...] = ()) -> bool:
        """May ``user`` send a request in ``namespace`` acting as ``target`` (its user name and the
        groups it claims), with ``uid`` and ``extra`` (key, value) pairs? Every impersonated
        attribute needs its own ``impersonate`` (k8s.io/apiserver ``endpoints/filters/impersonation.go``)."""
        wanted = self.impersonation_requests(user, target, namespace, uid, extra)
        return all(any(True for _ in self.authorizer.grants(request)) for request in wanted)

    def impersonation_requests(self, user: UserInfo, target: UserInfo, namespace: str = "", uid: str = "",
                               extra: tuple[tuple[str, str], ...] = ()) -> list[Request]:
        """The filter's checks, one per attribute: the service account (core ``serviceaccounts``,
        in its namespace) or the user (``users``), each group (``groups``), the uid (``uids``) and
        each extra value (``userextras``, the key as subresource, both in authentication.k8s.io)."""
        account = parse_service_account_user(target.name)
        if account is not None:
            asked = [("", "serviceaccounts", "", account[1], account[0])]
        else:
            asked = [("", "users", "", target.name, "")]
        asked += [("", "groups", "", group, "") for group in target.groups]
        asked += [(AUTHENTICATION_GROUP, "uids", "", uid, "")] if uid else []
        asked += [(AUTHENTICATION_GROUP, "userextras", key, value, "") for key, value in extra]
        return [Request(user=user, verb="impersonate", api_group=group, resource=resource, subresource=sub, name=name,
                        namespace=self.impersonation_namespace(resource, own, namespace))
                for group, resource, sub, name, own in asked]

    def impersonation_namespace(self, resource: str, own_namespace: str, request_namespace: str) -> str:
        """Where the filter asks: a service account in its own namespace; users, groups, uids and
        extras in none, so only a ClusterRoleBinding can grant them, whatever namespace the
        impersonated request goes to."""
        return own_namespace if resource == "serviceaccounts" else ""
