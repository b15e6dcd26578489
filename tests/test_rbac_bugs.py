"""One test per catalog bug: the suite finds it, with a concrete request or object."""

import pytest
from hypothesis import Phase, find, settings

from checks.area import CheckRequest
from checks.rbac.area import AREA
from checks.rbac.components import Components
from checks.rbac.equivalence import prove_equivalent
from checks.rbac.strategies import policies
from impl.apiserver.authz.rbac import RbacSemantics
from impl.catalog import all_bugs, bug_by_name
from spec.invariant import all_invariants

RBAC_BUGS = [b.name for b in all_bugs("rbac")]


def test_catalog_is_complete():
    ids = {inv.id for inv in all_invariants("rbac")}
    broken = {b.invariant for b in all_bugs("rbac")}
    assert broken <= ids, "every bug names an existing invariant"
    assert ids <= broken, "every invariant is broken by some bug"
    assert len(RBAC_BUGS) >= 6


@pytest.mark.parametrize("name", RBAC_BUGS)
def test_bug_is_found(name, tmp_path):
    bug = bug_by_name(name)
    result = AREA.check(CheckRequest(bug=bug, budget_seconds=5, seed=0, report_dir=tmp_path))
    assert result.result == "violated"
    assert result.invariant == bug.invariant
    report = (tmp_path / "report.md").read_text()
    assert bug.invariant in report and (tmp_path / "policy.yaml").exists()


@pytest.mark.parametrize("name", [b.name for b in all_bugs("rbac") if issubclass(b.override, RbacSemantics)])
def test_matcher_bug_is_found_by_generated_policies(name):
    """Without the sample world: Hypothesis policies alone reach every matcher bug."""
    components = Components.with_bug(bug_by_name(name))
    policy = find(policies(), lambda p: prove_equivalent(components.authorizer(p)) is not None,
                  settings=settings(max_examples=1500, database=None, phases=[Phase.generate]))
    assert prove_equivalent(components.authorizer(policy)) is not None
