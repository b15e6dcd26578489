"""etcd scenarios (checks/etcd/scenario.py) and the `kinv` command line on them: malformed files
are one-line `file:line:` errors with exit 2, a reference scenario holds, a catalog bug breaks the
invariant it names, and the counterexample it writes replays to the same violation."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checks.cli import main
from checks.etcd.scenario import load, run
from checks.scenario import ScenarioError
from impl.catalog import bug_by_name

SCENARIOS = Path(__file__).parent / "scenarios"
REFERENCE = SCENARIOS / "etcd-txn-watch.scenario"
KINV = Path(sys.executable).parent / "kinv"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Replays that break write their report under ./reports unless told otherwise."""
    monkeypatch.chdir(tmp_path)


MALFORMED = [
    ("cluster 3\nc1 fly a\n", 2, "unknown request 'fly'"),
    ("cluster 3\nc1 get a via=n7\n", 2, "unknown member 'n7'"),
    ("cluster 3\ntick 5\nc1 put a b via=c2\n", 3, "unknown member 'c2'"),
    ("cluster 3\nc1 compact x\n", 2, "revision must be an integer"),
    ("cluster 3\nc1 compact 0\n", 2, "revision must be an integer from 1"),
    ("cluster 3\nc1 watch a from=-1\n", 2, "from must be an integer"),
    ("cluster 3 turbo=1\n", 1, "unknown cluster option 'turbo=1'"),
    ("cluster 3 duplicate=0.5\n", 1, "unknown cluster option 'duplicate=0.5'"),
    ("cluster 3 drop=2\n", 1, "drop must be between 0 and 1"),
    ("cluster 3 delay=5..2\n", 1, "bad delay range"),
    ("cluster 0\n", 1, "cluster size must be an integer from 1"),
    ("cluster 3 clients=0\n", 1, "clients must be an integer from 1"),
    ("cluster 3\nc1 put a\n", 2, "usage: c1 put with 2 arguments"),
    ("cluster 3\nc1 cas a b\n", 2, "usage: c1 cas with 3 arguments"),
    ("cluster 3\nc1 get\n", 2, "usage: c1 get with 1 arguments"),
    ("cluster 3\nc1 keep-alive now\n", 2, "usage: c1 keep-alive with 0 arguments"),
    ("cluster 3\nc1 txn a\n", 2, "usage: txn KEY=VALUE"),
    ("cluster 3\nc1 lease-grant 0\n", 2, "TTL must be an integer"),
    ("cluster 3\nc1\n", 2, "unknown request ''"),
    ("cluster 3\ncrash c1\n", 2, "unknown member 'c1'"),
    ("cluster 3\npartition n1 | n9\n", 2, "unknown node 'n9'"),
    ("cluster 3\ntick 0\n", 2, "ticks must be an integer"),
    ("cluster 3\nexpect violated RAFT-ELECTION-SAFETY\n", 2, "unknown invariant 'RAFT-ELECTION-SAFETY' for area etcd"),
    ("cluster 3\nexpect maybe\n", 2, "usage: expect held"),
    ("c1 put a b\n", 1, "an etcd scenario starts with `cluster N"),
    ("# comment\n\ncluster 3\ntick\n\nc1 put a b c  # too many\n", 6, "usage: c1 put"),
]


@pytest.mark.parametrize(("text", "line", "message"), MALFORMED)
def test_malformed_line_is_a_scenario_error_at_its_line(text, line, message):
    with pytest.raises(ScenarioError) as caught:
        load(text, "bad.scenario")
    assert str(caught.value).startswith(f"bad.scenario:{line}: "), caught.value
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "line", "message"), MALFORMED)
def test_replay_of_a_malformed_file_exits_2_with_one_line(tmp_path, capsys, text, line, message):
    path = tmp_path / "bad.scenario"
    path.write_text("area etcd\n" + text)
    code, out, err = _run(capsys, "replay", str(path))
    assert code == 2
    assert err.strip().startswith(f"kinv: {path}:{line + 1}: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "reports").exists()


def test_kinv_binary_reports_a_malformed_file_without_traceback(tmp_path):
    path = tmp_path / "bad.scenario"
    path.write_text("area etcd\ncluster 3\ntick 10\nc1 watch k from=soon\n")
    done = subprocess.run([str(KINV), "replay", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"kinv: {path}:4: from must be an integer from 0 to 1000000000, not 'soon'"
    assert done.stdout == ""


def test_a_malformed_line_after_valid_ones_runs_nothing():
    with pytest.raises(ScenarioError):
        load("cluster 3\ntick 40\nc1 put a b\nsettle\nc1 frobnicate\n", "late.scenario")


# ----- the reference scenario ---------------------------------------------------------------

def test_reference_scenario_holds():
    outcome = run(load(REFERENCE.read_text(), str(REFERENCE)))
    assert outcome.violation is None and outcome.expectation_failure is None
    cluster = outcome.cluster
    # the txn's two events in one response; the delete of a missing key made no revision
    (stream,) = cluster.log.streams
    assert [[(e.revision, e.kv.key) for e in r.events] for r in stream.responses if r.events] == [
        [(2, b"k1")], [(3, b"k1"), (3, b"k2")]]
    assert {cluster.member(m).store.revision for m in cluster.member_ids} == {3}
    reads = [e for e in cluster.log.history if e.f == "read" and e.type == "ok"]
    assert [e.value for e in reads] == ["b"]
    assert cluster.lines[0] == "cluster 3 clients=2 seed=1"


def test_replay_reference_exits_0(capsys):
    code, out, err = _run(capsys, "replay", str(REFERENCE), "--json")
    row = json.loads(out)
    assert code == 0 and err == ""
    assert (row["area"], row["result"], row["invariant"], row["report"]) == ("etcd", "held", None, None)


def test_split_txn_events_breaks_atomic_and_its_counterexample_replays(tmp_path, capsys):
    report = tmp_path / "r"
    code, out, err = _run(capsys, "replay", str(REFERENCE), "--bug", "split-txn-events",
                          "--report", str(report), "--json")
    row = json.loads(out)
    assert code == 1
    assert (row["result"], row["invariant"], row["bug"]) == ("violated", "WATCH-ATOMIC", "split-txn-events")
    assert "expected every invariant to hold, but WATCH-ATOMIC broke" in err
    assert (report / "report.md").read_text().strip()
    counterexample = report / "counterexample.scenario"
    text = counterexample.read_text()
    assert "area etcd" in text.splitlines() and text.rstrip().endswith("expect violated WATCH-ATOMIC")
    assert "c1 txn k1=b k2=c" in text

    code, out, err = _run(capsys, "replay", str(counterexample), "--bug", "split-txn-events",
                          "--report", str(tmp_path / "again"), "--json")
    assert code == 1 and err == ""  # broke as it expects
    assert json.loads(out)["invariant"] == "WATCH-ATOMIC"

    # without the bug the counterexample holds, which is not what it expects
    code, out, err = _run(capsys, "replay", str(counterexample), "--json")
    assert code == 1 and json.loads(out)["result"] == "held"
    assert "expected WATCH-ATOMIC to break, but nothing did" in err


def test_scenario_api_with_a_bug_names_the_invariant():
    scenario = load(REFERENCE.read_text().replace("expect held", "expect violated WATCH-ATOMIC"), "s")
    outcome = run(scenario, bug_by_name("split-txn-events").override)
    assert outcome.violation.invariant.id == "WATCH-ATOMIC" and outcome.expectation_failure is None
    outcome = run(scenario)
    assert outcome.violation is None
    assert outcome.expectation_failure == "expected WATCH-ATOMIC to break, but nothing did"


def test_noop_delete_bug_breaks_revisions_in_a_scenario():
    text = "area etcd\ncluster 3 seed=2\ntick 40\nc1 delete nosuch\nsettle\nexpect violated KV-REVISIONS\n"
    outcome = run(load(text, "noop.scenario"), bug_by_name("revision-bump-on-noop-delete").override)
    assert outcome.violation.invariant.id == "KV-REVISIONS" and outcome.expectation_failure is None
    assert run(load(text, "noop.scenario")).violation is None


def test_a_request_to_a_busy_client_is_ignored():
    outcome = run(load("cluster 3 seed=1\ntick 40\nc1 put a 1\nc1 put a 2\nsettle\nc1 get a\nsettle\n", "busy"))
    history = outcome.cluster.log.history
    assert [(e.type, e.f, e.value) for e in history] == [
        ("invoke", "write", "1"), ("ok", "write", "1"), ("invoke", "read", None), ("ok", "read", "1")]


def test_isolate_and_faults_are_accepted_and_deterministic():
    text = ("area etcd\ncluster 3 clients=2 seed=4 delay=1..3 drop=0.05\ntick 40\nc2 watch k prefix\n"
            "c1 put k1 a\ntick 20\nisolate n1\nc1 put k2 b via=n2\ntick 40\nheal\nsettle\nexpect held\n")
    first, second = run(load(text, "f")), run(load(text, "f"))
    assert first.expectation_failure is None
    assert [e.line() for e in first.cluster.world.trace.events] == [e.line() for e in second.cluster.world.trace.events]


# ----- kinv check etcd --------------------------------------------------------------------------

def test_check_finds_the_noop_delete_bug_quickly(tmp_path, capsys):
    code, out, err = _run(capsys, "check", "etcd", "--bug", "revision-bump-on-noop-delete", "--seed", "1",
                          "--budget", "30", "--json", "--report", str(tmp_path / "found"))
    (line,) = out.strip().splitlines()
    row = json.loads(line)
    assert code == 1
    assert (row["area"], row["result"], row["invariant"]) == ("etcd", "violated", "KV-REVISIONS")
    assert row["seconds"] < 10
    counterexample = tmp_path / "found" / "counterexample.scenario"
    code, out, _ = _run(capsys, "replay", str(counterexample), "--bug", "revision-bump-on-noop-delete",
                        "--report", str(tmp_path / "again"), "--json")
    assert code == 1 and json.loads(out)["invariant"] == "KV-REVISIONS"


def test_kinv_binary_check_prints_one_json_line(tmp_path):
    done = subprocess.run([str(KINV), "check", "etcd", "--bug", "revision-bump-on-noop-delete", "--seed", "1",
                           "--budget", "30", "--json", "--report", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    (line,) = done.stdout.strip().splitlines()
    row = json.loads(line)
    assert (row["result"], row["invariant"]) == ("violated", "KV-REVISIONS")
