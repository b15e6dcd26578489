"""The properties checked over a grid of identities rather than proved over the whole universe:
who authentication says a request is, who may grant what, who may act as whom.

- RBAC-IDENTITY-GROUPS: every kind of credential (client certificate and token for every user
  the policy names, with no group and with each group it names; a token of every service account
  it names and of one it does not; an anonymous request) is authenticated by the authenticator
  under check, and the spec's rule judges the user and the exact set of groups it got.
- RBAC-NO-ESCALATION: every identity writes every role of the policy, bound to itself in every
  namespace and cluster-wide, and new roles: a copy of every role's rules and each rule it holds
  widened one step (every name, every verb), as a Role in every namespace and as a ClusterRole
  (also aggregated); where the guard under check lets it, z3 looks for a request the write would
  grant that the identity cannot make today.
- RBAC-IMPERSONATION-AUTHORIZED: every identity asks to act as every user and service account the
  policy names, claiming no group, each group, ``system:masters``, a uid and an extra value, for
  a request in every namespace and cluster-wide; where the guard lets it, every impersonated
  attribute must be allowed by the model, asked where ``spec.rbac.identity`` says.

"What does the identity hold?" comes from the z3 model (``Oracle``), never from the
implementation under check, so a broken authorizer or guard cannot vouch for itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import z3

from checks.rbac.components import Components
from checks.rbac.equivalence import OTHER_USER, concrete_request
from checks.rbac.solving import plainest_model
from checks.rbac.world import World
from impl.apiserver.authz.escalation import FULL_AUTHORITY
from impl.apiserver.authz.identity import Credential, credential_for
from impl.apiserver.authz.node import NODES_GROUP, node_user
from impl.apiserver.authz.rbac import RBACAuthorizer
from impl.apiserver.authz.types import (
    RBAC_GROUP, Binding, LabelSelector, PolicyRule, Request, Role, RoleRef, Subject, UserInfo,
)
from spec.rbac import invariants as spec
from spec.rbac.identity import ANONYMOUS, impersonation_checks
from spec.rbac.model import RbacModel, SymbolicRequest
from spec.rbac.universe import OTHER, Universe, universe_of

__all__ = ["Violation", "Oracle", "identities", "credentials", "check_identity", "check_no_escalation", "check_impersonation",
           "GRID_CHECKS", "MASTERS"]

MASTERS = "system:masters"
FRESH_NAMESPACE = OTHER + "-ns"
IMPERSONATED_UID = OTHER + "-uid"
IMPERSONATED_EXTRA = (("scopes", OTHER + "-scope"),)
# What a request value the universe does not hold behaves like: RBAC compares strings only, so an
# unmentioned verb is the fresh verb, and so on (paths are the exception: prefixes; never asked here).
_FRESH = {"verb": OTHER + "-verb", "api_group": OTHER + ".example.com", "resource": OTHER + "-resource",
          "subresource": OTHER + "-sub", "name": OTHER + "-name", "namespace": FRESH_NAMESPACE, "user": OTHER_USER}
_FIELDS = ("verb", "api_group", "resource", "subresource", "name", "namespace")


@attrs.frozen
class Violation:
    invariant: str
    messages: tuple[str, ...]


def _violation(invariant: str, messages: list[str]) -> Violation | None:
    return Violation(invariant, tuple(messages)) if messages else None


class Oracle:
    """The model's answers for one world: one universe, one symbolic request, one formula."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.universe: Universe = universe_of(world.policy, extra_users=(OTHER_USER, ANONYMOUS))
        self.q = SymbolicRequest.fresh(self.universe)
        self.model = RbacModel(world.policy, self.universe)
        self.allows_formula = self.model.allows(self.q)
        self.solver = z3.Solver()
        self.solver.add(self.q.in_universe())

    def _index(self, field: str, value: str) -> int:
        values = getattr(self.universe, field + "s")
        return values.index(value if value in values else _FRESH[field])

    def who(self, user: UserInfo) -> list[z3.BoolRef]:
        """Pins the symbolic user to ``user``: its name and its membership in every group."""
        return [self.q.user == self._index("user", user.name)] + [
            self.q.member[g] == (g in user.groups) for g in self.universe.groups]

    def allows(self, request: Request) -> bool:
        """The model's answer on one concrete resource request (every field pinned)."""
        assert request.resource_request, "URL requests are never asked here"
        pins = [(getattr(self.q, f), z3.IntVal(self._index(f, getattr(request, f)))) for f in _FIELDS]
        pins.append((self.q.user, z3.IntVal(self._index("user", request.user.name))))
        pins += [(self.q.member[g], z3.BoolVal(g in request.user.groups)) for g in self.universe.groups]
        pins.append((self.q.resource_request, z3.BoolVal(True)))
        return z3.is_true(z3.simplify(z3.substitute(self.allows_formula, *pins)))

    def unheld(self, user: UserInfo, granted: z3.BoolRef, namespace: str) -> str:
        """A request ``granted`` allows in ``namespace`` ("" for anywhere) that ``user`` cannot make
        today, described; "" when there is none."""
        scope = [self.q.equals("namespace", namespace)] if namespace else []
        facts = [granted, z3.Not(self.allows_formula)] + scope + self.who(user)
        if self.solver.check(*facts) != z3.sat:
            return ""
        solver = z3.Solver()
        solver.add(self.q.in_universe(), *facts)
        return concrete_request(plainest_model(solver, self.q), self.q).describe()

    def rules_grant(self, rules: Iterable[PolicyRule]) -> z3.BoolRef:
        return z3.Or([self.model.rule(self.q, rule) for rule in rules] + [z3.BoolVal(False)])


def _namespaces(world: World) -> list[str]:
    return sorted({""} | {b.namespace for b in world.policy.bindings} | {r.namespace for r in world.policy.roles}
                  | {p.namespace for p in world.graph.pods})


def identities(world: World, components: Components) -> list[UserInfo]:
    """Every user, service account and group member the policy names, a node per node, and an
    anonymous request, as the authenticator under check presents them."""
    authenticator = components.authenticator()
    universe = universe_of(world.policy)
    found = [credential_for(user) for user in universe.users]
    found += [Credential("token", f"member-of-{group}", groups=(group,)) for group in universe.groups]
    found += [Credential("x509", node_user(n), groups=(NODES_GROUP,)) for n in world.nodes]
    found.append(Credential("anonymous"))
    return [authenticator.authenticate(credential) for credential in found]


# --- RBAC-IDENTITY-GROUPS -----------------------------------------------------------------------

def credentials(world: World) -> list[Credential]:
    """Every kind of credential over the names the policy mentions."""
    universe = universe_of(world.policy)
    users = [u for u in universe.users if credential_for(u).kind == "token"]
    groups = [()] + [(g,) for g in universe.groups]
    found = [Credential(kind, user, groups=claimed) for kind in ("x509", "token") for user in users for claimed in groups]
    accounts = {(c.namespace, c.name) for c in map(credential_for, universe.users) if c.kind == "serviceaccount"}
    accounts.add((FRESH_NAMESPACE, OTHER + "-sa"))
    found += [Credential("serviceaccount", name, namespace) for namespace, name in sorted(accounts)]
    return found + [Credential("anonymous")]


def check_identity(world: World, components: Components, oracle: Oracle | None = None) -> Violation | None:
    authenticator = components.authenticator()
    observations = []
    for credential in credentials(world):
        user = authenticator.authenticate(credential)
        observations.append((credential.kind, credential.name, credential.namespace, credential.groups,
                             credential.describe(), user.name, user.groups))
    return _violation("RBAC-IDENTITY-GROUPS", spec.identity_groups(observations))


# --- RBAC-NO-ESCALATION -------------------------------------------------------------------------

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


def _candidate_roles(world: World, user: UserInfo) -> list[Role]:
    """What ``user`` might write: a copy of every role's rules, and each rule it holds widened one
    step (every name instead of some, every verb), each as a new Role in every namespace (resource
    rules only: a Role cannot hold URLs) and as a ClusterRole; and one aggregated ClusterRole.
    The widened rules sit just past what the user holds, where a coverage check can slip."""
    reference = RBACAuthorizer(world.policy)  # only picks payloads; the guard under check judges them
    payloads = [(f"copy-of-{role.name}", role.rules) for role in reference.roles()]
    held = [rule for namespace in _namespaces(world) for _, role in reference.rules_for(user, namespace)
            for rule in role.rules]
    payloads += [(f"widened-{index}", (rule,)) for index, rule in enumerate(dict.fromkeys(
        widened for rule in held for widened in _widened(rule)))]
    found = [Role("ClusterRole", "new-aggregated", aggregation=(LabelSelector(),))]
    for name, rules in payloads:
        found.append(Role("ClusterRole", name, rules=rules))
        namespaced = tuple(r for r in rules if not r.non_resource_urls)
        found += [Role("Role", name, ns, rules=namespaced) for ns in _namespaces(world)[1:] if namespaced]
    return found


def _widened(rule: PolicyRule) -> list[PolicyRule]:
    """The rule for every name (when it lists some), and for every verb (when it does not already)."""
    found = [attrs.evolve(rule, resource_names=())] if rule.resource_names else []
    return found + ([attrs.evolve(rule, verbs=("*",))] if "*" not in rule.verbs else [])


def _may(authorizer, user: UserInfo, verb: str, resource: str, namespace: str, name: str = "") -> bool:
    request = Request(user=user, verb=verb, api_group=RBAC_GROUP, resource=resource, namespace=namespace, name=name)
    return any(True for _ in authorizer.grants(request))


def _model_may(oracle: Oracle, user: UserInfo, verb: str, resource: str, namespace: str, name: str) -> bool:
    """The model's answer to bind/escalate (or system:masters, which skips the check)."""
    request = Request(user=user, verb=verb, api_group=RBAC_GROUP, resource=resource, namespace=namespace, name=name)
    return MASTERS in user.groups or oracle.allows(request)


def _binding_observations(world, components, oracle, authorizer, guard, user) -> list:
    observations = []
    for binding in _candidate_bindings(world, user):
        resource = "rolebindings" if binding.namespace else "clusterrolebindings"
        if not _may(authorizer, user, "create", resource, binding.namespace) or not guard.can_write_binding(user, binding):
            continue
        role_kind, role_resource = binding.role_ref.kind, "roles" if binding.role_ref.kind == "Role" else "clusterroles"
        if _model_may(oracle, user, "bind", role_resource, binding.namespace, binding.role_ref.name):
            continue
        role_namespace = binding.namespace if role_kind == "Role" else ""
        granted = oracle.model.role_grants(oracle.q, role_kind, role_namespace, binding.role_ref.name)
        unheld = oracle.unheld(user, granted, binding.namespace)
        observations.append((user.name, binding.describe(), True, unheld))
        if unheld:
            break  # one example per user is enough to show the escalation
    return observations


def _role_observations(world, components, oracle, authorizer, guard, user) -> list:
    observations = []
    for role in _candidate_roles(world, user):
        resource = "roles" if role.kind == "Role" else "clusterroles"
        if not _may(authorizer, user, "create", resource, role.namespace) or not guard.can_write_role(user, role):
            continue
        if _model_may(oracle, user, "escalate", resource, role.namespace, role.name):
            continue
        wanted = FULL_AUTHORITY if role.aggregation is not None else role.rules
        unheld = oracle.unheld(user, oracle.rules_grant(wanted), role.namespace)
        where = f"{role.namespace}/" if role.namespace else ""
        observations.append((user.name, f"{role.kind} {where}{role.name}", True, unheld))
        if unheld:
            break
    return observations


def check_no_escalation(world: World, components: Components, oracle: Oracle | None = None) -> Violation | None:
    oracle = oracle or Oracle(world)
    authorizer = components.authorizer(world.policy)
    guard = components.guard(authorizer)
    observations = []
    for user in identities(world, components):
        observations += _binding_observations(world, components, oracle, authorizer, guard, user)
        observations += _role_observations(world, components, oracle, authorizer, guard, user)
    return _violation("RBAC-NO-ESCALATION", spec.no_escalation(observations))


# --- RBAC-IMPERSONATION-AUTHORIZED --------------------------------------------------------------

@attrs.frozen
class _Target:
    user: UserInfo
    uid: str = ""
    extra: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        claims = [f"groups {list(self.user.groups)}"] + ([f"uid {self.uid}"] if self.uid else [])
        claims += [f"extra {key}={value}" for key, value in self.extra]
        return f"{self.user.name} with {', '.join(claims)}"


def _targets(world: World) -> list[_Target]:
    universe = universe_of(world.policy)
    groups = [()] + [(g,) for g in sorted(set(universe.groups) | {MASTERS})]
    found = [_Target(UserInfo(u, g)) for u in universe.users for g in groups]
    return found + [_Target(UserInfo(u), IMPERSONATED_UID, IMPERSONATED_EXTRA) for u in universe.users]


def _impersonation_holds(oracle: Oracle, requester: UserInfo, target: _Target) -> bool:
    checks = impersonation_checks(target.user.name, target.user.groups, target.uid, target.extra)
    return all(oracle.allows(Request(user=requester, verb="impersonate", api_group=group, resource=resource,
                                     subresource=sub, name=name, namespace=namespace))
               for group, resource, sub, name, namespace in checks)


def check_impersonation(world: World, components: Components, oracle: Oracle | None = None) -> Violation | None:
    oracle = oracle or Oracle(world)
    guard = components.guard(components.authorizer(world.policy))
    observations = []
    for requester in identities(world, components):
        for target in _targets(world):
            for namespace in _namespaces(world):
                if guard.can_impersonate(requester, target.user, namespace, target.uid, target.extra):
                    where = f" in namespace {namespace}" if namespace else " cluster-wide"
                    observations.append((requester.name, target.describe() + where, True,
                                         _impersonation_holds(oracle, requester, target)))
    return _violation("RBAC-IMPERSONATION-AUTHORIZED", spec.impersonation_authorized(observations))


GRID_CHECKS = (check_identity, check_no_escalation, check_impersonation)
