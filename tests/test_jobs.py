"""`kinv check --jobs N`: the seeded chunks run in worker processes and the answer is the one
`--jobs 1` gives: the lowest-numbered failing chunk, the same counterexample byte for byte, and,
under examples_max, the same number of test cases (checks/parallel.py)."""

import concurrent.futures as futures
import json
import os
import signal

import pytest

from checks.cli import main
from checks.parallel import ChunkPool, ChunkRun, _Ledger, first_failure, use_jobs
from checks.search import MachineCounter
from checks.raft.search import search
from impl.raft.node import RaftNode

# Found by the random search in chunk 1 (33 test cases, seed 3), so two workers run the failing
# chunk beside chunk 0, which holds.
BUG, SEED = "commit-beyond-match", "3"
REFERENCE_EXAMPLES = 60  # three chunks of the reference


def _check(capsys, tmp_path, jobs: int) -> tuple[dict, bytes]:
    report = tmp_path / f"jobs-{jobs}"
    # Under 10 s the Raft check skips its shallow exploration: the random search alone answers.
    code = main(["check", "raft", "--bug", BUG, "--seed", SEED, "--budget", "9.9", "--json", "--jobs", str(jobs),
                 "--report", str(report)])
    out, _ = capsys.readouterr()
    verdict = json.loads(out)
    assert code == 1, verdict
    verdict.pop("seconds")
    verdict.pop("report")
    return verdict, (report / "counterexample.scenario").read_bytes()


def test_jobs_2_finds_the_counterexample_of_jobs_1(capsys, tmp_path):
    alone, scenario_alone = _check(capsys, tmp_path, 1)
    shared, scenario_shared = _check(capsys, tmp_path, 2)
    assert alone["invariant"] == "RAFT-STATE-MACHINE-SAFETY"
    assert shared == alone
    assert scenario_shared == scenario_alone


def test_jobs_2_runs_the_test_cases_of_jobs_1_on_the_reference():
    alone = search(RaftNode, 1, budget_seconds=600, examples_max=REFERENCE_EXAMPLES)
    with use_jobs(2):
        shared = search(RaftNode, 1, budget_seconds=600, examples_max=REFERENCE_EXAMPLES)
    assert alone.violation is None and shared.violation is None
    assert shared.examples == alone.examples >= REFERENCE_EXAMPLES


class _Pool:
    """A pool whose chunks answer at once from a table: chunk -> (created, failed)."""

    def __init__(self, jobs: int, answers: dict[int, tuple[int, bool]]) -> None:
        self.jobs = jobs
        self.answers = answers
        self.started: list[int] = []

    def submit(self, chunk: int) -> futures.Future:
        self.started.append(chunk)
        future: futures.Future = futures.Future()
        created, failed = self.answers.get(chunk, (25, False))
        future.set_result(ChunkRun(chunk, created, failed))
        return future


@pytest.mark.parametrize("jobs", [2, 3, 8])
def test_the_lowest_failing_chunk_wins(jobs):
    pool = _Pool(jobs, {3: (10, True), 4: (2, True), 5: (7, True)})
    failed, examples = first_failure(pool, lambda: False, None)
    assert (failed.chunk, examples) == (3, 75)


@pytest.mark.parametrize("jobs", [2, 3, 8])
def test_examples_max_stops_where_one_process_stops(jobs):
    # One process runs chunks 0 (20), 1 (30) and 2 (25): 75 >= 60, so chunk 3, which fails, never runs.
    pool = _Pool(jobs, {0: (20, False), 1: (30, False), 2: (25, False), 3: (5, True)})
    assert first_failure(pool, lambda: False, 60) == (None, 75)


def test_no_chunk_starts_once_the_budget_is_spent():
    pool = _Pool(4, {})
    assert first_failure(pool, lambda: True, None) == (None, 0)
    assert pool.started == []


def test_the_ledger_reads_answers_in_chunk_order():
    ledger = _Ledger(examples_max=None)
    ledger.record(ChunkRun(1, 25, True))
    assert ledger.failed is None and not ledger.worth_starting(2)  # chunk 0 may still fail first
    ledger.record(ChunkRun(0, 25, False))
    assert ledger.failed == 1 and ledger.examples == 25


def test_bad_jobs_is_an_input_error(capsys):
    assert main(["check", "raft", "--jobs", "0"]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "--jobs" in err


def test_the_progress_line_counts_the_busy_workers(capsys):
    from checks.progress import ProgressReporter

    with ProgressReporter("raft", 60.0) as alone:
        alone.update(100, 10.0)
    with ProgressReporter("raft", 60.0) as shared:
        shared.workers(2, 2)
        shared.update(180, 10.0)
    _, err = capsys.readouterr()
    assert err.splitlines() == ["kinv: checking raft: 100 examples, 10s of 60s",
                                "kinv: checking raft: 180 examples, 10s of 60s, 2 of 2 workers busy"]


def _dying_chunk(marker, chunk):
    """Chunk 1 kills its worker the first time it runs, as the kernel's OOM killer would."""
    if chunk == 1 and not marker.exists():
        marker.write_text("killed once\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return MachineCounter(created=10), None


def test_a_killed_worker_costs_a_rerun_not_an_answer(tmp_path):
    with ChunkPool(2, _dying_chunk, (tmp_path / "killed",)) as pool:
        assert first_failure(pool, lambda: False, 50) == (None, 50)
        assert pool.restarts == 1


def test_the_parent_shrinks_the_run_its_worker_sent_without_running_the_chunk_again(monkeypatch, capsys, tmp_path):
    import checks.search

    parent = os.getpid()
    ran_here: list[int] = []
    run_chunk = checks.search.run_chunk

    def counting(*arguments):
        if os.getpid() == parent:
            ran_here.append(arguments[-1])
        return run_chunk(*arguments)
    monkeypatch.setattr(checks.search, "run_chunk", counting)
    verdict, _ = _check(capsys, tmp_path, 2)
    assert verdict["invariant"] == "RAFT-STATE-MACHINE-SAFETY"
    assert ran_here == []
