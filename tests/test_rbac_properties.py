"""The chain properties are proofs over the world's finite universe, not probe-grid checks."""

import itertools
import random

import pytest
import z3

from checks.rbac import properties as props
from checks.rbac.components import Components
from checks.rbac.equivalence import concrete_request
from checks.rbac.world import sample_world
from impl.apiserver.authz.node import NodeAuthorizer
from impl.apiserver.authz.types import Decision
from impl.catalog import all_bugs, bug_by_name
from spec.rbac.invariants import first_decisive
from spec.rbac.universe import OTHER

PROVED = ("RBAC-NEVER-DENIES", "RBAC-CHAIN-FIRST-DECISIVE", "RBAC-NODE-OWN-OBJECTS")
CHECKS = {"RBAC-NEVER-DENIES": props.check_never_denies, "RBAC-CHAIN-FIRST-DECISIVE": props.check_chain,
          "RBAC-NODE-OWN-OBJECTS": props.check_node}
DECISIONS = (Decision.ALLOW, Decision.DENY, Decision.NO_OPINION)


@pytest.fixture(scope="module")
def world():
    return sample_world()


def test_universe_holds_every_mentioned_name_and_a_fresh_one_per_field(world):
    universe = props.world_universe(world)
    assert {"system:node:node-1", "system:node:node-3", "system:node:other-node", "other-user"} <= set(universe.users)
    assert {"system:nodes", "system:masters", "contractors"} <= set(universe.groups)
    assert {"db-password", "api-token", "pv-data", "other-name"} <= set(universe.names)
    assert {"secrets", "persistentvolumes", "other-resource"} <= set(universe.resources)
    assert {"/flaky", "/other"} <= set(universe.paths) and "other-ns" in universe.namespaces
    # Far more than the old probe grid, and far more than Python could enumerate in a test.
    assert universe.size() > 10**7 > 100 * len(props.probe_requests(world))


@pytest.mark.parametrize("invariant", PROVED)
def test_reference_is_proved(world, invariant):
    components = Components()
    assert CHECKS[invariant](world, components, props.Proof(world, components)) is None


@pytest.mark.parametrize("name", [b.name for b in all_bugs("rbac") if b.invariant in PROVED])
def test_property_bug_is_refuted_with_a_concrete_request(world, name):
    bug = bug_by_name(name)
    components = Components.with_bug(bug)
    violation = CHECKS[bug.invariant](world, components, props.Proof(world, components))
    assert violation is not None and violation.invariant == bug.invariant
    assert len(violation.messages) == 1
    again = CHECKS[bug.invariant](world, components, props.Proof(world, components))
    assert again == violation, "the witness is a function of the query alone"


def test_chain_witness_is_a_deny_overridden_by_an_allow(world):
    components = Components.with_bug(bug_by_name("chain-deny-passes-on"))
    violation = props.check_chain(world, components)
    assert violation.messages[0].startswith("chain said Allow")
    assert "contractors" in violation.messages[0] and "secrets" in violation.messages[0]


def test_node_bug_outside_the_probe_grid_is_found(world):
    """Names the world never mentions are the fresh ``other-name``: the old grid probed only the
    graph's names, the proof covers them all."""

    class ReadsUnknownNames(NodeAuthorizer):
        def authorize_graph_read(self, node, request):
            if request.name.startswith(OTHER):
                return Decision.ALLOW
            return super().authorize_graph_read(node, request)

    assert all(r.name != OTHER + "-name" for r in props.probe_requests(world))
    violation = props.check_node(world, Components(node=ReadsUnknownNames))
    assert violation is not None and OTHER + "-name" in violation.messages[0]


def test_node_bug_for_a_user_outside_system_nodes_is_found(world):
    class TrustsTheName(NodeAuthorizer):
        def node_name(self, request):
            name = request.user.name
            return name[len("system:node:"):] if name.startswith("system:node:") else None

    components = Components(node=TrustsTheName)
    violation = props.check_node(world, components)
    assert violation is not None and "(not a node)" in violation.messages[0]


def test_reference_chain_table_is_first_decisive():
    table = props.chain_table(Components(), 4)
    assert len(table) == 81
    assert all(chain.value == first_decisive([d.value for d in answers]) for answers, chain in table.items())
    broken = props.chain_table(Components.with_bug(bug_by_name("chain-deny-passes-on")), 4)
    assert any(chain.value != first_decisive([d.value for d in answers]) for answers, chain in broken.items())


def _random_requests(proof, count, seed):
    """Concrete requests of the universe with the z3 model that pins them."""
    u, q = proof.universe, proof.q
    rng = random.Random(seed)
    fields = ("user", "verb", "api_group", "resource", "subresource", "name", "namespace", "path")
    solver = z3.Solver()
    solver.add(q.in_universe())
    found = []
    while len(found) < count:
        pins = [getattr(q, f) == rng.randrange(len(getattr(u, f + "s"))) for f in fields]
        pins += [q.member[g] == (rng.random() < 0.3) for g in u.groups]
        pins.append(q.resource_request == (rng.random() < 0.8))
        if solver.check(*pins) == z3.sat:
            model = solver.model()
            found.append((concrete_request(model, q), model))
    return found


@pytest.mark.parametrize("name", [None, "rbac-denies-unmatched", "node-reads-any-namespace"])
def test_lifted_members_agree_with_authorize_on_concrete_requests(world, name):
    """The proofs read each member through its small methods; this checks that reading against
    each member's real ``authorize`` on random requests of the universe."""
    components = Components.with_bug(bug_by_name(name) if name else None)
    proof = props.Proof(world, components)
    terms = proof.members()
    members = props.chain_members(world, components)
    for request, model in _random_requests(proof, 150, seed=7):
        for member, term in zip(members, terms):
            lifted = DECISIONS[model.eval(term, model_completion=True).as_long()]
            assert lifted is member.authorize(request), (type(member).__name__, request)


def test_lifted_node_agrees_on_node_reads(world):
    """Random requests rarely hit the node graph; these all do."""
    proof = props.Proof(world, Components())
    q, node = proof.q, props.chain_members(world, Components())[1]
    term = proof.members()[1]
    solver = z3.Solver()
    for user, resource, name, namespace, verb in itertools.product(
            ("system:node:node-1", "system:node:node-2", "system:node:other-node", "other-user"),
            ("secrets", "persistentvolumes"), ("db-password", "pv-data", ""), ("team-a", "team-b"), ("get", "list")):
        pins = [q.equals("user", user), q.equals("resource", resource), q.equals("name", name), q.resource_request,
                q.equals("namespace", namespace), q.equals("verb", verb), q.equals("api_group", ""),
                q.equals("subresource", "")] + [q.member[g] == (g == "system:nodes") for g in proof.universe.groups]
        assert solver.check(q.in_universe(), *pins) == z3.sat
        model = solver.model()
        request = concrete_request(model, q)
        assert DECISIONS[model.eval(term, model_completion=True).as_long()] is node.authorize(request), request
