"""The generated worlds reach the shapes the properties need (issue 12): without them a check of
those shapes could not fail."""

import pytest
from hypothesis import HealthCheck, Phase, find, settings

from checks.rbac.strategies import worlds
from spec.rbac.universe import universe_of

SETTINGS = settings(max_examples=400, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])


def _operators(world):
    return {e.operator for r in world.policy.roles for s in r.aggregation or () for e in s.match_expressions}


@pytest.mark.parametrize("shape", [
    lambda w: "NotIn" in _operators(w),
    lambda w: "DoesNotExist" in _operators(w),
    lambda w: any(r.aggregation is not None and r.rules for r in w.policy.roles),  # stale rules on an aggregated role
    lambda w: any(r.kind == "Role" and any("impersonate" in rule.verbs and "users" in rule.resources for rule in r.rules)
                  for r in w.policy.roles),
    lambda w: any(rule.resource_names and "create" in rule.verbs for r in w.policy.roles for rule in r.rules),
    lambda w: len({p.namespace for p in w.graph.pods}) == 2 and w.graph.volumes,
], ids=["NotIn", "DoesNotExist", "stale-aggregated", "role-impersonates-users", "named-create", "graph"])
def test_generated_worlds_reach_the_shape(shape):
    assert shape(find(worlds(), shape, settings=SETTINGS))


def test_a_service_account_subject_has_a_namesake_in_a_fresh_namespace():
    world = find(worlds(), lambda w: any(s.kind == "ServiceAccount" for b in w.policy.bindings for s in b.subjects),
                 settings=SETTINGS)
    users = universe_of(world.policy).users
    names = {u.rsplit(":", 1)[1] for u in users if u.startswith("system:serviceaccount:")}
    assert all(f"system:serviceaccount:other-ns:{name}" in users for name in names)
