"""CTRL-JOB-COUNTED's rule (spec/controllers/safety.py): what became of each pod of a Job, and a
Job's status judged against it."""

from __future__ import annotations

from spec.controllers.safety import job_backoff_problems, job_count_problems, pod_outcome


def _pod(phase: str | None = "Running", deleting: bool = False) -> dict:
    metadata = {"name": "p", "uid": "u"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    return {"metadata": metadata, "status": {"phase": phase} if phase else {}}


def _outcome(*states) -> str | None:
    outcome = None
    for state in states:
        outcome = pod_outcome(state, outcome)
    return outcome


def _job(succeeded: int = 0, failed: int = 0, uncounted: dict | None = None) -> dict:
    return {"metadata": {"name": "batch", "uid": "j"},
            "status": {"succeeded": succeeded, "failed": failed, "uncountedTerminatedPods": uncounted or {}}}


def test_a_pod_running_or_waiting_has_not_ended():
    assert _outcome(_pod("Pending"), _pod("Running")) is None


def test_a_pod_ends_succeeded_or_failed_by_its_phase():
    assert _outcome(_pod("Running"), _pod("Succeeded")) == "succeeded"
    assert _outcome(_pod("Running"), _pod("Failed")) == "failed"


def test_a_pod_deleted_before_it_succeeded_is_a_failure_even_with_no_phase_ever_written():
    assert _outcome(_pod("Pending"), _pod("Pending", deleting=True)) == "deleting"
    assert _outcome(_pod("Pending"), _pod("Pending", deleting=True), None) == "deleting"
    assert _outcome(_pod("Running"), None) == "deleting"  # gone at once: grace 0, no finalizer


def test_a_pod_that_succeeds_while_being_deleted_may_be_counted_either_way():
    assert _outcome(_pod("Running", deleting=True), _pod("Succeeded", deleting=True)) == "either"
    assert _outcome(_pod("Succeeded"), _pod("Succeeded", deleting=True), None) == "succeeded"


def test_a_status_that_counts_every_ended_pod_holds():
    assert job_count_problems("default/batch", _job(1, 2), ["succeeded", "failed", "deleting", None]) == []
    assert job_count_problems("default/batch", _job(1, 0, {"failed": ["x"]}), ["succeeded", "failed"]) == []
    assert job_count_problems("default/batch", _job(0, 1), ["either"]) == []
    assert job_count_problems("default/batch", _job(1, 0), ["either"]) == []


def test_a_pod_deleted_and_counted_by_no_one_is_flagged():
    problems = job_count_problems("default/batch", _job(2, 0), ["succeeded", "succeeded", "deleting"])
    assert problems and "3 of its pods ended" in problems[0] and "failed 0" in problems[0]


def test_a_failure_counted_as_a_success_is_flagged_even_when_the_total_matches():
    assert job_count_problems("default/batch", _job(2, 0), ["succeeded", "failed"])
    assert job_count_problems("default/batch", _job(0, 2), ["succeeded", "failed"])


def test_a_failed_job_may_count_a_pod_that_succeeded_as_failed():
    failed_job = _job(0, 2)
    failed_job["status"]["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    assert job_count_problems("default/batch", failed_job, ["succeeded", "failed"]) == []
    assert job_count_problems("default/batch", _job(0, 2), ["succeeded", "failed"])


def _finished_job(kind: str, completions: int, backoff_limit: int) -> dict:
    return {"metadata": {"name": "batch", "uid": "j"},
            "spec": {"completions": completions, "backoffLimit": backoff_limit},
            "status": {"conditions": [{"type": kind, "status": "True"}]}}


def test_a_job_complete_past_its_backoff_limit_is_flagged():
    problems = job_backoff_problems("default/batch", _finished_job("Complete", 1, 0), ["deleting", "succeeded"])
    assert problems and "backoffLimit 0" in problems[0]


def test_failures_after_the_last_needed_success_or_within_the_limit_are_not():
    # A pod the Job deleted once it had its completions, counted as failed when released.
    assert job_backoff_problems("default/batch", _finished_job("Complete", 1, 0), ["succeeded", "deleting"]) == []
    assert job_backoff_problems("default/batch", _finished_job("Complete", 2, 1), ["failed", "succeeded", "succeeded"]) == []
    # A pod that succeeded while being deleted may have been counted either way.
    assert job_backoff_problems("default/batch", _finished_job("Complete", 1, 0), ["either", "succeeded"]) == []
    assert job_backoff_problems("default/batch", _finished_job("Failed", 1, 0), ["deleting", "succeeded"]) == []
