"""apiserver scenarios (checks/apiserver/scenario.py): golden files replay as they expect, every
catalog bug's scenario breaks its invariant and holds on the reference, malformed lines are
`file:line` errors, and `kinv replay` runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checks.apiserver.scenario import load, run
from checks.scenario import ScenarioError
from impl.catalog import all_bugs, bug_by_name

SCENARIOS = Path(__file__).parent / "scenarios"
GOLDEN = sorted(p for p in SCENARIOS.glob("apiserver-*.scenario") if not p.name.startswith("apiserver-bug-"))
BUG_SCENARIOS = sorted(SCENARIOS.glob("apiserver-bug-*.scenario"))
HEAD = "area apiserver\ncluster members=1 apiservers=2 clients=2 seed=3\n"


@pytest.mark.parametrize("path", GOLDEN, ids=lambda path: path.name)
def test_golden_scenario_replays_as_it_expects(path):
    outcome = run(load(path.read_text(), str(path)))
    assert outcome.expectation_failure is None, (outcome.expectation_failure, outcome.violation)


def _bug_of(path: Path) -> str:
    return path.stem.removeprefix("apiserver-bug-")


@pytest.mark.parametrize("path", BUG_SCENARIOS, ids=lambda path: _bug_of(path))
def test_bug_scenario_breaks_its_invariant_and_holds_on_the_reference(path):
    bug = bug_by_name(_bug_of(path))
    text = path.read_text()
    broken = run(load(text, str(path)), bug.override)
    assert broken.violation is not None and broken.violation.invariant.id == bug.invariant, broken.violation
    assert broken.expectation_failure is None
    held = run(load(text, str(path)))
    assert held.violation is None, held.violation


def test_every_apiserver_bug_has_a_scenario():
    assert {b.name for b in all_bugs("apiserver")} == {_bug_of(p) for p in BUG_SCENARIOS}


@pytest.mark.parametrize("line,message", [
    ("as mallory get pod p1 -n ns1", "identities are admin"),
    ("as alice get pod", "get needs a name"),
    ("as alice create pod p1", "pods live in a namespace"),
    ("as alice frob pod p1 -n ns1", "VERB one of"),
    ("as alice get gizmo g1", "doesn't have a resource type \"gizmo\""),
    ("as alice via a9 get pod p1 -n ns1", "unknown node 'a9'"),
    ("as alice create pod p1 -n ns1 containers=many", "containers= needs a non-negative integer"),
    ("as alice create pod p1 -n ns1 colour", "unknown word 'colour'"),
    ("as alice apply -f missing.yaml", "cannot read missing.yaml"),
    ("crash z1", "unknown node 'z1'"),
    ("webhook sideways", "usage: webhook up|slow|down|wrong"),
    ("partition a1", "usage: partition"),
    ("expect code u1 lots", "usage: expect code uN CODE"),
    ("tick 0", "ticks must be an integer from 1"),
    ("frobnicate", "unknown command 'frobnicate'"),
])
def test_a_malformed_line_is_an_error_at_its_line(line, message):
    with pytest.raises(ScenarioError) as error:
        load(HEAD + line + "\n", "bad.scenario")
    assert str(error.value).startswith("bad.scenario:3: ") and message in str(error.value)


def test_a_malformed_cluster_line_is_an_error():
    with pytest.raises(ScenarioError, match="bad.scenario:2: unknown cluster option 'colour=red'"):
        load("area apiserver\ncluster members=1 colour=red\n", "bad.scenario")


def test_a_request_to_a_busy_client_is_an_error_unless_marked_maybe():
    steps = "as alice create pod p1 -n ns1\nas alice create pod p2 -n ns1\n"
    with pytest.raises(ScenarioError, match="u1 is busy"):
        run(load(HEAD + steps, "busy.scenario"))
    outcome = run(load(HEAD + steps.replace("as alice create pod p2", "maybe as alice create pod p2"), "b"))
    assert outcome.violation is None


def test_an_unmet_code_expectation_names_its_line():
    outcome = run(load(HEAD + "as bob create pod p1 -n ns1\nsettle\nexpect code u1 201\n", "codes.scenario"))
    assert outcome.expectation_failure.startswith("codes.scenario:5: expect code u1 201: the last request of u1 "
                                                  "was answered 403")


def test_kinv_replay_of_a_bug_scenario_reports_the_violation(tmp_path):
    path = next(p for p in BUG_SCENARIOS if _bug_of(p) == "validate-before-mutate")
    done = subprocess.run([sys.executable, "-m", "checks", "replay", str(path), "--bug", "validate-before-mutate",
                           "--json", "--report", str(tmp_path / "report")], capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert (row["area"], row["result"], row["invariant"]) == ("apiserver", "violated", "ADMISSION-ORDER")
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "counterexample.scenario").exists()
