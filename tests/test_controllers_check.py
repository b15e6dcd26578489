"""The controllers area (checks/controllers): its golden scenarios hold on the reference, the
example operator passes and its edge-triggered variant is caught with a readable report, the
invariants' rules say what they should on hand-made objects, the search runs, and bad input is a
one-line error with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks.cli import main
from checks.controllers.fixpoint import STUCK_QUIET_TICKS, is_perturbation, snapshot, twin_lines, writes_since
import checks.controllers.scenario as scenario_module
from checks.controllers.scenario import load, run
from checks.controllers.search import REPLAYS_MAX, search, shrink
from checks.minimize import shrink_found
from checks.controllers.user_actions import crash_loops
from impl.catalog import all_bugs
from impl.controllers.parts import ControllersParts
from spec.controllers.desired import job_left, leaks, template_hash_free
from spec.controllers.safety import (
    endpoints_ready_problems, gc_delete_problems, leader_problems, rollout_limits, status_problems, surge_problems,
    unavailable_problems,
)

SCENARIOS = Path(__file__).parent / "scenarios"
GOLDEN = sorted(SCENARIOS.glob("controllers-*.scenario"))
COPIER = SCENARIOS / "controllers-settings-copier-unlabelled-while-down.scenario"
BUGGY_COPIER = "examples.settings_copier_buggy:EdgeTriggeredSettingsCopier"


def _kinv(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----- runs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", GOLDEN, ids=lambda path: path.name)
def test_golden_scenarios_replay_as_they_expect(path):
    outcome = run(load(path.read_text(), str(path)))
    assert outcome.expectation_failure is None, outcome.violation


def test_the_edge_triggered_copier_is_caught_with_a_readable_report(tmp_path, capsys):
    text = COPIER.read_text().replace("examples.settings_copier:SettingsCopier", BUGGY_COPIER)
    text = text.replace("expect held", "expect violated CTRL-LEVEL-TRIGGERED")
    scenario = tmp_path / "buggy.scenario"
    scenario.write_text(text)
    code, out, _ = _kinv(capsys, "replay", str(scenario), "--report", str(tmp_path / "report"), "--json")
    result = json.loads(out)
    assert (code, result["result"], result["invariant"]) == (1, "violated", "CTRL-LEVEL-TRIGGERED")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "configmaps team-a/settings" in report and "without the perturbations" in report
    assert "crash op1" in (tmp_path / "report" / "counterexample.scenario").read_text()


def test_a_host_restarted_via_a_lagging_instance_leads_on_its_stale_cache():
    text = (SCENARIOS / "controllers-restart-via-a-lagging-instance.scenario").read_text()
    before_heal = text[:text.index("heal\n")].replace("expect held", "")
    cluster = run(load(before_heal, "<lag>")).cluster
    host = cluster.host("cm1")
    assert host is not None and host.acting_leader() and host.connection.instance == "a1"
    assert cluster.instance("a1").cache_revision() < cluster.instance("a2").cache_revision()
    assert cluster.world.network.held and not cluster.world.network.blocked
    pods = [p for p in cluster.stored("pods") if p.startswith("default/web-")]
    assert len(pods) == 2  # the scale to 3 is not seen through a1's cache
    cluster.heal()
    assert cluster.lagging == set() and not cluster.world.network.held


def test_rollout_undo_goes_to_the_second_highest_revision_though_it_crash_loops():
    """kubectl's undo target (rollback.go deploymentRevision) where the scenario fixes by image:
    revision 2, the broken nginx:1.28, since the fix in between never reached a Deployment
    controller; so the machine's user fixes by image there instead of undoing."""
    text = (SCENARIOS / "controllers-undo-target-is-an-earlier-broken-release.scenario").read_text()
    before_fix = text[:text.index("tick 120\n") + len("tick 120\n")]
    cluster = run(load(before_fix, "<undo>")).cluster
    previous = cluster.previous_template("default/web")
    assert crash_loops(previous) and previous["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_a_stuck_run_is_judged_once_nothing_could_change_it():
    """crash-between-writes-stuck never repairs its rollout: with every controller idle and no work
    scheduled (its progress-deadline check aside), the verdict comes 150 quiet ticks in, not at
    the 1,200-tick bound; and a fixpoint fight is judged 150 ticks after the state was reached."""
    for name, reason in (("crash-between-writes-stuck", "stuck: no write for 150 ticks"),
                         ("condition-stamped-every-sync", "150 ticks since it was reached")):
        bug = next(b for b in all_bugs("controllers") if b.name == name)
        outcome = run(load((SCENARIOS / "controllers" / f"{name}.scenario").read_text(), name), bug.override)
        assert outcome.violation is not None and reason in outcome.violation.message
        assert int(outcome.violation.message.split(" ticks after")[0].split()[-1]) < STUCK_QUIET_TICKS * 2


def test_an_eviction_scheduled_after_a_long_quiet_spell_is_waited_for():
    """A powered-off node's pod tolerates its taint for 300 s: the fault-free phase is quiet, every
    controller idle, for far longer than the stuck window, with the eviction scheduled; the run
    must converge after it, not be judged stuck."""
    text = (SCENARIOS / "controllers-power-off-a-node.scenario").read_text()
    outcome = run(load(text, "<power-off>"))
    assert outcome.violation is None
    writes = writes_since(outcome.cluster, 0)
    eviction = next(i for i, c in enumerate(writes) if c.request.method == "DELETE" and "/pods/" in c.request.path)
    assert writes[eviction].started - writes[eviction - 1].started > STUCK_QUIET_TICKS


def test_shrinking_what_is_not_level_triggered_goes_without_the_twin_and_ends_the_same(monkeypatch):
    """cleanup-only-on-delete-event's scenario crashes controller managers: a shrinker's candidate
    that no longer fails reaches the twin, which can only break CTRL-LEVEL-TRIGGERED. Shrinking
    CTRL-NO-LEAK without it gives the same lines, with no twin run."""
    bug = next(b for b in all_bugs("controllers") if b.name == "cleanup-only-on-delete-event")
    found = run(load((SCENARIOS / "controllers" / f"{bug.name}.scenario").read_text(), bug.name), bug.override)
    twins = []
    real_twin = scenario_module.run_lines
    monkeypatch.setattr(scenario_module, "run_lines", lambda lines, parts: twins.append(lines) or real_twin(lines, parts))
    with_twin, _ = shrink_found(found.cluster, found.violation,
                                lambda text: run(load(text, "<minimize>"), bug.override, lenient=True), REPLAYS_MAX)
    assert twins, "no candidate reached the twin: the scenario no longer shows what this test is about"
    twins.clear()
    shrunk, violation = shrink(found.cluster, bug.override, found.violation)
    assert not twins and violation.signature == found.violation.signature and shrunk.lines == with_twin.lines


def test_a_short_search_of_the_reference_holds():
    outcome = search(ControllersParts(), seed=3, budget_seconds=600, examples_max=1)
    assert outcome.violation is None and outcome.examples >= 1


# ----- the rules -------------------------------------------------------------------------------------

def _deployment(replicas=4, surge=None, unavailable=None, **status):
    rolling = {k: v for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable)) if v is not None}
    return {"metadata": {"uid": "d", "generation": status.pop("generation", 1)},
            "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
                     "template": {"metadata": {"labels": {"app": "web"}}}},
            "status": status}


def test_percentages_round_as_kube_does_and_both_zero_means_one_unavailable():
    assert rollout_limits(_deployment(), 3) == (1, 0)  # 25% of 3: surge up to 1, unavailable down to 0
    assert rollout_limits(_deployment(surge="50%", unavailable="50%"), 3) == (2, 1)
    assert rollout_limits(_deployment(surge=0, unavailable="10%"), 3) == (0, 1)  # ResolveFenceposts


def test_surge_and_unavailable_bounds():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
    assert surge_problems("default/web", _deployment(), [pod] * 5) == []
    assert surge_problems("default/web", _deployment(), [pod] * 6) == [
        "deployment default/web: 6 active pods, more than 4 replicas + maxSurge 1"]
    assert unavailable_problems("default/web", _deployment(), 3, ["p"]) == []  # 4 - 1
    assert unavailable_problems("default/web", _deployment(), 2, ["p"]) == [
        "deployment default/web: deleting p left 2 available pods, fewer than 4 replicas - maxUnavailable 1"]


def test_two_replica_sets_of_one_template_running_excuse_the_surge_bound():
    # kube's own race: a second "new" ReplicaSet named after a collisionCount bump its cache missed.
    def replica_set(uid, pod_template_hash, replicas):
        labels = {"app": "web", "pod-template-hash": pod_template_hash}
        return {"metadata": {"uid": uid, "ownerReferences": [{"uid": "d", "controller": True}]},
                "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels}}}}

    def pod(owner):
        return {"metadata": {"name": "p", "ownerReferences": [{"uid": owner, "controller": True}]},
                "status": {"phase": "Running"}}
    pods = [pod("a")] * 4 + [pod("b")] * 3
    first, second = replica_set("a", "h0", 4), replica_set("b", "h1", 0)
    assert surge_problems("default/web", _deployment(), pods, [first, second]) == []  # b's pods still run
    assert surge_problems("default/web", _deployment(), pods[:4] + [pod("a")] * 2, [first, second]) == [
        "deployment default/web: 6 active pods, more than 4 replicas + maxSurge 1"]  # b runs nothing
    other = replica_set("b", "h1", 3)
    other["spec"]["template"]["metadata"]["labels"]["app"] = "api"
    assert surge_problems("default/web", _deployment(), pods, [first, other]) == [
        "deployment default/web: 7 active pods, more than 4 replicas + maxSurge 1"]  # two templates


def test_pods_an_old_replica_set_is_yet_to_delete_after_its_scale_down_do_not_count():
    # kube bounds the ReplicaSets' spec.replicas; the old one's controller deletes its surplus later.
    def pod(uid, owner):
        return {"metadata": {"uid": uid, "ownerReferences": [{"uid": owner, "controller": True}]},
                "status": {"phase": "Running"}}
    old = {"metadata": {"uid": "old"}, "spec": {"replicas": 1}}
    new = {"metadata": {"uid": "new"}, "spec": {"replicas": 1}}
    pods = [pod("p1", "old"), pod("p2", "old"), pod("p3", "new")]
    deployment = _deployment(replicas=2, surge=0, unavailable=1)
    assert surge_problems("default/web", deployment, pods, [old, new], {"p1", "p2"}) == []
    assert surge_problems("default/web", deployment, pods, [old, new], set()) == [  # created beyond spec
        "deployment default/web: 3 active pods, more than 2 replicas + maxSurge 0"]


def test_a_status_that_observed_the_generation_needs_a_replica_set_of_its_template():
    deployment = _deployment(generation=2, observedGeneration=2, updatedReplicas=4)
    owned = {"metadata": {"ownerReferences": [{"uid": "d", "controller": True}]},
             "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}}}}
    assert status_problems("default/web", deployment, [owned]) == []
    other = json.loads(json.dumps(owned).replace('"web"', '"old"'))
    assert status_problems("default/web", deployment, [other]) == [
        "deployment default/web: status says generation 2 is observed with 4 updated replicas, but no "
        "ReplicaSet of that template exists"]
    assert template_hash_free(owned["spec"]["template"]) == {"metadata": {"labels": {"app": "web"}}}


def test_the_garbage_collector_may_not_delete_under_a_live_owner():
    child = {"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "u1"}]}}
    live, going = {"metadata": {}}, {"metadata": {"deletionTimestamp": "t"}}
    assert gc_delete_problems("Pod default/p", child, {"u1": going}) == []
    assert gc_delete_problems("Pod default/p", child, {}) == []
    assert gc_delete_problems("Pod default/p", child, {"u1": live}) == [
        "the garbage collector deleted Pod default/p, whose owner ReplicaSet rs (uid u1) is alive"]
    assert leader_problems("kube-system/x", ["cm1"]) == []
    assert leader_problems("kube-system/x", ["cm1", "cm2"]) == ["cm1 and cm2 both act as leader of Lease kube-system/x"]


def test_a_ready_address_must_name_a_pod_that_has_been_ready():
    def address(uid):
        return {"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "namespace": "default", "name": f"web-{uid}", "uid": uid}}
    endpoints = {"subsets": [{"addresses": [address("u1")], "notReadyAddresses": [address("u2")]}]}
    assert endpoints_ready_problems("default/web", endpoints, None, {"u1"}) == []  # a not-ready address may be anyone
    assert endpoints_ready_problems("default/web", endpoints, None, set()) == [
        "endpoints default/web list pod web-u1 as a ready address, and it has never been Ready"]
    publishing = {"spec": {"publishNotReadyAddresses": True}}
    assert endpoints_ready_problems("default/web", endpoints, publishing, set()) == []


def test_leaks_and_unfinished_jobs_are_explained():
    objects = {"configmaps": {"default/c": {"metadata": {"uid": "c", "ownerReferences": [{"uid": "gone", "kind": "X",
                                                                                            "name": "x"}]}}},
               "endpoints": {"default/web": {"metadata": {"uid": "e"}}},
               "pods": {"default/p": {"metadata": {"uid": "p"}, "spec": {"nodeName": "node-9"}}}}
    assert leaks(objects) == ["configmaps default/c: its owners are all gone (X x)",
                              "endpoints default/web: no Service default/web",
                              "pod default/p: bound to node node-9, which no longer exists"]
    job = {"metadata": {"uid": "j"}, "spec": {"completions": 2}, "status": {"succeeded": 1}}
    assert job_left("default/j", job, []) == ["job default/j: not finished (succeeded 1 of 2, failed 0)"]


def test_the_twin_drops_only_the_perturbations_and_masks_uids():
    lines = ["cluster seed=1", "apply '{}'", "crash cm1", "crash k1", "restart cm1", "maybe hide-events cm2 3",
             "crash-between-writes op1 within=5", "lag a1", "restart cm2 via a2", "remove-node k2", "converge"]
    assert twin_lines(lines) == ["cluster seed=1", "apply '{}'", "crash k1", "remove-node k2", "converge"]
    assert is_perturbation("maybe crash sched") and not is_perturbation("crash n1")
    objects = {"configmaps": {"a/c": {"metadata": {"uid": "u", "labels": {"owner": "u"}}, "data": {"k": "v"}}},
               "pods": {"a/p": {"metadata": {"namespace": "a", "ownerReferences": [
                   {"controller": True, "kind": "ReplicaSet", "name": "rs"}]}, "status": {"phase": "Running"}}}}
    assert snapshot(objects) == {
        "configmaps a/c": {"labels": {"owner": "<uid>"}, "annotations": {}, "deleting": False, "spec": {},
                           "data": {"k": "v"}},
        "pods of ReplicaSet a/rs": 1}


def _storage(binding: dict[str, str]) -> dict:
    """Volumes pv-1 and pv-2, claims a/c1 and a/c2, bound as ``binding`` says (claim -> volume)."""
    volumes = {name: {"metadata": {"name": name}, "spec": {"capacity": {"storage": "1Gi"}}} for name in ("pv-1", "pv-2")}
    claims = {key: {"metadata": {"name": key[2:], "namespace": "a"}, "spec": {}} for key in ("a/c1", "a/c2")}
    for claim, volume in binding.items():
        claims[claim]["spec"]["volumeName"] = volume
        volumes[volume]["spec"]["claimRef"] = {"namespace": "a", "name": claim[2:]}
        volumes[volume]["metadata"]["annotations"] = {"pv.kubernetes.io/bound-by-controller": "yes"}
    return {"persistentvolumes": volumes, "persistentvolumeclaims": claims}


def test_the_twin_compares_whether_claims_are_bound_not_to_which_volume():
    # The binder takes the smallest fitting volume its cache holds: which one depends on timing.
    assert snapshot(_storage({"a/c1": "pv-1"})) == snapshot(_storage({"a/c1": "pv-2"}))
    assert snapshot(_storage({"a/c1": "pv-1"})) != snapshot(_storage({"a/c2": "pv-1"}))  # another claim bound
    assert snapshot(_storage({"a/c1": "pv-1"})) != snapshot(_storage({}))  # no claim bound


# ----- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["check", "controllers", "--controller", "nope"], "--controller wants MODULE:CLASS"),
    (["check", "controllers", "--controller", "no_such_module:X"], "cannot import no_such_module"),
    (["check", "controllers", "--controller", "examples.settings_copier:Missing"], "has no Missing"),
    (["check", "controllers", "--controller", "json:JSONDecoder"], "is not a reconciler"),
    (["check", "controllers", "-f", "examples/settings-copier"], "use it with --controller"),
    (["check", "raft", "--controller", "examples.settings_copier:SettingsCopier"], "the area controllers alone"),
    (["check", "controllers", "--controller", "examples.settings_copier:SettingsCopier", "-f", "no/such/dir"],
     "no such file or folder"),
])
def test_bad_user_controller_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = _kinv(capsys, *argv)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("line,message", [
    ("apply '{not json'", "apply: not JSON"),
    ("apply '{\"apiVersion\":\"v1\",\"kind\":\"Gizmo\",\"metadata\":{\"name\":\"g\"}}'", "apply:"),
    ("delete pods Bad_Name", "is not NAME or NAMESPACE/NAME"),
    ("delete pods default/p propagation=Sometimes", "usage: delete"),
    ("delete pods default/p grace=soon", "grace must be an integer"),
    ("delete pods default/p grace=0 grace=1", "usage: delete"),
    ("delete pods default/p later=1", "usage: delete"),
    ("webhook-outage", "usage: webhook-outage K [fail=P]"),
    ("webhook-outage soon", "ticks must be an integer"),
    ("webhook-outage 30 50", "usage: webhook-outage K [fail=P]"),
    ("webhook-outage 30 fail=0", "fail must be an integer from 1 to 100"),
    ("scale deployment web 3", "usage: scale deployment NS/NAME N"),
    ("hide-events n1 3", "unknown node 'n1'"),
    ("restart cm1 via n1", "unknown node 'n1'"),
    ("crash-between-writes cm1 within=x", "within must be an integer"),
    ("frobnicate", "unknown command 'frobnicate'"),
    ("rollout-status deployment web", "usage: rollout-status deployment NS/NAME [within=K]"),
    ("rollout-status deployment default/web soon", "usage: rollout-status deployment NS/NAME [within=K]"),
    ("rollout-status deployment default/web within=0", "within"),
    ("power-off cm1", "unknown node 'cm1'"),
    ("power-off k1 k2", "usage: power-off kN|aN"),
])
def test_a_malformed_scenario_line_is_refused_at_its_line(tmp_path, capsys, line, message):
    scenario = tmp_path / "bad.scenario"
    scenario.write_text(f"area controllers\ncluster members=1 apiservers=2 managers=2 nodes=3 seed=1\n{line}\n")
    code, out, err = _kinv(capsys, "replay", str(scenario))
    assert code == 2 and "bad.scenario:3: " in err and message in err, err


def test_an_exception_in_the_users_reconciler_is_a_finding_that_names_their_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "crashy.py").write_text(
        "from impl.controllers.api import Result, Watch\n"
        "class Crashy:\n"
        "    name = 'crashy'\n"
        "    watches = (Watch('namespaces'),)\n"
        "    def reconcile(self, request, cache, client):\n"
        "        if request.name == 'kinv-system':\n"
        "            raise KeyError('spec')\n"
        "        return Result()\n"
        "        yield\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = tmp_path / "crash.scenario"
    scenario.write_text("area controllers\ncluster members=1 apiservers=2 managers=2 nodes=3 seed=1 "
                        "controller=crashy:Crashy\ntick 20\n"
                        "apply '{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"kinv-system\"}}'\n"
                        "tick 10\n")
    code, out, _ = _kinv(capsys, "replay", str(scenario), "--report", str(tmp_path / "report"), "--json")
    result = json.loads(out)
    assert (code, result["invariant"]) == (1, "IMPL-EXCEPTION")
    assert f"KeyError: 'spec' (raised at {(tmp_path / 'crashy.py').resolve().as_posix()}:7 in reconcile)" in (
        tmp_path / "report" / "report.md").read_text()


def test_endpoints_list_the_selected_pods_by_readiness_and_namespaces_keep_their_default_account():
    from spec.controllers.desired import desired_left, endpoints_left

    def pod(name, ready, deleting=False):
        return {"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"},
                             **({"deletionTimestamp": "t"} if deleting else {})},
                "status": {"phase": "Running", "podIP": "10.0.0.1",
                           "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    service = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}}}
    endpoints = {"subsets": [{"addresses": [{"targetRef": {"name": "a"}}], "notReadyAddresses": [
        {"targetRef": {"name": "b"}}]}]}
    pods = [pod("a", True), pod("b", False), pod("c", True, deleting=True)]
    assert endpoints_left("default/web", service, endpoints, pods) == []
    assert endpoints_left("default/web", service, endpoints, pods + [pod("d", True)]) == [
        "endpoints default/web: addresses a, not a, d"]
    assert endpoints_left("default/web", service, None, pods) == ["service default/web: no Endpoints"]
    namespaces = {"namespaces": {"team": {"metadata": {"name": "team"}, "status": {"phase": "Active"}}}}
    assert desired_left(namespaces) == ["namespace team: no ServiceAccount default"]
