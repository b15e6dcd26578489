"""`kinv campaign`: searches as tasks on Dask's local cluster; a worker killed mid-run costs a
retry, not a result; the verdicts are those of `kinv check` (checks/campaign.py)."""

import json
import os
import signal
from pathlib import Path

import pytest

from checks.area import InputError
from checks.campaign import (RESULTS_NAME, SUMMARY_NAME, CampaignTask, connect, parse_seeds, plan_tasks, run_campaign,
                             run_task)
from checks.cli import main

BUG = "commit-past-log-end"  # found in a few test cases on seeds 1 and 2
BUDGET_SECONDS = 9.0  # under 10 s the Raft check skips its exploration: seconds, not minutes, a search


def killing_search(task: CampaignTask, report_dir: str) -> dict:
    """A test-only task: on its first attempt the seed-1 search kills its own worker process,
    as the kernel's OOM killer would; the scheduler must run it again elsewhere."""
    marker = Path(report_dir).parent.parent / f"killed-{task.name}"
    if task.seed == 1 and not marker.exists():
        marker.write_text("killed once\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return run_task(task, report_dir)


def test_a_killed_worker_is_retried_and_nothing_is_lost(tmp_path, capsys):
    tasks = plan_tasks(["raft"], BUG, [1, 2], BUDGET_SECONDS)
    with connect(workers=2) as client:
        rows = run_campaign(tasks, tmp_path / "out", client, search=killing_search)
    assert [(row.seed, row.attempts) for row in rows] == [(1, 2), (2, 1)]
    lines = [json.loads(line) for line in (tmp_path / "out" / RESULTS_NAME).read_text().splitlines()]
    assert sorted(line["seed"] for line in lines) == [1, 2]
    for row in rows:
        # The verdict of `kinv check` for the same search, in this process.
        report = tmp_path / f"check-{row.seed}"
        assert main(["check", "raft", "--bug", BUG, "--seed", str(row.seed), "--budget", str(BUDGET_SECONDS),
                     "--jobs", "1", "--json", "--report", str(report)]) == 1
        checked = json.loads(capsys.readouterr().out)
        assert (row.result, row.invariant, row.examples, row.steps) == (
            checked["result"], checked["invariant"], checked["examples"], checked["steps"])
        scenario = Path(row.report) / "counterexample.scenario"
        assert scenario.read_bytes() == (report / "counterexample.scenario").read_bytes()


def test_the_campaign_command_writes_results_reports_and_summary(tmp_path, capsys):
    out = tmp_path / "campaign"
    code = main(["campaign", "raft", "--bugs", f"{BUG},reference", "--seeds", "2", "--budget", "3", "--out", str(out)])
    printed, _ = capsys.readouterr()
    assert code == 1
    rows = {json.loads(line)["bug"]: json.loads(line) for line in (out / RESULTS_NAME).read_text().splitlines()}
    assert rows[BUG]["result"] == "violated" and rows[None]["result"] == "held"
    assert (Path(rows[BUG]["report"]) / "report.md").exists()
    assert BUG in (out / SUMMARY_NAME).read_text() and BUG in printed


@pytest.mark.parametrize("text, seeds", [("1..3", [1, 2, 3]), ("4", [4]), ("1..2,5,2", [1, 2, 5])])
def test_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("argv", [
    ["campaign", "nosuch"],
    ["campaign", "raft", "--bugs", "no-such-bug"],
    ["campaign", "etcd", "--bugs", BUG],
    ["campaign", "raft", "--seeds", "1-5"],
    ["campaign", "raft", "--seeds", "5..1"],
    ["campaign", "raft", "--budget", "0"],
    ["campaign", "raft", "--cluster", "tcp://127.0.0.1:9"],
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv):
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_bugs_all_takes_the_catalog_of_each_area():
    tasks = plan_tasks(["raft"], "all", [1, 2], 5.0)
    assert len(tasks) == 2 * len({task.bug for task in tasks}) and None not in {task.bug for task in tasks}
    with pytest.raises(InputError):
        plan_tasks(["raft"], "all,reference", [1], 5.0)
