"""The scenario language in the etcd area: a command that finds nothing to do is an error at its
line unless marked `maybe` (and a search marks it itself, so what it shrinks replays), and the
state assertions `expect get|revision|leader` hold on a true statement and fail at their line,
saying what they found, on a false one (checks/etcd/expect.py)."""

from __future__ import annotations

import pytest

from checks.cli import main
from checks.etcd import search as etcd_search
from checks.etcd.cluster import EtcdCluster, EtcdOptions
from checks.etcd.scenario import load, run
from checks.scenario import ScenarioError
from checks.violation import InvariantViolated
from impl.catalog import bug_by_name

# With seed=1, n3 leads after 40 ticks, in term 1; a put brings the store to revision 2.
LED = "area etcd\ncluster 3 clients=2 seed=1\ntick 40\n"
WRITTEN = LED + "c1 put a 1\nsettle\nc1 get a\nsettle\nc2 get b\nsettle\n"  # lines 4..9
NOOP_DELETE = "revision-bump-on-noop-delete"  # a delete of a missing key makes a revision: KV-REVISIONS


def _run(text: str, bug: str | None = None, lenient: bool = False):
    scenario = load(text, "s.scenario")
    return run(scenario, bug_by_name(bug).override, lenient) if bug else run(scenario, lenient=lenient)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a replay that breaks writes its report under ./reports


# ----- a command that does nothing ------------------------------------------------------------

# (lines before it, the command, what the error says): the command is line 4 + the setup's lines.
NO_EFFECT = [
    ("crash n1\n", "crash n1", "n1 is already down"),
    ("", "restart n2", "n2 is up"),
    ("", "campaign n3", "n3 is already the leader"),
    ("crash n2\n", "campaign n2", "n2 is down"),
    ("c1 put a 1\n", "c1 get a", "c1 is busy: its request #1 to n1 has no answer yet"),
    ("", "heal", "no link is cut"),
    ("", "c1 progress", "c1 has no watch stream open to ask for progress"),
]


@pytest.mark.parametrize(("setup", "line", "message"), NO_EFFECT, ids=[case[1] for case in NO_EFFECT])
def test_a_command_that_does_nothing_is_an_error_at_its_line(setup, line, message):
    at = 4 + setup.count("\n")
    with pytest.raises(ScenarioError) as caught:
        _run(f"{LED}{setup}{line}\nsettle\n")
    assert str(caught.value) == f"s.scenario:{at}: {line}: {message}" + (
        " (one request at a time)" if "busy" in message else "") + " (mark the line `maybe` if that is expected)"


@pytest.mark.parametrize(("setup", "line", "message"), NO_EFFECT, ids=[case[1] for case in NO_EFFECT])
def test_the_same_command_marked_maybe_is_accepted_and_recorded_maybe(setup, line, message):
    outcome = _run(f"{LED}{setup}maybe {line}\nsettle\nexpect held\n")
    assert outcome.violation is None and outcome.expectation_failure is None
    assert outcome.cluster.lines[-2] == f"maybe {line}"


def test_expire_leases_without_a_leader_is_an_error_unless_marked_maybe():
    with pytest.raises(ScenarioError, match=r"^s.scenario:3: expire-leases: no member leads"):
        _run("area etcd\ncluster 3 seed=1\nexpire-leases\n")
    assert _run("area etcd\ncluster 3 seed=1\nmaybe expire-leases\n").cluster.lines[1:] == ["maybe expire-leases"]


def test_a_maybe_line_that_does_something_is_recorded_plainly():
    outcome = _run(LED + "maybe crash n1\nmaybe c1 put a 1 via=n2\nmaybe c1 put a 2\nmaybe restart n1\nsettle\n")
    assert outcome.cluster.lines[2:] == ["crash n1", "c1 put a 1 via=n2", "maybe c1 put a 2", "restart n1",
                                         "settle"]
    assert [c.op.value for c in outcome.cluster.log.calls] == [b"1"]  # the busy client dropped the second


def test_kinv_replay_of_a_no_op_line_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "noop.scenario"
    path.write_text(LED + "restart n1\nexpect held\n")
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"kinv: {path}:4: restart n1: n1 is up (mark the line `maybe` if that is expected)\n"
    assert not (tmp_path / "reports").exists()


# ----- a search marks its no-op lines, and what it shrinks replays ---------------------------

def _searched_run() -> tuple[EtcdCluster, InvariantViolated]:
    """Lines as the etcd machine records them (it drives the harness directly, leniently), with
    three that find nothing to do, ending in KV-REVISIONS under the no-op delete bug."""
    cluster = EtcdCluster(EtcdOptions(3, 2, seed=1), bug_by_name(NOOP_DELETE).override)
    with pytest.raises(InvariantViolated) as caught:
        cluster.tick(40)
        cluster.request("c2", "put", ("a", "1"))
        cluster.request("c2", "put", ("a", "2"))  # c2 is busy: dropped
        cluster.crash("n2")
        cluster.crash("n2")
        cluster.heal()
        cluster.settle()
        cluster.request("c1", "delete", ("nosuch",))
        cluster.settle()
    return cluster, caught.value


def _replayed_strictly(lines: list[str]):
    outcome = run(load("\n".join(lines), "counterexample.scenario"), bug_by_name(NOOP_DELETE).override)
    assert outcome.violation is not None
    return outcome.violation


def test_a_search_records_its_no_op_lines_maybe_and_they_replay():
    cluster, violation = _searched_run()
    assert {"maybe c2 put a 2", "maybe crash n2", "maybe heal"} <= set(cluster.lines)
    assert _replayed_strictly(cluster.lines).message == violation.message


def test_a_shrunk_counterexample_replays_strictly():
    cluster, violation = _searched_run()
    shrunk, again = etcd_search.shrink(cluster, bug_by_name(NOOP_DELETE).override, violation)
    assert again.invariant.id == "KV-REVISIONS"
    # c2's lines (one marked `maybe`), the crashes and the heal are gone: nothing left to mark
    assert shrunk.lines[-2:] == ["c1 delete nosuch", "settle"] and len(shrunk.lines) == 4, shrunk.lines
    assert not any("c2" in line or line.startswith("maybe ") for line in shrunk.lines[1:])
    assert _replayed_strictly(shrunk.lines).message == again.message


def test_a_shrink_that_keeps_a_no_op_line_marks_it_maybe(monkeypatch):
    """No replays left to delete lines: the no-op lines stay, marked, and still replay."""
    monkeypatch.setattr(etcd_search, "REPLAYS_MAX", 0)
    cluster, violation = _searched_run()
    shrunk, again = etcd_search.shrink(cluster, bug_by_name(NOOP_DELETE).override, violation)
    assert "maybe c2 put a 2" in shrunk.lines and "maybe crash n2" in shrunk.lines
    assert _replayed_strictly(shrunk.lines).message == again.message == violation.message


def test_kinv_replay_of_a_counterexample_with_maybe_lines(tmp_path, capsys):
    cluster, _ = _searched_run()
    path = tmp_path / "counterexample.scenario"
    path.write_text("\n".join(["area etcd", *cluster.lines, "expect violated KV-REVISIONS"]) + "\n")
    assert main(["replay", str(path), "--bug", NOOP_DELETE, "--report", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err == ""  # broke as it expects: no note


# ----- state assertions -----------------------------------------------------------------------

HOLDING = [
    "expect get c1 a 1",
    "expect get c2 b -",
    "expect revision 2",
    "expect revision 2 n1",
    "expect leader n3",
    "expect leader n3 term=1",
]


@pytest.mark.parametrize("line", HOLDING)
def test_a_true_assertion_holds(line):
    outcome = _run(f"{WRITTEN}{line}\nexpect held\n")
    assert outcome.violation is None and outcome.expectation_failure is None


# (setup after WRITTEN, the assertion, what it found): the assertion is line 10 + the setup's lines.
FAILING = [
    ("", "expect get c1 a 2", "c1's last get of a answered 1 (at revision 2)"),
    ("", "expect get c1 a -", "c1's last get of a answered 1 (at revision 2)"),
    ("", "expect get c2 b x", "c2's last get of b answered not found (at revision 2)"),
    ("", "expect get c2 a 1", "c2 has sent no get of a"),
    ("c1 put a 2\nsettle\nc1 get a\n", "expect get c1 a 1", "c1's last get of a has no answer yet"),
    ("c1 get a count-only\nsettle\n", "expect get c1 a 1", "c1's last get of a was count-only"),
    ("c1 get a rev=9\nsettle\n", "expect get c1 a 1", "c1's last get of a failed: "),
    ("", "expect revision 3", "the leader n3's revision is 2"),
    ("crash n1\n", "expect revision 2 n1", "n1 is down"),
    ("crash n3\n", "expect revision 2", "no member leads"),
    ("", "expect leader n1", "n1 is follower in term 1"),
    ("", "expect leader n3 term=2", "n3 is leader in term 1"),
    ("crash n3\n", "expect leader n3", "n3 is down"),
]


@pytest.mark.parametrize(("setup", "line", "found"), FAILING, ids=[f"{c[1]} after {c[0]!r}" for c in FAILING])
def test_a_false_assertion_fails_at_its_line_saying_what_it_found(setup, line, found):
    at = 10 + setup.count("\n")
    outcome = _run(f"{WRITTEN}{setup}{line}\nexpect held\n")
    assert outcome.violation is None
    assert outcome.expectation_failure.startswith(f"s.scenario:{at}: {line}: {found}"), outcome.expectation_failure
    assert "\n" not in outcome.expectation_failure


def test_expect_revision_reads_the_leader_of_the_highest_term():
    """A leader cut off without CheckQuorum still leads in its old term; the new one took a write."""
    text = ("area etcd\ncluster 3 clients=2 seed=1 no-checkquorum\ntick 40\nc1 put a 1\nsettle\nisolate n3\n"
            "tick 60\nc1 put b 2 via=n1\nsettle\nexpect leader n3 term=1\nexpect leader n1 term=2\n"
            "expect revision 2 n3\nexpect revision 3\n")
    assert _run(text).expectation_failure is None
    assert _run(text.replace("revision 3", "revision 2")).expectation_failure == (
        "s.scenario:13: expect revision 2: the leader n1's revision is 3")

def test_a_failed_assertion_stops_the_run():
    outcome = _run(f"{WRITTEN}expect revision 7\nc1 put b 2\nsettle\n")
    assert outcome.cluster.lines[-1] == "settle" and "c1 put b 2" not in outcome.cluster.lines


def test_a_get_that_timed_out_is_an_unknown_outcome():
    text = LED + "partition n1 n2 n3 | c1 c2\nc1 get a\ntick 40\nexpect get c1 a -\n"
    assert _run(text).expectation_failure == ("s.scenario:7: expect get c1 a -: c1's last get of a has an "
                                              "unknown outcome (timed out or lost with its leader)")


def test_assertions_sit_beside_the_outcome_expect():
    text = LED + "c1 delete nosuch\nsettle\nexpect revision 1\nexpect violated KV-REVISIONS\n"
    assert _run(text).expectation_failure == "expected KV-REVISIONS to break, but nothing did"
    broken = _run(text, NOOP_DELETE)
    assert broken.violation.invariant.id == "KV-REVISIONS" and broken.expectation_failure is None


def test_kinv_replay_of_a_false_assertion_exits_1_naming_its_line(tmp_path, capsys):
    path = tmp_path / "assert.scenario"
    path.write_text(WRITTEN + "expect get c1 a 2\n")
    assert main(["replay", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"kinv: {path}:10: expect get c1 a 2: c1's last get of a answered 1 (at revision 2)\n"


MALFORMED = [
    ("expect", "usage: expect held | expect violated INVARIANT-ID | expect get CLIENT KEY VALUE|-"),
    ("expect value c1 a", "usage: expect held"),
    ("expect get c1 a", "usage: expect get CLIENT KEY VALUE"),
    ("expect get c1 a b c", "usage: expect get CLIENT KEY VALUE"),
    ("expect get c3 a b", "unknown client 'c3'; clients are c1, c2"),
    ("expect get n1 a b", "unknown client 'n1'"),
    ("expect revision", "usage: expect revision N [MEMBER]"),
    ("expect revision x", "usage: expect revision N [MEMBER]"),
    ("expect revision 2 n1 n2", "usage: expect revision N [MEMBER]"),
    ("expect revision 2 c1", "unknown member 'c1'"),
    ("expect leader", "usage: expect leader MEMBER [term=T]"),
    ("expect leader n1 term=x", "usage: expect leader MEMBER [term=T]"),
    ("expect leader n1 2", "usage: expect leader MEMBER [term=T]"),
    ("expect leader n4", "unknown member 'n4'; members are n1, n2, n3"),
    ("expect violated NOPE", "unknown invariant 'NOPE' for area etcd"),
]


@pytest.mark.parametrize(("line", "message"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_a_malformed_assertion_is_a_one_line_error_at_its_line(line, message):
    with pytest.raises(ScenarioError) as caught:
        load(f"{LED}{line}\n", "bad.scenario")
    assert str(caught.value).startswith(f"bad.scenario:4: {message}"), caught.value
    assert "\n" not in str(caught.value)


def test_kinv_replay_of_a_malformed_assertion_exits_2_before_running(tmp_path, capsys):
    path = tmp_path / "bad.scenario"
    path.write_text(LED + "c1 put a 1\nexpect revision two\n")
    assert main(["replay", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err == f"kinv: {path}:5: usage: expect revision N [MEMBER]\n" and out == ""


def test_an_assertion_cannot_be_marked_maybe():
    with pytest.raises(ScenarioError, match=r"^s.scenario:4: usage: maybe COMMAND"):
        load(f"{LED}maybe expect leader n3\n", "s.scenario")

