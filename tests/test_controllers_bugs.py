"""The controllers bug catalog (impl/controllers/bugs.py): each bug's scenario
(tests/scenarios/controllers/<bug>.scenario) breaks the invariant the catalog names, and the same
steps hold on the reference; each bug replaces one part of the reference with a subclass of it.

The searches that find each bug (``kinv check controllers --bug NAME``) take minutes apiece: they
are measured by hand (seeds 1..5, 60 s), not run here."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from checks.controllers.scenario import load, run
from impl.catalog import all_bugs
from impl.controllers.parts import ControllersParts
from spec.controllers.invariants import INVARIANTS

SCENARIOS = Path(__file__).parent / "scenarios" / "controllers"
BUGS = all_bugs("controllers")
SCENARIO_LINES_MAX = 30

def _scenario(bug) -> tuple[Path, str]:
    path = SCENARIOS / f"{bug.name}.scenario"
    return path, path.read_text()


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_the_scenario_breaks_the_bugs_invariant(bug):
    path, text = _scenario(bug)
    broken = run(load(text, str(path)), bug.override)
    assert broken.violation is not None, f"{bug.name}: nothing broke"
    assert broken.violation.invariant.id == bug.invariant, broken.violation.message
    assert broken.expectation_failure is None


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_the_scenario_holds_on_the_reference(bug):
    path, text = _scenario(bug)
    held = run(load(text, str(path)))
    assert held.violation is None, held.violation.message


def test_every_bug_has_a_scenario_and_every_scenario_a_bug():
    assert {bug.name for bug in BUGS} == {path.stem for path in SCENARIOS.glob("*.scenario")}


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_a_scenario_is_short_opens_with_its_area_and_ends_with_the_bugs_invariant(bug):
    lines = _scenario(bug)[1].strip().splitlines()
    assert len(lines) <= SCENARIO_LINES_MAX
    assert lines[0] == "area controllers"
    assert lines[-1] == f"expect violated {bug.invariant}"


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_a_bug_replaces_one_part_of_the_reference_with_a_subclass_of_it(bug):
    reference = ControllersParts()
    changed = [field.name for field in attrs.fields(ControllersParts)
               if getattr(bug.override, field.name) != getattr(reference, field.name)]
    assert len(changed) == 1, changed
    replaced, by = getattr(reference, changed[0]), getattr(bug.override, changed[0])
    assert isinstance(by, type) and issubclass(by, replaced) and by is not replaced
    assert by.__doc__ and by.__doc__.startswith("``"), "the docstring names the method it replaces"


def test_the_catalog_names_controllers_invariants_and_breaks_every_one():
    ids = {invariant.id for invariant in INVARIANTS}
    broken = {bug.invariant for bug in BUGS}
    assert broken == ids
    assert len(BUGS) >= 10 and len({bug.name for bug in BUGS}) == len(BUGS)
