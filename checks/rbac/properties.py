"""Properties of the authorizer chain on one world (policy, node graph, chain).

Three of them are proved over the world's finite universe: every request built from the names
the policy, the node graph, the Node authorizer's fixed rules and the webhook mention, plus a
fresh "other" value per field (``world_universe``; for the sample world 76,095,360 requests, too
many to enumerate in Python, so z3 decides them):

- RBAC-NEVER-DENIES: no request of the universe gets Deny from RBAC;
- RBAC-CHAIN-FIRST-DECISIVE: on every request the chain answers what its first decisive member
  answers;
- RBAC-NODE-OWN-OBJECTS: the Node authorizer allows a request on a secret, configmap, PVC or PV
  only from a node identity (``system:node:NAME`` in ``system:nodes``) whose pods reference it.

z3 cannot read Python, so each implementation is brought into z3 the way the equivalence proof
does it (``checks.rbac.equivalence``): its small methods are asked about every value of the
universe and their answers become formulas, glued as the implementation glues them:

- RBAC: ``lift`` (the equivalence proof's formula) where it allows, ``no_match()`` elsewhere;
- Node: ``node_name`` per user, ``authorize_graph_read`` per verb, resource, namespace and name,
  the fixed rules through its matcher;
- the privileged-groups check and the webhook (an opaque callable) by enumeration of what they
  read: the groups ``system:masters`` and, for the webhook, ``contractors``, the resource and the
  URL (``WEBHOOK_READS``: the webhook's declared vocabulary, since z3 cannot see into it);
- the chain's composition by a table: the chain under check, built on members with fixed
  answers, for all 3**4 combinations of answers.

A ``sat`` answer is a concrete request (the plainest one, so a seed gives the same report); it is
run through the real authorizers and the invariant's predicate judges their answers. ``unsat`` is
the proof. What the proofs assume is that glue: an implementation that changed ``authorize``
itself rather than one of its small methods would not be seen (``tests/test_rbac_properties.py``
checks the lifts against the real answers on random requests of the universe).

RBAC-IDENTITY-GROUPS, RBAC-NO-ESCALATION and RBAC-IMPERSONATION-AUTHORIZED are *checked* over a
grid of identities, not proved (``checks.rbac.privileges``).
"""

from __future__ import annotations

import itertools

import z3

from checks.rbac.components import Components
from checks.rbac.equivalence import OTHER_USER, _lift_rule, concrete_request, lift
from checks.rbac.privileges import GRID_CHECKS, Oracle, Violation, identities
from checks.rbac.solving import plainest_model
from checks.rbac.world import World, contractor_webhook
from impl.apiserver.authz.chain import PrivilegedGroups
from impl.apiserver.authz.node import (DEFAULT_NODE_RULES, GRAPH_RESOURCES, NODE_PREFIX, NODES_GROUP, READ_VERBS,
                                       NodeAuthorizer, node_user)
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.authz.types import RBAC_GROUP, Decision, PolicyRule, Request, Role, UserInfo
from impl.apiserver.authz.webhook import WebhookAuthorizer
from spec.rbac import invariants as spec
from spec.rbac import node as node_spec
from spec.rbac.model import SymbolicRequest
from spec.rbac.universe import OTHER, Universe, universe_of

__all__ = ["Violation", "Proof", "LiftDisagrees", "probe_requests", "world_universe", "lift_member",
           "chain_members", "chain_for", "chain_table", "check_never_denies", "check_chain", "check_node",
           "check_world"]

PROBE_VERBS = ("get", "list", "create", "delete", "watch")
PROBE_TARGETS = (("", "pods"), ("", "secrets"), ("", "configmaps"), ("apps", "deployments"), ("", "nodes"),
                 (RBAC_GROUP, "rolebindings"))
PROBE_URLS = ("/healthz", "/api/v1", "/flaky", "/metrics")

# What ``contractor_webhook`` reads (z3 cannot look inside a callable): the resource, the URL,
# membership in ``contractors``; the strings it compares them with join the universe.
WEBHOOK_READS = ("resource", "path")
WEBHOOK_GROUPS = ("contractors",)
WEBHOOK_RULE = PolicyRule(verbs=(), resources=("secrets",), non_resource_urls=("/flaky",))
FRESH_NODE = OTHER + "-node"  # a node no pod is bound to and the world does not name

_FALSE = z3.BoolVal(False)
_DECISIONS = (Decision.ALLOW, Decision.DENY, Decision.NO_OPINION)
_CODE = {d: i for i, d in enumerate(_DECISIONS)}
_RESOURCE_FIELDS = ("user", "verb", "api_group", "resource", "subresource", "name", "namespace")
_URL_FIELDS = ("user", "verb", "path")
_PRIVILEGED, _NODE, _WEBHOOK, _RBAC = range(4)  # the chain's members, in order


def _namespaces(world: World) -> list[str]:
    return sorted({""} | {b.namespace for b in world.policy.bindings} | {p.namespace for p in world.graph.pods})


def probe_requests(world: World) -> list[Request]:
    """The grid the chain properties were once only checked on (kept to compare with the universe)."""
    requests = []
    for user in identities(world, Components()):
        for verb, (group, resource), namespace in itertools.product(PROBE_VERBS, PROBE_TARGETS, _namespaces(world)):
            for name in ("", "db-password"):
                requests.append(Request(user=user, verb=verb, api_group=group, resource=resource, name=name,
                                        namespace=namespace))
        requests += [Request(user=user, verb="get", resource_request=False, path=p) for p in PROBE_URLS]
    return requests


# --- the three chain properties, proved over the world's finite universe ------------------------

def world_universe(world: World, node_rules=DEFAULT_NODE_RULES) -> Universe:
    """Every name the policy, the node graph, the Node authorizer's fixed rules and the webhook
    mention, plus the fresh "other" value per field (and a fresh node, ``other-node``)."""
    vocabulary = Policy(roles=(Role("ClusterRole", "<node rules and webhook>", rules=tuple(node_rules) + (WEBHOOK_RULE,)),))
    nodes = tuple(world.nodes) + (FRESH_NODE,)
    universe = universe_of(world.policy, vocabulary, extra_users=(OTHER_USER,) + tuple(node_user(n) for n in nodes),
                           extra_groups=(NODES_GROUP,) + PrivilegedGroups().groups + WEBHOOK_GROUPS)
    pods, volumes = world.graph.pods, world.graph.volumes
    return universe.extended(
        verbs=READ_VERBS, resources=GRAPH_RESOURCES,
        names={n for p in pods for n in p.secrets + p.configmaps + p.claims} | {v for _, v in volumes},
        namespaces={p.namespace for p in pods} | {ns for (ns, _), _ in volumes})


class _Fixed:
    """A chain member that always gives the same answer (to tabulate the chain's composition)."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    def authorize(self, request: Request) -> Decision:
        return self.decision


def _decision(allow: z3.BoolRef, deny: z3.BoolRef) -> z3.ArithRef:
    return z3.If(allow, _CODE[Decision.ALLOW], z3.If(deny, _CODE[Decision.DENY], _CODE[Decision.NO_OPINION]))


def _lift_enumerated(authorize, q: SymbolicRequest, reads: tuple[str, ...], groups: tuple[str, ...]) -> z3.ArithRef:
    """The decision of an authorizer that reads only the fields ``reads`` (and ``resource_request``)
    and the user's membership in ``groups``: ``authorize`` is asked once per combination of their
    universe values, the other fields held at a plain value."""
    u = q.universe
    allow, deny = [], []
    for resource_request in (True, False):
        fields = [f for f in (_RESOURCE_FIELDS if resource_request else _URL_FIELDS) if f in reads]
        for values in itertools.product(*(range(len(getattr(u, f + "s"))) for f in fields)):
            given = {f: getattr(u, f + "s")[i] for f, i in zip(fields, values)}
            for members in itertools.product((False, True), repeat=len(groups)):
                user = UserInfo(given.pop("user", OTHER_USER), tuple(g for g, m in zip(groups, members) if m))
                request = Request(user=user, verb=given.get("verb", "get"), resource_request=resource_request,
                                  **{f: v for f, v in given.items() if f != "verb"})
                decision = authorize(request)
                if decision is Decision.NO_OPINION:
                    continue
                case = z3.And([q.resource_request == resource_request]
                              + [getattr(q, f) == i for f, i in zip(fields, values)]
                              + [q.member[g] == m for g, m in zip(groups, members)])
                (allow if decision is Decision.ALLOW else deny).append(case)
    return _decision(z3.Or(allow + [_FALSE]), z3.Or(deny + [_FALSE]))


def _lift_rbac(authorizer, q: SymbolicRequest) -> z3.ArithRef:
    """Allow where the equivalence proof's ``lift`` allows; elsewhere what ``no_match`` answers
    (it reads no request, so one call is its answer on every request)."""
    return z3.If(lift(authorizer, q), _CODE[Decision.ALLOW], _CODE[authorizer.no_match()])


def _lift_node(node: NodeAuthorizer, q: SymbolicRequest) -> z3.ArithRef:
    """The Node authorizer's decision, glued as its ``authorize`` glues it: ``node_name`` (asked for
    every user, in ``system:nodes`` or not), then for a core-group secret, configmap, PVC or PV
    without subresource ``authorize_graph_read`` (asked for every verb, resource, namespace and
    name of the universe), else the fixed rules through its matcher, as the equivalence proof
    lifts rules."""
    u = q.universe
    who: dict[str, list[z3.BoolRef]] = {}
    in_group = q.member.get(NODES_GROUP, _FALSE)
    for i, user in enumerate(u.users):
        for member in (False, True):
            name = node.node_name(Request(user=UserInfo(user, (NODES_GROUP,) if member else ()), verb="get"))
            if name is not None:
                who.setdefault(name, []).append(z3.And(q.user == i, in_group == member))
    graph_read = z3.And(q.resource_request, q.equals("api_group", ""), q.one_of("resource", GRAPH_RESOURCES),
                        q.equals("subresource", ""))
    by_rules = z3.Or([_lift_rule(node._matcher, q, rule) for rule in node.rules] + [_FALSE])
    otherwise = z3.If(by_rules, _CODE[Decision.ALLOW], _CODE[Decision.NO_OPINION])
    decision = z3.IntVal(_CODE[Decision.NO_OPINION])
    for name in sorted(who):
        decision = z3.If(z3.Or(who[name]), z3.If(graph_read, _lift_graph_read(node, name, q), otherwise), decision)
    return decision


def _lift_graph_read(node: NodeAuthorizer, name: str, q: SymbolicRequest) -> z3.ArithRef:
    u = q.universe
    user = UserInfo(node_user(name), (NODES_GROUP,))
    allow, deny = [], []
    for (v, verb), resource, (n, namespace), (o, obj) in itertools.product(
            enumerate(u.verbs), GRAPH_RESOURCES, enumerate(u.namespaces), enumerate(u.names)):
        request = Request(user=user, verb=verb, resource=resource, namespace=namespace, name=obj)
        decision = node.authorize_graph_read(name, request)
        if decision is not Decision.NO_OPINION:
            case = z3.And(q.verb == v, q.equals("resource", resource), q.namespace == n, q.name == o)
            (allow if decision is Decision.ALLOW else deny).append(case)
    return _decision(z3.Or(allow + [_FALSE]), z3.Or(deny + [_FALSE]))


def lift_member(member, q: SymbolicRequest) -> z3.ArithRef:
    """One chain member's decision on ``q`` as a z3 term (0 Allow, 1 Deny, 2 NoOpinion)."""
    if isinstance(member, PrivilegedGroups):
        return _lift_enumerated(member.authorize, q, (), tuple(member.groups))
    if isinstance(member, NodeAuthorizer):
        return _lift_node(member, q)
    if isinstance(member, WebhookAuthorizer):
        return _lift_enumerated(member.authorize, q, WEBHOOK_READS, WEBHOOK_GROUPS)
    if isinstance(member, RBACAuthorizer):
        return _lift_rbac(member, q)
    raise TypeError(f"no lift for chain member {type(member).__name__}")


def chain_members(world: World, components: Components) -> list:
    return [PrivilegedGroups(), components.node(world.graph), WebhookAuthorizer(contractor_webhook),
            components.authorizer(world.policy)]


def chain_for(world: World, components: Components):
    return components.chain(chain_members(world, components))


def chain_table(components: Components, size: int) -> dict[tuple[Decision, ...], Decision]:
    """The chain's answer for every combination of its members' answers (3**size of them)."""
    probe = Request(user=UserInfo(OTHER_USER), verb="get")
    return {answers: components.chain([_Fixed(d) for d in answers]).authorize(probe)
            for answers in itertools.product(_DECISIONS, repeat=size)}


class Proof:
    """The symbolic request over one world's universe, and the lifted decisions (built once)."""

    def __init__(self, world: World, components: Components) -> None:
        self.world, self.components = world, components
        self.universe = world_universe(world, components.node(world.graph).rules)
        self.q = SymbolicRequest.fresh(self.universe)
        self._members: list[z3.ArithRef] | None = None

    def members(self) -> list[z3.ArithRef]:
        if self._members is None:
            self._members = [lift_member(m, self.q) for m in chain_members(self.world, self.components)]
        return self._members

    def witness(self, *facts: z3.BoolRef, prefer: tuple[z3.BoolRef, ...] = ()) -> Request | None:
        """The plainest request of the universe where ``facts`` hold; None is the proof there is none.
        A literal ``*`` as a request's verb, group or resource is avoided when something else
        will do (it reads like a wildcard), as are the ``prefer`` facts; each preference is kept only
        if the query stays satisfiable, so it never hides a witness."""
        solver = z3.Solver()
        solver.add(self.q.in_universe(), *facts)
        if solver.check() != z3.sat:
            return None
        for plain in [z3.Not(self.q.equals(f, "*")) for f in ("verb", "api_group", "resource")] + list(prefer):
            if solver.check(plain) == z3.sat:
                solver.add(plain)
        return concrete_request(plainest_model(solver, self.q), self.q)


class LiftDisagrees(AssertionError):
    """The lifted formula and the implementation answer a witness differently: a checker bug."""


def _confirmed(invariant: str, messages: list[str], request: Request) -> Violation:
    if not messages:
        raise LiftDisagrees(f"{invariant}: the lifted formulas flag {_who(request)}: {request.describe()}, "
                            "but the implementation's answers on it break nothing")
    return Violation(invariant, tuple(messages))


def _who(request: Request) -> str:
    groups = f" in groups {', '.join(request.user.groups)}" if request.user.groups else ""
    return request.user.name + groups


def check_never_denies(world: World, components: Components, proof: Proof | None = None) -> Violation | None:
    """Proved over the finite universe: no request gets Deny from RBAC."""
    proof = proof or Proof(world, components)
    rbac = components.authorizer(world.policy)
    request = proof.witness(proof.members()[_RBAC] == _CODE[Decision.DENY])
    if request is None:
        return None
    observations = [(f"{_who(request)}: {request.describe()}", rbac.authorize(request).value)]
    return _confirmed("RBAC-NEVER-DENIES", spec.rbac_never_denies(observations), request)


def check_chain(world: World, components: Components, proof: Proof | None = None) -> Violation | None:
    """Proved over the finite universe: on no request does the chain answer other than its first
    decisive member. The chain's composition is tabulated on fixed-answer members; z3 looks for a
    request whose members' answers land on a wrong row."""
    proof = proof or Proof(world, components)
    members = proof.members()
    table = chain_table(components, len(members))
    wrong = [answers for answers, chain in table.items() if chain.value != spec.first_decisive([d.value for d in answers])]
    rows = {answers: z3.And([term == _CODE[d] for term, d in zip(members, answers)]) for answers in wrong}
    # A Deny overridden by a later Allow tells the story best, so those rows are asked first.
    overriding = [row for answers, row in rows.items() if table[answers] is Decision.ALLOW]
    request = proof.witness(z3.Or(overriding + [_FALSE])) if overriding else None
    if request is None:
        request = proof.witness(z3.Or(list(rows.values()) + [_FALSE]))
    if request is None:
        return None
    chain = chain_for(world, components)
    observations = [(f"{_who(request)}: {request.describe()}", [d.value for d in chain.decisions(request)],
                     chain.authorize(request).value)]
    return _confirmed("RBAC-CHAIN-FIRST-DECISIVE", spec.chain_first_decisive(observations), request)


def _referenced(world: World, node: str, resource: str, namespace: str, name: str) -> bool:
    """Straight from the pod list, not through the authorizer's graph."""
    pods = [p for p in world.graph.pods if p.node == node]
    if resource == "persistentvolumes":
        return any((p.namespace, c) == claim and volume == name for p in pods for c in p.claims
                   for claim, volume in world.graph.volumes)
    refs = {"secrets": "secrets", "configmaps": "configmaps", "persistentvolumeclaims": "claims"}[resource]
    return any(p.namespace == namespace and name in getattr(p, refs) for p in pods)


def check_node(world: World, components: Components, proof: Proof | None = None) -> Violation | None:
    """Proved over the finite universe: the Node authorizer allows a request on a secret,
    configmap, PVC or PV (any verb) only from a node identity whose pods reference that object."""
    proof = proof or Proof(world, components)
    q, nodes = proof.q, tuple(world.nodes) + (FRESH_NODE,)
    request = proof.witness(node_spec.graph_object(q), proof.members()[_NODE] == _CODE[Decision.ALLOW],
                            z3.Not(node_spec.node_may_touch(q, world.graph, nodes)),
                            prefer=(z3.Not(q.equals("namespace", "")),))
    if request is None:
        return None
    allowed = components.node(world.graph).authorize(request) is Decision.ALLOW
    user = request.user
    is_node = user.name.startswith(NODE_PREFIX) and NODES_GROUP in user.groups
    node = user.name[len(NODE_PREFIX):] if is_node else f"(not a node) {_who(request)}"
    referenced = is_node and _referenced(world, node, request.resource, request.namespace, request.name)
    obj = f"{request.resource} {request.namespace}/{request.name}"
    if request.subresource or request.verb not in READ_VERBS:
        obj += f" ({request.verb}{' ' + request.subresource if request.subresource else ''})"
    observations = [(node, obj, allowed, referenced)]
    return _confirmed("RBAC-NODE-OWN-OBJECTS", spec.node_reads_own_objects(observations), request)


def check_world(world: World, components: Components) -> Violation | None:
    """Every property on one world: the proofs, then the grid checks; the first violation, or None."""
    proof = Proof(world, components)
    for prove in (check_never_denies, check_chain, check_node):
        violation = prove(world, components, proof)
        if violation is not None:
            return violation
    oracle = Oracle(world)
    for check in GRID_CHECKS:
        violation = check(world, components, oracle)
        if violation is not None:
            return violation
    return None
