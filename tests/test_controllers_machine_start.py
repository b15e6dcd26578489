"""What the controllers state machine's start carries for the bugs that need it (checks/controllers/
machine.py): with "crash", web's first rollout is cut by a leader restart while its Service is
relabelled; with "timing", that rollout is made while paused; with "webhook", a settled start
deletes web with --cascade=orphan while the webhook refuses writes, and applies it again; a third
of the test cases fill the cluster's cpus during the start's wait; half run a Job from the start. Each is scripted here, once with a catalog bug it must break and once with the
reference, which must hold: the search finds these bugs only as often as the start reaches them."""

from __future__ import annotations

import warnings

import pytest

from checks.controllers.machine import STRATEGIES, ControllersMachine
from checks.violation import InvariantViolated
from impl.catalog import all_bugs
from impl.controllers.parts import ControllersParts
from impl.sim.network import NetworkFaults

SLOW = NetworkFaults(1, 2)


def _outcome(bug: str | None, kinds: set[str], faults: NetworkFaults = NetworkFaults(), start: str = "rollout",
             fill: bool = False, job_exit: int | None = None) -> str:
    """Run the machine's start (seed 11, 3 managers, 3 nodes, web of 3) and its teardown; the
    invariant broken, or "held"."""
    parts = ControllersParts() if bug is None else next(b for b in all_bugs() if b.name == bug).override
    machine = type("Machine", (ControllersMachine,), {"parts": parts})()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the start's assume(), outside a Hypothesis test
            machine.setup(seed=11, managers=3, nodes=3, faults=faults, kinds=frozenset(kinds), replicas=3,
                          strategy=STRATEGIES[1], min_ready=0, start=start, toleration=None, hidden_after=18,
                          webhook_fail=0, job_exit=job_exit, fill=fill)
        machine.tick(20)
        machine.teardown()
    except InvariantViolated as violation:
        return violation.invariant.id
    return "held"


@pytest.mark.parametrize("bug, invariant", [("reconcile-before-cache-sync", "CTRL-ROLLOUT-SURGE"),
                                            ("labels-copied-on-update-event", "CTRL-LEVEL-TRIGGERED"),
                                            (None, "held")])
def test_with_crash_the_first_rollout_is_cut_by_a_leader_restart_while_the_service_is_relabelled(bug, invariant):
    assert _outcome(bug, {"crash"}) == invariant


@pytest.mark.parametrize("bug, invariant", [("assumed-pod-forgotten-on-bind", "CTRL-NODE-FITS"), (None, "held")])
def test_a_load_asking_more_cpus_than_free_during_the_start_finds_a_scheduler_that_forgets_its_binds(bug, invariant):
    assert _outcome(bug, {"service"}, SLOW, fill=True) == invariant


@pytest.mark.parametrize("bug, invariant", [("job-finalizer-removed-before-counted", "CTRL-JOB-COUNTED"),
                                            (None, "held")])
def test_a_job_from_the_start_finds_a_finalizer_removed_before_its_pod_is_counted(bug, invariant):
    assert _outcome(bug, {"service"}, SLOW, start="none", job_exit=1) == invariant


@pytest.mark.parametrize("bug, invariant", [("paused-sync-creates-new-replicaset", "CTRL-PAUSED-NO-ROLLOUT"),
                                            (None, "held")])
def test_with_timing_the_first_rollout_is_made_while_paused(bug, invariant):
    assert _outcome(bug, {"timing"}, SLOW) == invariant


@pytest.mark.parametrize("bug, invariant", [("orphan-finalizer-removed-before-release", "CTRL-GC-LIVE-OWNER"),
                                            (None, "held")])
def test_with_webhook_web_is_deleted_with_orphan_while_writes_fail_and_applied_again(bug, invariant):
    assert _outcome(bug, {"webhook"}, start="settled") == invariant
