"""etcd scenarios (checks/etcd/scenario.py) and the `kinv` command line on them: malformed files
are one-line `file:line:` errors with exit 2, a reference scenario holds, a catalog bug breaks the
invariant it names, and the counterexample it writes replays to the same violation."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from checks.cli import main
from checks.etcd.scenario import load, run
from checks.scenario import ScenarioError
from impl.catalog import bug_by_name
from impl.etcd.errors import ErrLeaseExist
from impl.etcd.lease import MIN_LEASE_TTL
from impl.etcd.messages import LeaseGrantRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest
from spec.kv.responses import ClientCall, CommittedEntry, judge
from spec.kv.store_model import StoreModel

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
    ("cluster 3\nc1 put a\n", 2, "usage: c1 put KEY VALUE"),
    ("cluster 3\nc1 cas a b\n", 2, "usage: c1 cas KEY OLD|- NEW"),
    ("cluster 3\nc1 get\n", 2, "usage: c1 get KEY"),
    ("cluster 3\nc1 keep-alive now\n", 2, "usage: c1 keep-alive (no arguments)"),
    ("cluster 3\nc1 time-to-live 5\n", 2, "usage: c1 time-to-live [keys]"),
    ("cluster 3\nc1 get a prefix end=b\n", 2, "choose one of prefix, end=END, from-key"),
    ("cluster 3\nc1 get a limit=0\n", 2, "limit must be an integer from 1"),
    ("cluster 3\nc1 get a rev=x\n", 2, "rev must be an integer"),
    ("cluster 3\nc1 get a keys-only b\n", 2, "usage: c1 get KEY"),
    ("cluster 3\nc1 delete a prefix from-key\n", 2, "choose one of"),
    ("cluster 3\nc1 txn if a.size=1 then get:a\n", 2, "a compare is KEY.version|create|mod|value"),
    ("cluster 3\nc1 txn then fetch:a\n", 2, "a txn operation is get:KEY"),
    ("cluster 3\nc1 txn then put:a\n", 2, "a txn put is put:KEY=VALUE"),
    ("cluster 3\nc1 txn if a.version=1 else get:a\n", 2, "usage: c1 txn [if COMPARE ...] then OP"),
    ("cluster 3\nc1 txn then get:a if a.mod>1\n", 2, "in that order"),
    ("cluster 3\nc1 txn if a.version=x then get:a\n", 2, "operand must be an integer"),
    ("cluster 3\nc1 watch a from=1 prefix extra\n", 2, "usage: c1 watch KEY"),
    ("cluster 3\nc1 txn a\n", 2, "usage: c1 txn KEY=VALUE"),
    ("cluster 3\nc1 lease-grant 0\n", 2, "TTL must be an integer"),
    ("cluster 3\nc1 lease-grant 20 id=0\n", 2, "lease ID must be an integer from 1"),
    ("cluster 3\nc1 lease-grant id=3\n", 2, "usage: c1 lease-grant TTL [id=ID]"),
    ("cluster 3\nc1 watch a prefix from-key\n", 2, "choose one of prefix, end=END, from-key"),
    ("cluster 3\nc1 watch a end=b from-key\n", 2, "choose one of prefix, end=END, from-key"),
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


def test_a_request_to_a_busy_client_marked_maybe_is_dropped():
    outcome = run(load("cluster 3 seed=1\ntick 40\nc1 put a 1\nmaybe c1 put a 2\nsettle\nc1 get a\nsettle\n", "busy"))
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


# ----- golden scenarios: every etcd-*.scenario replays as it expects ----------------------------

GOLDEN = sorted(SCENARIOS.glob("etcd-*.scenario"))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda path: path.name)
def test_golden_scenario_replays_as_it_expects(path):
    outcome = run(load(path.read_text(), str(path)))
    assert outcome.expectation_failure is None, (outcome.expectation_failure, outcome.violation)


@pytest.mark.parametrize(("scenario", "bug", "invariant"), [
    ("etcd-request-shapes", "range-count-after-limit", "KV-RESPONSE-MATCHES-MODEL"),
    ("etcd-request-shapes", "past-read-skips-deleted-keys", "KV-RESPONSE-MATCHES-MODEL"),
    ("etcd-request-shapes", "version-continues-after-recreate", "KV-RESPONSE-MATCHES-MODEL"),
    ("etcd-lease-end", "revoke-keeps-lease", "KV-RESPONSE-MATCHES-MODEL"),
    ("etcd-lease-end", "lease-attach-skipped-on-update", "KV-RESPONSE-MATCHES-MODEL"),  # time-to-live keys
])
def test_a_response_bug_breaks_the_golden_scenario_that_asks(scenario, bug, invariant):
    text = (SCENARIOS / f"{scenario}.scenario").read_text()
    outcome = run(load(text, scenario), bug_by_name(bug).override)
    assert outcome.violation is not None and outcome.violation.invariant.id == invariant


SMALL_BREAKS = [
    ("c1 txn k/a=1 k/b=2\nsettle\nc1 get k/ prefix limit=1\nsettle\n", "range-count-after-limit",
     "KV-RESPONSE-MATCHES-MODEL", "get k/..k0 limit=1: response.count is 1, the model says 2"),
    ("c1 lease-grant 60\nsettle\nc1 lease-put k/l1 a\nsettle\nc1 lease-put k/l1 b\nsettle\nc1 revoke\nsettle\n",
     "lease-attach-skipped-on-update", "LEASE-REVOKE-COMPLETE", "lease 1 had ['k/l1'] attached; the revoke produced []"),
]


@pytest.mark.parametrize(("lines", "bug", "invariant", "message"), SMALL_BREAKS, ids=lambda v: str(v)[:30])
def test_a_bug_breaks_a_small_scenario_with_a_message_that_names_what(lines, bug, invariant, message):
    text = f"area etcd\ncluster 3 clients=1 seed=2\ntick 40\n{lines}expect violated {invariant}\n"
    outcome = run(load(text, "small"), bug_by_name(bug).override)
    assert outcome.expectation_failure is None, outcome.violation
    assert message in outcome.violation.message
    assert run(load(text, "small")).violation is None  # the reference holds


def test_the_issue_scenario_reads_a_key_written_under_a_lease():
    """Issue 12: a lease-put is a write of the history (it used to be left out, so the read of its
    value looked like a read of a value nobody wrote); the lease's expiry later enters the history
    from the log, as deletes of the "lessor"."""
    outcome = run(load((SCENARIOS / "etcd-lease-put-read.scenario").read_text(), "issue"))
    assert outcome.violation is None
    reads = [(e.type, e.value) for e in outcome.cluster.log.history if e.f == "read"]
    assert reads == [("invoke", None), ("ok", "v1")]
    writes = [e for e in outcome.cluster.log.history if e.f == "write"]
    assert writes and all(e.checked for e in writes)


def test_a_read_after_the_lease_expired_is_explained_by_the_lessor():
    """The key is gone after the expiry: a read of nothing after the checked write of v1 is
    linearizable only because the expiry's delete enters the history from the log."""
    text = (SCENARIOS / "etcd-lease-put-read.scenario").read_text()
    text = text.replace("expect held", "tick 100\nc1 get k/l1\nsettle\nexpect held")
    outcome = run(load(text, "expired"))
    assert outcome.violation is None
    assert [e.value for e in outcome.cluster.log.history if e.f == "read" and e.type == "ok"] == ["v1", None]
    expiries = [e for e in outcome.cluster.observation.entries if e.origin is None and e.events]
    assert [(e.text, e.events[0]["type"]) for e in expiries] == [("lease-expiry#1 lease-revoke 1", "DELETE")]


@pytest.mark.parametrize(("line", "expected"), [
    ("c1 get k/ prefix rev=2 limit=1 keys-only", "RangeRequest(key=b'k/', range_end=b'k0', limit=1, revision=2, "
                                                 "count_only=False, keys_only=True, serializable=False)"),
    ("c1 delete k/a from-key prev-kv", "DeleteRangeRequest(key=b'k/a', range_end=b'\\x00', prev_kv=True)"),
    ("c1 put k/a ignore-value ignore-lease", "PutRequest(key=b'k/a', value=b'', lease=0, prev_kv=False, "
                                             "ignore_value=True, ignore_lease=True)"),
    ("c1 time-to-live keys", "LeaseTimeToLiveRequest(id=0, keys=True)"),
    ("c1 lease-grant 20 id=7", "LeaseGrantRequest(ttl=20, id=7)"),
    ("c1 lease-grant 20", "LeaseGrantRequest(ttl=20, id=0)"),
])
def test_a_request_line_sends_the_request_it_names(line, expected):
    outcome = run(load(f"cluster 3 clients=1 seed=1\ntick 40\n{line}\nsettle\n", "shape"))
    assert repr(outcome.cluster.log.calls[0].op) == expected


def test_a_from_key_watch_asks_for_every_key_from_its_key_on():
    outcome = run(load("cluster 3 clients=1 seed=1\ntick 40\nc1 watch k/b from-key\nc1 put k/a 1\nsettle\n"
                       "c1 put k/c 2\nsettle\n", "from-key"))
    (stream,) = outcome.cluster.log.streams
    assert (stream.key, stream.range_end) == (b"k/b", b"\0")
    assert [e.kv.key for r in stream.responses for e in r.events] == [b"k/c"]


def test_a_grant_of_an_id_in_use_is_judged_against_the_model():
    """KV-RESPONSE-MATCHES-MODEL judges the answer to a grant that names its ID: the golden
    scenario's second grant of ID 1 answered ErrLeaseExist, as the model does, and the same
    entry or call answered with a lease instead is reported."""
    outcome = run(load((SCENARIOS / "etcd-lease-grant-id.scenario").read_text(), "id"))
    entries = tuple(outcome.cluster.observation.entries)
    taken = next(e for e in entries if e.answer == {"error": "ErrLeaseExist"})
    assert taken.request == LeaseGrantRequest(30, 1)
    record = next(r for r in outcome.cluster.log.calls if (r.client, r.request_id) == taken.origin)
    assert record.error == ErrLeaseExist.message
    model = StoreModel(min_lease_ttl=MIN_LEASE_TTL)
    granted = {"revision": 3, "id": 1, "ttl": 30}
    call = ClientCall(record.client, record.request_id, record.op, record.invoked, record.completed, granted, "grant")
    assert judge(entries, (), model).mismatches == []
    tampered = tuple(replace(e, answer=granted) if e is taken else e for e in entries)
    for verdict in (judge(tampered, (), model), judge(entries, (call,), model)):
        assert len(verdict.mismatches) == 1 and "the model says 'ErrLeaseExist'" in verdict.mismatches[0]


def test_a_lease_read_from_before_a_keyless_revoke_is_stale_not_wrong():
    """A revoke of a lease without keys makes no revision, so a deposed leader that missed it
    answers time-to-live with the lease alive at the current revision. A state of the model gave
    that answer, the one before the revoke: a stale read (KV-LINEARIZABLE), not a wrong answer.
    (It was reported as wrong once the machine's lease recipe through a deposed leader, etcd
    #15247's, really sent its grant: the catalog's read-without-read-index.)"""
    model = StoreModel(min_lease_ttl=MIN_LEASE_TTL)
    grant = CommittedEntry(1, 0, LeaseGrantRequest(10, 5), ("c1", 1), {"revision": 1, "id": 5, "ttl": 10}, (), "grant")
    revoke = CommittedEntry(2, 2, LeaseRevokeRequest(5), ("c1", 2), {"revision": 1}, (), "revoke")
    alive = {"revision": 1, "id": 5, "ttl": 3, "granted_ttl": 10, "keys": ()}

    def asked(invoked: int, answer: dict) -> ClientCall:
        return ClientCall("c2", 1, LeaseTimeToLiveRequest(5), invoked, invoked + 1, answer, "time-to-live 5")

    before = judge((grant, revoke), (asked(0, alive),), model)  # may have come before the revoke
    after = judge((grant, revoke), (asked(3, alive),), model)  # invoked after the revoke applied
    wrong = judge((grant, revoke), (asked(3, dict(alive, granted_ttl=9)),), model)  # no state says 9
    assert (before.mismatches, before.stale) == ([], [])
    assert after.mismatches == [] and len(after.stale) == 1
    assert len(wrong.mismatches) == 1 and wrong.stale == []
