"""who-can: every subject that may make a request, with the binding and rule that grant it.

Like kubectl-who-can, this reads the bindings rather than enumerating users: a binding grants
the request when it covers the request's namespace and its role has a rule allowing the request;
then every subject of that binding can. (Whether a rule allows a request does not depend on who
asks, so the request's user is irrelevant here.)
"""

from __future__ import annotations

import attrs

from impl.apiserver.authz.rbac import RBACAuthorizer
from impl.apiserver.authz.types import Binding, PolicyRule, Request, Role, Subject

__all__ = ["Holder", "who_can", "brute_force_who_can"]


@attrs.frozen
class Holder:
    subject: Subject
    binding: Binding
    role: Role
    index: int
    rule: PolicyRule


def _as_bound(subject: Subject, binding: Binding) -> Subject:
    # A ServiceAccount subject without a namespace lives in the RoleBinding's namespace.
    if subject.kind == "ServiceAccount" and not subject.namespace:
        return attrs.evolve(subject, namespace=binding.namespace)
    return subject


def who_can(authorizer: RBACAuthorizer, request: Request) -> list[Holder]:
    """Every (subject, binding, rule) granting ``request``, sorted by subject then binding."""
    semantics = authorizer.semantics
    found = []
    for binding in authorizer.bindings:
        if not semantics.binding_covers_namespace(binding, request.namespace):
            continue
        role = authorizer.role_for(binding)
        if role is None:
            continue
        for index, rule in enumerate(role.rules):
            if semantics.rule_allows(rule, request):
                found.extend(Holder(_as_bound(s, binding), binding, role, index, rule) for s in binding.subjects)
                break  # one rule per binding is enough to show why
    return sorted(found, key=lambda h: (h.subject.kind, h.subject.namespace, h.subject.name,
                                        h.binding.kind, h.binding.namespace, h.binding.name))


def brute_force_who_can(authorizer: RBACAuthorizer, request: Request, identities) -> list:
    """The same question by asking the authorizer once per identity of a finite universe
    (the baseline the bench compares against)."""
    return [user for user in identities if any(True for _ in authorizer.grants(attrs.evolve(request, user=user)))]
