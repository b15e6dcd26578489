"""The ``rbac`` area of ``kinv check``.

A run checks every property on the sample world, then on worlds Hypothesis generates from the
seed, stopping at the first violation. On each world:

1. the equivalence proof (RBAC-MATCHES-MODEL) on its policy;
2. RBAC-NEVER-DENIES, RBAC-CHAIN-FIRST-DECISIVE and RBAC-NODE-OWN-OBJECTS proved by z3 over the
   world's finite universe (every name the policy, node graph, Node rules and webhook mention
   plus a fresh value per field; see ``checks.rbac.properties``);
3. RBAC-IDENTITY-GROUPS, RBAC-NO-ESCALATION and RBAC-IMPERSONATION-AUTHORIZED checked over a grid
   of credentials, identities, roles and bindings (``checks.rbac.privileges``).

The sample world has the shape of the default admin/edit/view roles; a generated world is a small
policy of corner cases with a role of escalation and impersonation powers bound in it, and a
small node graph (``checks.rbac.strategies.worlds``). As many are generated as the budget buys
(``EXAMPLES_PER_SECOND``; the count, not the clock, bounds the search, so a seed and budget give
the same run every time).

A violation writes ``report.md`` and ``policy.yaml`` to the report folder; the report carries the
``kinv rbac can-i`` line that asks the reference the same question.
"""

from __future__ import annotations

from pathlib import Path

import attrs
from hypothesis import HealthCheck, Phase, given, reporting, settings
from hypothesis import seed as hypothesis_seed

from checks.area import CheckRequest, CheckResult, InputError, default_report_dir
from checks.determinism import without_local_constants
from checks.budget import monotonic_seconds
from checks.rbac.components import Components
from checks.rbac.equivalence import Mismatch, prove_equivalent
from checks.rbac.properties import Violation, check_world
from checks.rbac.report import write_report
from checks.rbac.strategies import worlds
from checks.rbac.world import World, sample_world
from checks.violation import impl_exception
from impl.apiserver.authz.rbac import Policy
from impl.catalog import Bug
from spec.general import IMPL_EXCEPTION

__all__ = ["AREA", "RbacArea", "EXAMPLES_PER_SECOND", "search_generated", "check_everything"]

EXAMPLES_PER_SECOND = 4  # generated worlds one shared core checks per second, every property on each
EXAMPLES_MIN, EXAMPLES_MAX = 20, 10_000


@attrs.frozen
class Found:
    """What broke: an equivalence mismatch or a property violation, on which policy."""

    invariant: str
    policy: Policy
    mismatch: Mismatch | None = None
    violation: Violation | None = None


class _Stop(Exception):
    pass


def check_everything(world: World, components: Components) -> Found | None:
    """Every property on one world: the equivalence proof first, then the chain and grid
    properties. An exception out of impl/ on the world is the IMPL-EXCEPTION finding."""
    try:
        return _check_properties(world, components)
    except Exception as error:  # ours (checks/, spec/) is re-raised: a defect of the suite
        found = impl_exception(error)
        if found is None:
            raise
        return Found(IMPL_EXCEPTION.id, world.policy, violation=Violation(IMPL_EXCEPTION.id, (found.message,)))


def _check_properties(world: World, components: Components) -> Found | None:
    mismatch = prove_equivalent(components.authorizer(world.policy))
    if mismatch is not None:
        return Found("RBAC-MATCHES-MODEL", world.policy, mismatch=mismatch)
    violation = check_world(world, components)
    if violation is not None:
        return Found(violation.invariant, world.policy, violation=violation)
    return None


def search_generated(components: Components, examples_max: int, seed: int, progress=None,
                     shrink: bool = True) -> tuple[int, Found | None]:
    """Check every property on up to ``examples_max`` generated worlds; shrink the first failure
    (unless ``shrink`` is false: then the first failure as drawn)."""
    without_local_constants()
    count, failing = [0], []
    started = monotonic_seconds()

    @hypothesis_seed(seed)
    @settings(max_examples=examples_max, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=(Phase.generate, Phase.shrink)[:2 if shrink else 1])
    @given(worlds())
    def prove(world: World) -> None:
        count[0] += 1
        if progress is not None:
            progress(count[0], monotonic_seconds() - started)  # display only
        found = check_everything(world, components)
        if found is not None:
            failing.append(found)
            raise _Stop()

    with reporting.with_reporter(lambda *_: None):
        try:
            prove()
        except _Stop:
            pass
    return count[0], (failing[-1] if failing else None)  # the last failure is the shrunk one


class RbacArea:
    name = "rbac"

    def check(self, request: CheckRequest) -> CheckResult:
        started = monotonic_seconds()
        components = Components.with_bug(request.bug)
        found = check_everything(sample_world(), components)
        examples = 1
        if found is None:
            budget = min(max(int(request.budget_seconds * EXAMPLES_PER_SECOND), EXAMPLES_MIN), EXAMPLES_MAX)
            searched, found = search_generated(components, budget, request.seed, request.progress)
            examples += searched
        return self._result(request, found, examples, monotonic_seconds() - started)

    def _result(self, request: CheckRequest, found: Found | None, examples: int, seconds: float) -> CheckResult:
        bug_name = request.bug.name if request.bug else None
        if found is None:
            return CheckResult(self.name, bug_name, "held", None, examples, None, round(seconds, 2), request.seed, None)
        folder = request.report_dir or default_report_dir(self.name, request.bug, request.seed)
        write_report(Path(folder), found, request.bug)
        return CheckResult(self.name, bug_name, "violated", found.invariant, examples, 1, round(seconds, 2),
                           request.seed, str(folder))

    def replay(self, text: str, filename: str, bug: Bug | None, report_dir: Path | None) -> CheckResult:
        raise InputError(f"{filename}: rbac has no scenario files yet; use `kinv rbac can-i` on the report's policy.yaml")


AREA = RbacArea()
