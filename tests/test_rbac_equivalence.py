"""z3 proves the RBAC authorizer equivalent to the model, over generated and real policies."""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from checks.rbac.equivalence import prove_equivalent
from checks.rbac.strategies import policies
from checks.rbac.world import sample_world
from impl.apiserver.authz.manifests import load_policy
from impl.apiserver.authz.rbac import RBACAuthorizer
from impl.apiserver.authz.types import Decision
from spec.rbac.universe import universe_of

HERE = Path(__file__).parent / "rbac"


@settings(max_examples=500)  # acceptance: at least 500 generated policies in `make test`
@given(policies())
def test_reference_matches_model_on_generated_policies(policy):
    mismatch = prove_equivalent(RBACAuthorizer(policy))
    assert mismatch is None, mismatch.describe()


def test_reference_matches_model_on_real_policies():
    for policy in (load_policy([HERE / "bootstrap"]), load_policy([HERE / "default-shape"]), sample_world().policy):
        assert prove_equivalent(RBACAuthorizer(policy)) is None


def test_universe_has_a_fresh_value_and_a_path_below_each_url():
    universe = universe_of(load_policy([HERE / "default-shape"]))
    assert "other-verb" in universe.verbs and "other-ns" in universe.namespaces and "" in universe.subresources
    assert "/healthz/other" in universe.paths and "/api/other" in universe.paths and "/apiother" in universe.paths
    assert "system:serviceaccount:shop:deployer" in universe.users


def test_counterexample_is_a_concrete_request_the_implementation_answers():
    from impl.apiserver.authz.bugs import ResourceNamesRestrictList

    policy = load_policy([HERE / "default-shape"])
    mismatch = prove_equivalent(RBACAuthorizer(policy, ResourceNamesRestrictList()))
    assert mismatch is not None
    assert mismatch.request.resource == "configmaps" and mismatch.request.name == ""
    assert mismatch.implementation is Decision.ALLOW and not mismatch.model_allows


@given(policies(), st.data())
def test_lifted_formula_agrees_with_authorize_on_concrete_requests(policy, data):
    """The proof reads the implementation through its small methods; this checks that reading
    against the real ``authorize`` on concrete requests of the universe."""
    import z3

    from checks.rbac.equivalence import concrete_request, lift
    from spec.rbac.model import SymbolicRequest

    authorizer = RBACAuthorizer(policy)
    universe = universe_of(policy)
    q = SymbolicRequest.fresh(universe)
    solver = z3.Solver()
    picks = [getattr(q, f) == data.draw(st.integers(0, len(getattr(universe, f + "s")) - 1), label=f)
             for f in ("user", "verb", "api_group", "resource", "subresource", "name", "namespace", "path")]
    members = [q.member[g] == data.draw(st.booleans(), label=g) for g in universe.groups]
    resource_request = data.draw(st.booleans(), label="resource_request")
    solver.add(q.in_universe(), q.resource_request == resource_request, *picks, *members)
    if solver.check() != z3.sat:
        return  # a URL request with a namespace: not a request the API server makes
    model = solver.model()
    request = concrete_request(model, q)
    lifted = z3.is_true(model.eval(lift(authorizer, q), model_completion=True))
    assert lifted == (authorizer.authorize(request) is Decision.ALLOW)


def test_odd_but_valid_entries_match_the_model():
    """Validation lets these through; implementation and model must still agree on them."""
    from impl.apiserver.authz.types import Binding, PolicyRule, Role, RoleRef, Subject
    from impl.apiserver.authz.rbac import Policy

    odd = PolicyRule(verbs=("get", ""), api_groups=("", "*"), resources=("pods/", "*/", "", "a/b/c", "*/b/c"),
                     resource_names=("",))
    urls = PolicyRule(verbs=("get",), non_resource_urls=("**", "/x/", "/x*y"))
    role = Role("ClusterRole", "odd", rules=(odd, urls))
    binding = Binding("ClusterRoleBinding", "b", RoleRef("ClusterRole", "odd"), (Subject("User", "u"),))
    assert prove_equivalent(RBACAuthorizer(Policy((role,), (binding,)))) is None
