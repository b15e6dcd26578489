"""The kinv command line: exit codes, JSON lines and one-line errors (DESIGN.md)."""

import json

import pytest

from checks.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["check", "--budget", "-3"],
    ["check", "nosuch"],
    ["check", "--bug", "nosuch-bug"],
    ["check", "--seed", "x"],
    ["frobnicate"],
    ["replay", "/nonexistent/file.scenario"],
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, message", [
    ("cluster 3\ncampaign n9\n", ":2: unknown node 'n9'"),
    ("cluster 3\nfly n1\n", ":2: unknown command 'fly'"),
    ("campaign n1\n", ":1: a raft scenario starts with `cluster N`"),
    ("cluster 3\ntick -1\n", ":2: tick count must be an integer"),
    ("cluster 3\ndeliver n1-n2\n", ":2: expected a link like n1->n2"),
    ("cluster 3 drop=2\n", ":1: drop is a probability"),
    ("cluster 3\nexpect violated NOPE\n", ":2: unknown invariant 'NOPE'"),
    ("cluster 3\npartition n1 | n1\n", ":2: usage: partition"),
])
def test_malformed_scenario(tmp_path, capsys, text, message):
    path = tmp_path / "bad.scenario"
    path.write_text(text)
    code, out, err = _run(capsys, "replay", str(path))
    assert code == 2
    assert err.strip().startswith(f"kinv: {path}") and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_bugs_and_invariants_json(capsys):
    code, out, _ = _run(capsys, "bugs", "--area", "raft", "--json")
    bugs = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(bugs) >= 8
    assert set(bugs[0]) == {"name", "area", "invariant", "summary", "source"}
    code, out, _ = _run(capsys, "invariants", "--area", "raft", "--json")
    invariants = {json.loads(line)["id"] for line in out.splitlines()}
    assert {b["invariant"] for b in bugs} <= invariants
    assert "RAFT-ELECTION-SAFETY" in invariants


def test_replay_json_and_report(tmp_path, capsys):
    from pathlib import Path
    scenario = Path(__file__).parent / "scenarios" / "figure8.scenario"
    code, out, err = _run(capsys, "replay", str(scenario), "--bug", "figure8-commit-previous-term",
                          "--report", str(tmp_path / "r"), "--json")
    row = json.loads(out)
    assert code == 1 and row["result"] == "violated" and row["invariant"] == "RAFT-APPLIED-IS-COMMITTED"
    assert set(row) == {"area", "bug", "result", "invariant", "examples", "steps", "seconds", "seed", "report",
                        "messages", "assertion"}
    assert row["assertion"] is None
    assert row["messages"]["delivered"]["AppendEntries"] > 0 and row["messages"]["rejected"]["RequestVoteReply"] > 0
    report = (tmp_path / "r" / "report.md").read_text()
    assert "```mermaid" in report and "## Shrunk steps" in report
    # the written counterexample replays to the same violation
    code, out, _ = _run(capsys, "replay", str(tmp_path / "r" / "counterexample.scenario"),
                        "--bug", "figure8-commit-previous-term", "--json")
    assert code == 1 and json.loads(out)["invariant"] == "RAFT-APPLIED-IS-COMMITTED"


def test_replay_trace_prints_or_writes_the_trace_of_a_run_that_holds(tmp_path, capsys):
    scenario = tmp_path / "s.scenario"
    scenario.write_text("cluster 3 seed=1\ncampaign n1\nstabilize\nexpect held\n")
    code, out, _ = _run(capsys, "replay", str(scenario), "--trace")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("held") and lines[1] == "step 1. campaign n1 (t=0)"
    assert any(line.endswith("role      n1       candidate -> leader t1") for line in lines)
    code, out, _ = _run(capsys, "replay", str(scenario), "--trace", str(tmp_path / "trace.txt"), "--json")
    assert code == 0 and json.loads(out)["messages"]["sent"] == {"AppendEntries": 2, "AppendEntriesReply": 2,
                                                                 "RequestVote": 2, "RequestVoteReply": 2}
    assert (tmp_path / "trace.txt").read_text().splitlines() == lines[1:]


# (scenario, its failed state assertion at line 4 and what the state was, steps run before it)
FAILED_ASSERTIONS = [
    ("cluster 3 seed=1\ncampaign n1\nstabilize\nexpect leader n2\ncrash n1\nexpect held\n",
     "expect leader n2: n2 is follower in term 1", 2),
    ("area etcd\ncluster 3 clients=1 seed=2\ntick 40\nexpect revision 5\nc1 put b 2\nexpect held\n",
     "expect revision 5: the leader n1's revision is 1", 1),
]


@pytest.mark.parametrize(("text", "failed", "steps"), FAILED_ASSERTIONS, ids=["raft", "etcd"])
def test_a_failed_state_assertion_is_reported_as_such_not_as_held(tmp_path, capsys, text, failed, steps):
    scenario = tmp_path / "s.scenario"
    scenario.write_text(text)
    code, out, err = _run(capsys, "replay", str(scenario))
    assert code == 1 and err == f"kinv: {scenario}:4: {failed}\n"
    area = "etcd" if text.startswith("area etcd") else "raft"
    assert out == f"assertion failed  {area} (reference): at {scenario}:4, replayed {steps} steps before it\n"
    code, out, _ = _run(capsys, "replay", str(scenario), "--json")
    row = json.loads(out)
    assert code == 1 and (row["result"], row["invariant"], row["report"]) == ("assertion-failed", None, None)
    assert row["assertion"] == f"{scenario}:4: {failed}" and row["steps"] == steps


def test_an_unmet_outcome_expectation_is_not_a_failed_assertion(tmp_path, capsys):
    """`expect violated ID` on a run that held: the run finished, so its result is what happened."""
    scenario = tmp_path / "s.scenario"
    scenario.write_text("cluster 3 seed=1\ncampaign n1\nstabilize\nexpect violated RAFT-ELECTION-SAFETY\n")
    code, out, err = _run(capsys, "replay", str(scenario), "--json")
    row = json.loads(out)
    assert code == 1 and (row["result"], row["assertion"]) == ("held", None)
    assert err == f"kinv: {scenario}: expected RAFT-ELECTION-SAFETY to break, but nothing did\n"


def test_a_line_that_does_nothing_is_an_input_error(tmp_path, capsys):
    scenario = tmp_path / "s.scenario"
    scenario.write_text("cluster 3 seed=1\ncrash n2\ncrash n2\n")
    code, _, err = _run(capsys, "replay", str(scenario))
    assert code == 2 and err.strip() == (f"kinv: {scenario}:3: crash n2: n2 is already down "
                                         "(mark the line `maybe` if that is expected)")


def test_names_and_commands_are_never_cut_at_any_width(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COLUMNS", "30")
    assert main(["bugs", "--area", "raft"]) == 0
    assert "figure8-commit-previous-term  (raft, breaks RAFT-APPLIED-IS-COMMITTED)" in capsys.readouterr().out
    code = main(["check", "raft", "raft", "--bug", "figure8-commit-previous-term", "--seed", "5",
                 "--report", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 1 and out.count("violated") == 1  # raft once, though named twice
    assert f"replay: kinv replay {tmp_path}/r/counterexample.scenario --bug figure8-commit-previous-term" in out
