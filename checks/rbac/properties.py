"""Properties of the authorizer chain, checked on one world (policy, node graph, chain).

Each function gathers plain observations from the implementation and hands them to the
invariant's predicate in ``spec.rbac.invariants``; a non-empty list of messages is a violation.
Requests come from a probe grid: every identity the policy names (one member per group, a node
per node), common verbs and resources, every namespace. The escalation and impersonation checks
take "what does the user hold?" from the z3 model, not from the implementation under check, so a
broken guard cannot vouch for itself.
"""

from __future__ import annotations

import itertools

import attrs
import z3

from checks.rbac.components import Components
from checks.rbac.equivalence import concrete_request
from checks.rbac.solving import plainest_model
from checks.rbac.world import World, contractor_webhook
from impl.apiserver.authz.chain import PrivilegedGroups
from impl.apiserver.authz.node import NODES_GROUP, node_user
from impl.apiserver.authz.types import RBAC_GROUP, Binding, Request, RoleRef, Subject, UserInfo
from impl.apiserver.authz.webhook import WebhookAuthorizer
from spec.rbac import invariants as spec
from spec.rbac.model import RbacModel, SymbolicRequest
from spec.rbac.universe import universe_of

__all__ = ["Violation", "identities", "probe_requests", "check_never_denies", "check_chain", "check_node",
           "check_no_escalation", "check_impersonation", "check_world", "model_allows"]

PROBE_VERBS = ("get", "list", "create", "delete", "watch")
PROBE_TARGETS = (("", "pods"), ("", "secrets"), ("", "configmaps"), ("apps", "deployments"), ("", "nodes"),
                 (RBAC_GROUP, "rolebindings"))
PROBE_URLS = ("/healthz", "/api/v1", "/flaky", "/metrics")


@attrs.frozen
class Violation:
    invariant: str
    messages: tuple[str, ...]


def identities(world: World) -> list[UserInfo]:
    """Every user, service account and group member the policy names, plus a node per node."""
    found = []
    for user in universe_of(world.policy).users:
        found.append(UserInfo.authenticated(user))
    for group in universe_of(world.policy).groups:
        found.append(UserInfo.authenticated(f"member-of-{group}", (group,)))
    found += [UserInfo.authenticated(node_user(n), (NODES_GROUP,)) for n in world.nodes]
    return found


def _namespaces(world: World) -> list[str]:
    return sorted({""} | {b.namespace for b in world.policy.bindings} | {p.namespace for p in world.graph.pods})


def probe_requests(world: World) -> list[Request]:
    requests = []
    for user in identities(world):
        for verb, (group, resource), namespace in itertools.product(PROBE_VERBS, PROBE_TARGETS, _namespaces(world)):
            for name in ("", "db-password"):
                requests.append(Request(user=user, verb=verb, api_group=group, resource=resource, name=name,
                                        namespace=namespace))
        requests += [Request(user=user, verb="get", resource_request=False, path=p) for p in PROBE_URLS]
    return requests


def _violation(invariant: str, messages: list[str]) -> Violation | None:
    return Violation(invariant, tuple(messages)) if messages else None


def check_never_denies(world: World, components: Components) -> Violation | None:
    rbac = components.authorizer(world.policy)
    observations = [(r.describe(), rbac.authorize(r).value) for r in probe_requests(world)]
    return _violation("RBAC-NEVER-DENIES", spec.rbac_never_denies(observations))


def chain_for(world: World, components: Components):
    members = [PrivilegedGroups(), components.node(world.graph), WebhookAuthorizer(contractor_webhook),
               components.authorizer(world.policy)]
    return components.chain(members)


def check_chain(world: World, components: Components) -> Violation | None:
    chain = chain_for(world, components)
    observations = []
    for request in probe_requests(world):
        members = [d.value for d in chain.decisions(request)]
        observations.append((f"{request.user.name}: {request.describe()}", members, chain.authorize(request).value))
    messages = spec.chain_first_decisive(observations)
    # A Deny overridden by a later Allow tells the story best, so it goes first.
    return _violation("RBAC-CHAIN-FIRST-DECISIVE", sorted(messages, key=lambda m: not m.startswith("chain said Allow")))


def _referenced(world: World, node: str, resource: str, namespace: str, name: str) -> bool:
    """Straight from the pod list, not through the authorizer's graph."""
    pods = [p for p in world.graph.pods if p.node == node]
    if resource == "persistentvolumes":
        return any((p.namespace, c) == claim and volume == name for p in pods for c in p.claims
                   for claim, volume in world.graph.volumes)
    refs = {"secrets": "secrets", "configmaps": "configmaps", "persistentvolumeclaims": "claims"}[resource]
    return any(p.namespace == namespace and name in getattr(p, refs) for p in pods)


def check_node(world: World, components: Components) -> Violation | None:
    node_authorizer = components.node(world.graph)
    names = sorted({n for p in world.graph.pods for n in p.secrets + p.configmaps + p.claims}
                   | {v for _, v in world.graph.volumes})
    namespaces = sorted({p.namespace for p in world.graph.pods})
    observations = []
    for node, resource, namespace, name in itertools.product(
            world.nodes, ("secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"), namespaces, names):
        namespace = "" if resource == "persistentvolumes" else namespace
        user = UserInfo.authenticated(node_user(node), (NODES_GROUP,))
        request = Request(user=user, verb="get", resource=resource, name=name, namespace=namespace)
        allowed = node_authorizer.authorize(request).value == "Allow"
        observations.append((node, f"{resource} {namespace}/{name}", allowed,
                             _referenced(world, node, resource, namespace, name)))
    return _violation("RBAC-NODE-OWN-OBJECTS", spec.node_reads_own_objects(list(dict.fromkeys(observations))))


def check_world(world: World, components: Components) -> Violation | None:
    """Every chain property on one world; the first violation, or None."""
    for check in (check_never_denies, check_chain, check_node, check_no_escalation, check_impersonation):
        violation = check(world, components)
        if violation is not None:
            return violation
    return None


# --- escalation ---------------------------------------------------------------------------------

def _candidate_bindings(world: World, user: UserInfo) -> list[Binding]:
    """Every role of the policy, bound to ``user`` in every namespace and cluster-wide."""
    subject = (Subject("User", user.name),)
    found = []
    for role in sorted(world.policy.roles, key=lambda r: r.key):
        ref = RoleRef(role.kind, role.name)
        if role.kind == "ClusterRole":
            found.append(Binding("ClusterRoleBinding", f"{user.name}-{role.name}", ref, subject))
        for namespace in ([role.namespace] if role.kind == "Role" else _namespaces(world)[1:]):
            found.append(Binding("RoleBinding", f"{user.name}-{role.name}", ref, subject, namespace))
    return found


def _unheld_grant(world: World, user: UserInfo, binding: Binding) -> str:
    """A request the binding would grant ``user`` that ``user`` cannot make today, found by z3 on
    the model ("" when none: the user already holds everything the role grants there)."""
    universe = universe_of(world.policy, extra_users=(user.name,), extra_groups=user.groups)
    q = SymbolicRequest.fresh(universe)
    model = RbacModel(world.policy, universe)
    role_namespace = binding.namespace if binding.role_ref.kind == "Role" else ""
    grants = model.role_grants(q, binding.role_ref.kind, role_namespace, binding.role_ref.name)
    scope = q.equals("namespace", binding.namespace) if binding.namespace else z3.BoolVal(True)
    who = [q.equals("user", user.name)] + [q.member[g] == (g in user.groups) for g in universe.groups]
    solver = z3.Solver()
    solver.add(q.in_universe(), scope, grants, z3.Not(model.allows(q)), *who)
    if solver.check() != z3.sat:
        return ""
    return concrete_request(plainest_model(solver, q), q).describe()


def _may_create(authorizer, user: UserInfo, binding: Binding) -> bool:
    """The ordinary authorization of the create itself; the escalation check comes on top."""
    resource = "rolebindings" if binding.namespace else "clusterrolebindings"
    request = Request(user=user, verb="create", api_group=RBAC_GROUP, resource=resource, namespace=binding.namespace)
    return any(True for _ in authorizer.grants(request))


def _holds_bind(world: World, user: UserInfo, binding: Binding) -> bool:
    """Does the model say ``user`` may ``bind`` the referenced role (or is it in system:masters)?"""
    resource = "roles" if binding.role_ref.kind == "Role" else "clusterroles"
    request = Request(user=user, verb="bind", api_group=RBAC_GROUP, resource=resource,
                      name=binding.role_ref.name, namespace=binding.namespace)
    return "system:masters" in user.groups or model_allows(world, request)


def check_no_escalation(world: World, components: Components) -> Violation | None:
    authorizer = components.authorizer(world.policy)
    guard = components.guard(authorizer)
    observations = []
    for user in identities(world):
        for binding in _candidate_bindings(world, user):
            if not _may_create(authorizer, user, binding):
                continue
            if not guard.can_write_binding(user, binding) or _holds_bind(world, user, binding):
                continue
            observations.append((user.name, binding.describe(), True, _unheld_grant(world, user, binding)))
            if observations[-1][3]:
                break  # one example per user is enough to show the escalation
    return _violation("RBAC-NO-ESCALATION", spec.no_escalation(observations))


# --- impersonation ------------------------------------------------------------------------------

def model_allows(world: World, request: Request) -> bool:
    """The model's answer on one concrete request: its values join the universe, every field is
    pinned, and z3 says whether the policy allows it."""
    universe = universe_of(world.policy, extra_users=(request.user.name,), extra_groups=request.user.groups)
    fields = ("verb", "api_group", "resource", "subresource", "name", "namespace", "path")
    universe = attrs.evolve(universe, **{f + "s": tuple(sorted(set(getattr(universe, f + "s")) | {getattr(request, f)}))
                                         for f in fields})
    q = SymbolicRequest.fresh(universe)
    pins = [q.equals("user", request.user.name), q.resource_request == request.resource_request]
    pins += [q.member[g] == (g in request.user.groups) for g in universe.groups]
    pins += [q.equals(f, getattr(request, f)) for f in fields]
    solver = z3.Solver()
    solver.add(q.in_universe(), RbacModel(world.policy, universe).allows(q), *pins)
    return solver.check() == z3.sat


def _impersonation_holds(world: World, requester: UserInfo, target: UserInfo) -> bool:
    wanted = [Request(user=requester, verb="impersonate", resource="users", name=target.name)]
    wanted += [Request(user=requester, verb="impersonate", resource="groups", name=g) for g in target.groups]
    return all(model_allows(world, request) for request in wanted)


def check_impersonation(world: World, components: Components) -> Violation | None:
    guard = components.guard(components.authorizer(world.policy))
    universe = universe_of(world.policy)
    targets = [UserInfo(u, groups) for u in universe.users if not u.startswith("system:serviceaccount:")
               for groups in [()] + [(g,) for g in universe.groups]]
    observations = []
    for requester in identities(world):
        for target in targets:
            if guard.can_impersonate(requester, target):
                observations.append((requester.name, f"{target.name} in groups {list(target.groups)}", True,
                                     _impersonation_holds(world, requester, target)))
    return _violation("RBAC-IMPERSONATION-AUTHORIZED", spec.impersonation_authorized(observations))
