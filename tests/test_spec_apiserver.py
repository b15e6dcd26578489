"""spec/apiserver/invariants.py: each invariant on hand-built views, where it holds and where it breaks."""

from __future__ import annotations

import attrs

from spec.apiserver import INVARIANTS
from spec.apiserver.invariants import (
    ADMISSION_ORDER, ADMISSION_VALID, API_NO_ESCALATION, API_READ_CONSISTENT, API_WATCH, AUTHZ_SOUND,
    MUTATING_PLUGINS, NAMESPACE_TERMINATING, NO_LOST_UPDATE, QUOTA_NEVER_EXCEEDED, TOKEN_REVOCATION,
    VALIDATING_PLUGINS, Selection, parse_label_selector,
)
from spec.apiserver.observations import ApiView, AuditRecord, Call, Change, Identity, Step, WatchStream

RBAC = "rbac.authorization.k8s.io"


# ----- builders ----------------------------------------------------------------------------------

def steps(*names, outcome="ok"):
    return tuple(Step(n, outcome) for n in names)


HEAD = ("authentication", "authorization")
MUTATING = tuple(f"mutating:{p}" for p in MUTATING_PLUGINS)
VALIDATING = tuple(f"validating:{p}" for p in VALIDATING_PLUGINS)
WRITE = MUTATING + ("validation",) + VALIDATING + ("persist",)
RBAC_WRITE = MUTATING + ("escalation", "validation") + VALIDATING + ("persist",)


def audit(steps_=steps(*HEAD, *WRITE), **kw):
    fields = dict(audit_id="i1-1", instance="i1", client="c1", verb="create", operation="CREATE", resource="pods",
                  group="", subresource="", namespace="ns1", name="p1", path="/api/v1/namespaces/ns1/pods",
                  user="alice", groups=("system:authenticated",), authenticated_as="alice", method="x509",
                  token_account_uid="", steps=steps_, code=201, received=1, completed=2, persisted_revision=5,
                  policy_revision=1, request_id=1)
    fields.update(kw)
    return AuditRecord(**fields)


def obj(name, namespace="ns1", rv=1, labels=None, **extra):
    meta = {"name": name, "resourceVersion": str(rv), "labels": labels or {}}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta, **extra}


def change(revision, resource, name, object_, namespace="ns1"):
    key = f"/registry/{resource}/{namespace + '/' if namespace else ''}{name}"
    return Change(revision, key, resource, namespace, name, object_)


def call(verb, resource="pods", name="p1", namespace="ns1", code=200, body=None, started=1, finished=2, **kw):
    fields = dict(client="c1", request_id=1, instance="i1", method="GET", query=(), precondition=0,
                  identity="alice")
    fields.update(kw)
    path = fields.pop("path", f"/api/v1/{'namespaces/' + namespace + '/' if namespace else ''}{resource}")
    return Call(verb=verb, resource=resource, name=name, namespace=namespace, code=code, body=body, started=started,
                finished=finished, path=path, **fields)


def test_the_area_lists_ten_invariants():
    assert [i.id for i in INVARIANTS] == [
        "ADMISSION-ORDER", "ADMISSION-VALID", "QUOTA-NEVER-EXCEEDED", "NAMESPACE-TERMINATING", "NO-LOST-UPDATE",
        "API-WATCH", "API-READ-CONSISTENT", "AUTHZ-SOUND", "API-NO-ESCALATION", "TOKEN-REVOCATION"]
    assert all(i.area == "apiserver" and i.source and i.why and i.predicate for i in INVARIANTS)
    assert all(i.predicate(ApiView()) == [] for i in INVARIANTS)


# ----- ADMISSION-ORDER ---------------------------------------------------------------------------

def order(*records, changes=()):
    return ADMISSION_ORDER.predicate(ApiView(audits=records, changes=changes))


def test_admission_order_holds_for_a_whole_write_with_skipped_steps_and_webhook_details():
    skipped = tuple(Step(n, "skipped" if "Storage" in n else "changed" if "Account" in n else "ok") for n in WRITE)
    detailed = skipped[:5] + (Step("webhook:w1", "ignored"),) + skipped[5:]
    assert order(audit(steps(*HEAD) + detailed)) == []


def test_admission_order_allows_retries_and_reinvocation():
    first = steps(*MUTATING, "validation", *VALIDATING[:3])
    retried = steps(*MUTATING, "reinvoke:LimitRanger", "reinvoke:MutatingAdmissionWebhook", "validation",
                    *VALIDATING, "persist")
    record = audit(steps(*HEAD) + first + steps("retry", outcome="conflict") + retried, verb="update",
                   operation="UPDATE", code=200)
    assert order(record) == []


def test_admission_order_impersonation_and_rbac_escalation_step():
    assert order(audit(steps("authentication", "impersonation", "authorization", *RBAC_WRITE),
                       resource="roles", group=RBAC)) == []
    problems = order(audit(steps(*HEAD, *RBAC_WRITE)))  # a pod write has no escalation step
    assert problems and "step escalation ran after mutating:MutatingAdmissionWebhook, where validation was expected" in problems[0]
    missing = order(audit(steps(*HEAD, *WRITE), resource="rolebindings", group=RBAC))
    assert "where escalation was expected" in missing[0]


def test_admission_order_breaks_when_validating_runs_before_mutating():
    bad = steps(*HEAD, VALIDATING[0], *MUTATING, "validation", *VALIDATING[1:], "persist")
    problems = order(audit(bad))
    assert len(problems) == 1
    assert problems[0].startswith("audit i1-1 (client c1 request 1) CREATE pods ns1/p1: attempt 1: step "
                                  "validating:LimitRanger ran after the filters, where "
                                  "mutating:NamespaceLifecycle was expected")


def test_admission_order_breaks_when_a_step_is_left_out_or_persist_follows_a_refusal():
    left_out = steps(*HEAD, *[s for s in WRITE if s != "validating:PodSecurity"])
    assert "step validating:ValidatingAdmissionWebhook ran after validating:ServiceAccount, where " \
           "validating:PodSecurity was expected" in order(audit(left_out))[0]
    refused = steps(*HEAD, *WRITE[:-2]) + (Step("validating:ResourceQuota", "refused"), Step("persist", "ok"))
    assert "attempt 1: persisted after validating:ResourceQuota(refused)" in order(audit(refused))[0]
    # admission after a refused authorization
    assert "admission ran after the filters authentication(ok), authorization(refused)" in order(
        audit((Step("authentication", "ok"), Step("authorization", "refused")) + steps(*WRITE), code=403,
              persisted_revision=0))[0]


def test_admission_order_for_delete():
    delete = MUTATING + VALIDATING + ("persist",)  # both admission phases; no object to validate
    assert order(audit(steps(*HEAD, *delete), verb="delete", operation="DELETE", code=200)) == []
    problems = order(audit(steps(*HEAD, *WRITE), verb="delete", operation="DELETE", code=200))
    assert "step validation ran after mutating:MutatingAdmissionWebhook, where validating:LimitRanger" in problems[0]
    # deletecollection: item after item
    collection = steps(*HEAD, *delete, *delete)
    assert order(audit(collection, verb="deletecollection", operation="DELETE", code=200)) == []


def test_a_refused_request_left_nothing():
    refused = steps(*HEAD, *WRITE[:-2]) + (Step("validating:ResourceQuota", "refused"),)
    assert order(audit(refused, code=403, persisted_revision=0)) == []
    wrote = steps(*HEAD, *WRITE)
    problems = order(audit(wrote, code=409, persisted_revision=7), changes=(change(7, "pods", "p1", obj("p1")),))
    assert problems == [
        "audit i1-1 (client c1 request 1) CREATE pods ns1/p1 was refused with 409 but has a persist step with outcome ok",
        "audit i1-1 (client c1 request 1) CREATE pods ns1/p1 was refused with 409 but has persisted_revision 7",
        "audit i1-1 (client c1 request 1) CREATE pods ns1/p1 was refused with 409 but the store committed a "
        "change at its revision 7"]


# ----- ADMISSION-VALID ---------------------------------------------------------------------------

def test_admission_valid():
    assert ADMISSION_VALID.predicate(ApiView()) == []
    problems = ADMISSION_VALID.predicate(ApiView(admission_problems=((4, "/registry/pods/ns1/p", "runAsNonRoot unset"),)))
    assert problems == ["object /registry/pods/ns1/p persisted at revision 4: runAsNonRoot unset"]


# ----- QUOTA-NEVER-EXCEEDED ----------------------------------------------------------------------

def quota(hard, status=True, name="q"):
    return obj(name, spec={"hard": hard}, status={"hard": hard} if status else {})


def test_quota_holds_at_the_limit_and_ignores_terminal_pods():
    changes = (change(2, "resourcequotas", "q", quota({"pods": "2", "count/configmaps": "1"})),
               change(3, "pods", "a", obj("a")),
               change(4, "pods", "done", obj("done", status={"phase": "Succeeded"})),
               change(5, "pods", "b", obj("b")),
               change(6, "configmaps", "c", obj("c")),
               change(7, "secrets", "s", obj("s")))
    assert QUOTA_NEVER_EXCEEDED.predicate(ApiView(changes=changes)) == []


def test_quota_breaks_when_a_create_goes_over():
    changes = (change(2, "resourcequotas", "q", quota({"count/deployments.apps": "1", "requests.cpu": "1"})),
               change(3, "deployments", "a", obj("a")),
               change(4, "deployments", "b", obj("b")),
               change(5, "deployments", "b", obj("b", rv=5)))  # an update is no create
    assert QUOTA_NEVER_EXCEEDED.predicate(ApiView(changes=changes)) == [
        "creating /registry/deployments/ns1/b at revision 4 brought count/deployments.apps in namespace ns1 "
        "to 2, over ResourceQuota q's hard limit 1"]


def test_quota_without_status_or_in_another_namespace_does_not_count():
    changes = (change(2, "resourcequotas", "q", quota({"pods": "0"}, status=False)),
               change(3, "resourcequotas", "q", quota({"pods": "0"}), namespace="ns2"),
               change(4, "pods", "a", obj("a")))
    assert QUOTA_NEVER_EXCEEDED.predicate(ApiView(changes=changes)) == []
    # a quota created over its limit does not judge creates of other resources
    over = (change(2, "pods", "a", obj("a")), change(3, "resourcequotas", "q", quota({"pods": "0"})),
            change(4, "secrets", "s", obj("s")))
    assert QUOTA_NEVER_EXCEEDED.predicate(ApiView(changes=over)) == []


# ----- NAMESPACE-TERMINATING ---------------------------------------------------------------------

DELETE_NS = call("delete", "namespaces", "ns1", "", 200, obj("ns1", ""), started=8, finished=10, request_id=9,
                 path="/api/v1/namespaces/ns1")


def test_namespace_terminating_breaks_for_a_create_started_after_the_acknowledgement():
    create = call("create", "pods", "", "ns1", 201, obj("p9"), started=11, finished=12, request_id=11, client="c2")
    assert NAMESPACE_TERMINATING.predicate(ApiView(calls=(DELETE_NS, create))) == [
        "c2 request 11 (create pods ns1) created pods ns1/p9 (started at tick 11, code 201) after c1 request 9 "
        "(delete namespaces ns1) was told at tick 10 that namespace ns1 is being deleted, and no create of "
        "namespace ns1 finished in between"]


def test_namespace_terminating_allows_in_flight_creates_recreated_namespaces_and_subresources():
    in_flight = call("create", "pods", "", "ns1", 201, obj("p9"), started=9, finished=12)
    refused = call("create", "pods", "", "ns1", 403, None, started=11, finished=12)
    binding = call("create", "pods", "p1", "ns1", 201, obj("p1"), started=11, finished=12,
                   path="/api/v1/namespaces/ns1/pods/p1/binding")
    recreate = call("create", "namespaces", "", "", 201, obj("ns1", ""), started=12, finished=13)
    after = call("create", "configmaps", "", "ns1", 201, obj("c"), started=14, finished=15)
    view = ApiView(calls=(DELETE_NS, in_flight, refused, binding, recreate, after))
    assert NAMESPACE_TERMINATING.predicate(view) == []
    # Re-created concurrently (answered after the later create started): a controller watching
    # namespaces may have seen the new one first.
    view = ApiView(calls=(DELETE_NS, attrs.evolve(recreate, finished=15), after))
    assert NAMESPACE_TERMINATING.predicate(view) == []
    view = ApiView(calls=(DELETE_NS, attrs.evolve(recreate, started=16, finished=17), after))
    assert len(NAMESPACE_TERMINATING.predicate(view)) == 1


# ----- NO-LOST-UPDATE ----------------------------------------------------------------------------

def test_no_lost_update():
    first = call("update", body=obj("p1", rv=6), precondition=5, request_id=1)
    other = call("update", body=obj("p1", rv=7), precondition=6, request_id=2)
    assert NO_LOST_UPDATE.predicate(ApiView(calls=(first, other))) == []
    lost = call("patch", body=obj("p1", rv=7), precondition=5, request_id=3, client="c2")
    assert NO_LOST_UPDATE.predicate(ApiView(calls=(first, lost))) == [
        "c1 request 1 (update pods ns1/p1) and c2 request 3 (patch pods ns1/p1) both succeeded writing pods ns1/p1 "
        "from resourceVersion 5 (returned 6 and 7): one overwrote the other"]
    stale = call("update", body=obj("p1", rv=5), precondition=5)
    assert NO_LOST_UPDATE.predicate(ApiView(calls=(stale,))) == [
        "c1 request 1 (update pods ns1/p1) succeeded with precondition resourceVersion 5 but returned "
        "resourceVersion 5, not a newer one"]
    conflict = call("update", code=409, body=None, precondition=5, request_id=4)
    assert NO_LOST_UPDATE.predicate(ApiView(calls=(first, conflict))) == []
    # an update that removed the last finalizer of an object being deleted returns its last state
    finished = obj("p1", rv=5)
    finished["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert NO_LOST_UPDATE.predicate(ApiView(calls=(call("update", body=finished, precondition=5),))) == []


# ----- API-WATCH ---------------------------------------------------------------------------------

def watch(events, from_revision=3, label_selector="", field_selector="", **kw):
    return WatchStream("c1", 7, "i1", "pods", "", "ns1", label_selector, field_selector, from_revision,
                       tuple(events), **kw)


HISTORY = (change(2, "pods", "a", obj("a", rv=2, labels={"app": "web"})),
           change(4, "pods", "a", obj("a", rv=4, labels={"app": "web", "v": "2"})),
           change(5, "pods", "b", obj("b", rv=5, labels={"app": "db"})),
           change(6, "pods", "a", obj("a", rv=6, labels={"app": "db"})),
           change(7, "configmaps", "x", obj("x", rv=7)),
           change(8, "pods", "b", None),
           change(9, "pods", "c", obj("c", rv=9), namespace="ns2"))


def ev(kind, revision, name):
    return (kind, revision, obj(name, rv=revision))


def watches(*streams):
    return API_WATCH.predicate(ApiView(changes=HISTORY, watches=streams))


def test_watch_holds_for_the_exact_stream_with_bookmarks():
    events = [ev("MODIFIED", 4, "a"), ev("ADDED", 5, "b"), ("BOOKMARK", 5, {}), ev("MODIFIED", 6, "a"),
              ev("DELETED", 8, "b"), ("BOOKMARK", 9, {})]
    assert watches(watch(events)) == []
    assert watches(watch([], error_code=410)) == []


def test_watch_selector_transitions():
    web = [ev("MODIFIED", 4, "a"), ev("DELETED", 6, "a"), ("BOOKMARK", 8, {})]
    assert watches(watch(web, label_selector="app=web")) == []
    db = [ev("ADDED", 5, "b"), ev("ADDED", 6, "a"), ev("DELETED", 8, "b")]
    assert watches(watch(db, label_selector="app in (db)")) == []
    assert watches(watch([ev("DELETED", 6, "a")], from_revision=4, label_selector="v")) == []
    assert watches(watch([ev("ADDED", 5, "b"), ev("ADDED", 6, "a")], from_revision=4,
                         label_selector="!v,app notin (web)")) == []
    # a field selector the matcher cannot read: judged for order only
    assert watches(watch([ev("MODIFIED", 6, "a")], field_selector="spec.nodeName=n1")) == []


def test_watch_breaks_on_a_gap_and_on_an_event_that_is_not_a_committed_change():
    problems = watches(watch([ev("MODIFIED", 4, "a"), ev("MODIFIED", 6, "a")], label_selector="app=web"))
    assert problems == [
        "watch c1 request 7 on pods in namespace ns1 (app=web) from resourceVersion 3: missed DELETED of ns1/a at "
        "revision 6",
        "watch c1 request 7 on pods in namespace ns1 (app=web) from resourceVersion 3: sent MODIFIED of ns1/a at "
        "6, which is not a committed change matching the watch (after 3, up to 6)"]
    missed = watches(watch([ev("MODIFIED", 4, "a"), ev("MODIFIED", 6, "a")]))
    assert missed[0].endswith("missed ADDED of ns1/b at revision 5")


def test_watch_breaks_on_order_and_bookmarks_ahead_of_events():
    backwards = watches(watch([ev("ADDED", 5, "b"), ev("MODIFIED", 4, "a")], field_selector="spec.x=y"))
    assert backwards == ["watch c1 request 7 on pods in namespace ns1 (spec.x=y) from resourceVersion 3: "
                         "MODIFIED at 4 after resourceVersion 5"]
    early = watches(watch([("BOOKMARK", 6, {}), ev("MODIFIED", 6, "a")], field_selector="spec.x=y"))
    assert early[0].endswith("MODIFIED at 6 after a BOOKMARK at 6")
    old = watches(watch([ev("MODIFIED", 2, "a")], field_selector="spec.x=y"))
    assert old[0].endswith("MODIFIED at 2, not after the start 3")


def test_watch_from_zero_judges_order_after_the_initial_state():
    initial = [ev("ADDED", 6, "a"), ev("ADDED", 5, "b"), ("BOOKMARK", 6, {}), ev("DELETED", 8, "b")]
    assert watches(watch(initial, from_revision=0)) == []
    assert watches(watch(initial + [ev("MODIFIED", 7, "a")], from_revision=0))[0].endswith(
        "MODIFIED at 7 after resourceVersion 8")


def test_label_selector_parser():
    assert parse_label_selector("a=b, c==d,e!=f,g,!h,i in (x, y),j notin (z)") == [
        ("a", "=", ("b",)), ("c", "=", ("d",)), ("e", "!=", ("f",)), ("g", "exists", ()), ("h", "!exists", ()),
        ("i", "in", ("x", "y")), ("j", "notin", ("z",))]
    assert parse_label_selector("a >") is None
    selection = Selection("env!=prod", "metadata.name=p1")
    assert selection.matches(obj("p1")) and not selection.matches(obj("p2"))
    assert not selection.matches(obj("p1", labels={"env": "prod"}))
    assert not Selection("", "status.phase=Running").judgeable


# ----- API-READ-CONSISTENT -----------------------------------------------------------------------

STATE = (change(2, "pods", "a", obj("a", rv=2, labels={"app": "web"})),
         change(3, "pods", "b", obj("b", rv=3)),
         change(4, "pods", "a", obj("a", rv=4, labels={"app": "web"})),
         change(5, "pods", "b", None))
WRITES = (call("update", name="a", body=obj("a", rv=4), started=3, finished=4, request_id=1),
          call("delete", name="b", body=obj("b", rv=3), started=5, finished=6, request_id=2))


def reads(*calls):
    return API_READ_CONSISTENT.predicate(ApiView(changes=STATE, calls=WRITES + calls))


def listing(rv, *items, **kw):
    return call("list", name="", body={"metadata": {"resourceVersion": str(rv)}, "items": list(items)}, **kw)


def test_read_consistent_holds_for_fresh_reads():
    assert reads(call("get", name="a", body=obj("a", rv=4), started=5, finished=5, request_id=3)) == []
    assert reads(listing(5, obj("a", rv=4), started=7, finished=7, request_id=4)) == []
    assert reads(listing(5, obj("a", rv=4), started=7, finished=7, request_id=4,
                         query=(("labelSelector", "app=web"),))) == []
    assert reads(listing(5, started=7, finished=7, request_id=4, query=(("labelSelector", "app=db"),))) == []
    # an explicit resourceVersion may be served from any state not older than it
    assert reads(call("get", name="a", body=obj("a", rv=2), started=5, query=(("resourceVersion", "0"),))) == []
    # a write still in flight when the read started does not count
    assert reads(call("get", name="a", body=obj("a", rv=2), started=4, finished=5, request_id=3)) == []


def test_read_consistent_breaks_for_a_stale_get():
    assert reads(call("get", name="a", body=obj("a", rv=2), started=5, finished=5, request_id=3, client="c2")) == [
        "c2 request 3 (get pods ns1/a) (started at tick 5) returned resourceVersion 2, older than revision 4 of "
        "c1 request 1 (update pods ns1/a), acknowledged at tick 4"]


def test_read_consistent_breaks_for_a_stale_list_and_for_wrong_items():
    stale = reads(listing(4, obj("a", rv=4), obj("b", rv=3), started=7, finished=7, request_id=4))
    assert stale == ["c1 request 4 (list pods ns1) (started at tick 7) returned resourceVersion 4, older than "
                     "revision 5 of c1 request 2 (delete pods ns1/b), acknowledged at tick 6"]
    wrong = reads(listing(5, obj("a", rv=2), obj("z", rv=3), started=7, finished=7, request_id=4))
    assert wrong == ["c1 request 4 (list pods ns1) at resourceVersion 5: lists ns1/a at resourceVersion 2, but at "
                     "revision 5 it was at 4",
                     "c1 request 4 (list pods ns1) at resourceVersion 5: lists ns1/z at resourceVersion 3, but at "
                     "revision 5 it was not there (or not selected)"]
    missing = reads(listing(5, started=7, finished=7, request_id=4, query=(("labelSelector", "app=web"),)))
    assert missing == ["c1 request 4 (list pods ns1) at resourceVersion 5: misses ns1/a (resourceVersion 4)"]


# ----- AUTHZ-SOUND -------------------------------------------------------------------------------

def role_binding(name, role, subjects, namespace="ns1", role_kind="ClusterRole"):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": "RoleBinding" if namespace else "ClusterRoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}, "subjects": subjects}


POD_READER = {"kind": "ClusterRole", "metadata": {"name": "pod-reader"},
              "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
IMPERSONATOR = {"kind": "ClusterRole", "metadata": {"name": "impersonator"},
                "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"],
                           "resourceNames": ["alice"]}]}
BASE = (POD_READER, IMPERSONATOR,
        role_binding("alice-reads", "pod-reader", [{"kind": "User", "name": "alice"}]),
        role_binding("builders-read", "pod-reader", [{"kind": "Group", "name": "system:serviceaccounts:ns1"}], "ns2"),
        role_binding("ops-impersonate", "impersonator", [{"kind": "User", "name": "ops"}], ""))
IDENTITIES = (Identity("alice", "x509", "alice", ()), Identity("bob", "x509", "bob", ("devs",)),
              Identity("sa:ns1:builder", "serviceaccount", "system:serviceaccount:ns1:builder", (), "ns1"),
              Identity("anonymous", "anonymous", "system:anonymous", ()),
              Identity("admin", "x509", "admin", ("system:masters",)), Identity("ops", "token", "ops", ()))


def read_audit(identity, request_id, namespace="ns1", **kw):
    fields = dict(verb="get", operation="", steps=steps("authentication", "authorization"), code=200,
                  persisted_revision=0, request_id=request_id, namespace=namespace)
    fields.update(kw)
    return audit(**fields), call("get", namespace=namespace, request_id=request_id, identity=identity)


def authz(*pairs, changes=()):
    view = ApiView(audits=tuple(a for a, _ in pairs), calls=tuple(c for _, c in pairs), identities=IDENTITIES,
                   base_policy=BASE, changes=changes)
    return AUTHZ_SOUND.predicate(view)


def test_authz_sound_holds_for_granted_requests():
    assert authz(read_audit("alice", 1), read_audit("admin", 2, user="admin", verb="delete"),
                 read_audit("sa:ns1:builder", 3, namespace="ns2", user="system:serviceaccount:ns1:builder",
                            groups=()),
                 read_audit("ops", 4, steps=steps("authentication", "impersonation", "authorization"),
                            authenticated_as="ops")) == []
    refused = read_audit("bob", 5, steps=(Step("authentication", "ok"), Step("authorization", "refused")))
    assert authz(refused) == []


def test_authz_sound_breaks_when_authorization_let_through_what_rbac_does_not():
    problems = authz(read_audit("bob", 5, user="bob"))
    assert problems == ["audit i1-1 (client c1 request 5): authorization allowed bob (groups devs, "
                        "system:authenticated) to get pods named p1 in namespace ns1, which RBAC at policy "
                        "revision 1 does not"]
    # the groups come from the credential, not from what the record claims
    forged = read_audit("bob", 6, user="bob", groups=("system:masters",))
    assert len(authz(forged)) == 1
    # a service account's namespace group does not reach another namespace's binding
    assert len(authz(read_audit("sa:ns1:builder", 7, namespace="ns3"))) == 1
    assert len(authz(read_audit("anonymous", 8, user="system:anonymous"))) == 1


def test_authz_sound_judges_impersonation_and_the_policy_revision():
    as_bob = read_audit("ops", 9, steps=steps("authentication", "impersonation", "authorization"), user="bob",
                        groups=("system:authenticated",), authenticated_as="ops")
    problems = authz(as_bob)
    assert problems[0] == ("audit i1-1 (client c1 request 9): ops impersonated bob without being allowed impersonate "
                           "users named bob cluster-wide")
    assert len(problems) == 2  # and bob may not get the pod
    grant = role_binding("bob-reads", "pod-reader", [{"kind": "User", "name": "bob"}])
    changes = (change(5, "rolebindings", "bob-reads", grant),)
    late = read_audit("bob", 10, user="bob", policy_revision=4)
    assert len(authz(late, changes=changes)) == 1
    assert authz((attrs.evolve(late[0], policy_revision=5), late[1])) != []  # no changes given: still refused
    assert authz((attrs.evolve(late[0], policy_revision=5), late[1]), changes=changes) == []


# ----- API-NO-ESCALATION -------------------------------------------------------------------------

EDITOR = {"kind": "ClusterRole", "metadata": {"name": "rbac-editor"},
          "rules": [{"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": ["create", "update"]},
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
SECRETS = {"kind": "ClusterRole", "metadata": {"name": "secrets"},
           "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
POLICY = (EDITOR, SECRETS, role_binding("carol-edits", "rbac-editor", [{"kind": "User", "name": "carol"}]))


def role_write(rules, revision=6, **kw):
    role = {"kind": "Role", "metadata": {"name": "r", "namespace": "ns1", "resourceVersion": str(revision)},
            "rules": rules}
    fields = dict(resource="roles", group=RBAC, name="r", user="carol", authenticated_as="carol",
                  persisted_revision=revision, policy_revision=revision - 1)
    record = audit(steps(*HEAD, *RBAC_WRITE), **{**fields, **kw})
    return record, change(revision, "roles", "r", role)


def escalations(*writes, extra=()):
    view = ApiView(audits=tuple(a for a, _ in writes), changes=tuple(c for _, c in writes),
                   base_policy=POLICY + tuple(extra))
    return API_NO_ESCALATION.predicate(view)


def test_no_escalation_holds_for_held_rules_escalate_and_masters():
    held = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    assert escalations(role_write(held)) == []
    wider = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    assert escalations(role_write(wider, user="root", groups=("system:masters",))) == []
    escalate = {"kind": "ClusterRole", "metadata": {"name": "esc"},
                "rules": [{"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]}]}
    grant = role_binding("carol-escalates", "esc", [{"kind": "User", "name": "carol"}])
    assert escalations(role_write(wider), extra=(escalate, grant)) == []


def test_no_escalation_breaks_for_a_role_granting_more():
    wider = [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get"]}]
    assert escalations(role_write(wider)) == [
        "audit i1-1 (client c1 request 1) carol CREATE /registry/roles/ns1/r persisted at revision 6 (policy "
        "revision 5): grants get secrets in namespace ns1, which the writer does not hold, and the writer may not "
        "escalate it"]
    star = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]
    assert "grants * pods in namespace ns1" in escalations(role_write(star))[0]


def test_no_escalation_for_bindings():
    def bind(role, revision=8):
        binding = role_binding("rb", role, [{"kind": "User", "name": "dan"}])
        record = audit(steps(*HEAD, *RBAC_WRITE), resource="rolebindings", group=RBAC, name="rb", user="carol",
                       authenticated_as="carol", persisted_revision=revision, policy_revision=revision - 1)
        return record, change(revision, "rolebindings", "rb", binding)
    assert escalations(bind("rbac-editor")) == []
    assert escalations(bind("secrets")) == [
        "audit i1-1 (client c1 request 1) carol CREATE /registry/rolebindings/ns1/rb persisted at revision 8 "
        "(policy revision 7): binds ClusterRole secrets, which grants get secrets in namespace ns1 that the writer "
        "does not hold, and the writer may not bind it"]
    binder = {"kind": "ClusterRole", "metadata": {"name": "binder"},
              "rules": [{"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"],
                         "resourceNames": ["secrets"]}]}
    grant = role_binding("carol-binds", "binder", [{"kind": "User", "name": "carol"}])
    assert escalations(bind("secrets"), extra=(binder, grant)) == []


# ----- TOKEN-REVOCATION --------------------------------------------------------------------------

def account(uid, rv):
    return {"metadata": {"name": "builder", "namespace": "ns1", "uid": uid, "resourceVersion": str(rv)}}


TOKEN_HISTORY = (change(2, "serviceaccounts", "builder", account("u1", 2)),
                 Change(6, "/registry/serviceaccounts/ns1/builder", "serviceaccounts", "ns1", "builder", None,
                        account("u1", 2)),
                 change(8, "serviceaccounts", "builder", account("u2", 8)))
SA_DELETE = call("delete", "serviceaccounts", "builder", code=200, body=None, started=9, finished=10, request_id=4)


def token_use(uid, received):
    return audit(method="serviceaccount", token_account_uid=uid, received=received, verb="get", operation="",
                 user="system:serviceaccount:ns1:builder", authenticated_as="system:serviceaccount:ns1:builder")


def test_token_revocation():
    view = ApiView(changes=TOKEN_HISTORY[:2], calls=(SA_DELETE,),
                   audits=(token_use("u1", 9), token_use("u1", 11)))
    assert TOKEN_REVOCATION.predicate(view) == [
        "audit i1-1 (client c1 request 1) received at tick 11 authenticated as system:serviceaccount:ns1:builder "
        "with a token bound to service account ns1/builder uid u1, which c1 request 4 (delete serviceaccounts "
        "ns1/builder) deleted (acknowledged at tick 10)"]


def test_token_revocation_with_a_recreated_account():
    # the account came back with a new uid: its new tokens work, the old one stays dead
    returned = attrs.evolve(SA_DELETE, body=account("u1", 2))
    fresh = token_use("u2", 12)
    view = ApiView(changes=TOKEN_HISTORY, calls=(returned,), audits=(fresh,))
    assert TOKEN_REVOCATION.predicate(view) == []
    assert len(TOKEN_REVOCATION.predicate(attrs.evolve(view, audits=(fresh, token_use("u1", 13))))) == 1


def test_an_expired_credential_authenticates_nothing():
    carol = Identity("carol", "x509", "carol", ("ops",), expires=600)
    before = audit(steps(*HEAD), verb="get", operation="", code=200, received=600, method="x509",
                   authenticated_as="carol", request_id=7)
    after = attrs.evolve(before, received=601, request_id=8)
    calls = (call("get", identity="carol", request_id=7), call("get", identity="carol", request_id=8))
    view = ApiView(audits=(before,), calls=calls, identities=(carol,))
    assert TOKEN_REVOCATION.predicate(view) == []
    problems = TOKEN_REVOCATION.predicate(attrs.evolve(view, audits=(before, after)))
    assert problems == ["audit i1-1 (client c1 request 8) received at tick 601 authenticated as carol with the x509 "
                        "credential of carol, which expired at tick 600"]
    refused = attrs.evolve(after, steps=(Step("authentication", "refused"),), code=401)
    assert TOKEN_REVOCATION.predicate(attrs.evolve(view, audits=(refused,))) == []


# ----- pages, not-older-than reads, guarded deletes, patches, pod-bound tokens --------------------

def _cm(name, rv, labels=None, **extra):
    return obj(name, rv=rv, labels=labels, **extra)


PAGED_STATE = (change(5, "configmaps", "a", _cm("a", 5)), change(6, "configmaps", "b", _cm("b", 6)),
               change(7, "configmaps", "b1", _cm("b1", 7)), change(8, "configmaps", "c", _cm("c", 8)))


def _list(items, rv, token="", request_id=1, query=(("limit", "1"),), **kw):
    body = {"metadata": {"resourceVersion": str(rv), **({"continue": token} if token else {})},
            "items": [_cm(n, r) for n, r in items]}
    return call("list", resource="configmaps", name="", code=200, body=body, request_id=request_id, query=query, **kw)


def test_a_continued_page_reads_at_the_first_pages_revision_and_skips_no_key():
    first = _list([("a", 5)], 7, token="t1")
    good = _list([("b", 6)], 7, token="t2", request_id=2, query=(("continue", "t1"), ("limit", "1")))
    view = ApiView(changes=PAGED_STATE, calls=(first, good))
    assert API_READ_CONSISTENT.predicate(view) == []
    at_latest = _list([("b", 6)], 8, request_id=2, query=(("continue", "t1"), ("limit", "1")))
    assert "answered resourceVersion 8" in API_READ_CONSISTENT.predicate(attrs.evolve(view, calls=(first, at_latest)))[0]
    second = _list([("b", 6)], 7, token="t2", request_id=2, query=(("continue", "t1"), ("limit", "1")))
    skipped = _list([("c", 8)], 7, request_id=3, query=(("continue", "t2"), ("limit", "1")))
    problems = API_READ_CONSISTENT.predicate(attrs.evolve(view, calls=(first, second, skipped)))
    assert problems and "the keys after it then were ['ns1/b1']" in problems[0]


def test_a_not_older_than_get_returns_a_state_at_or_after_the_revision_asked():
    history = (change(5, "configmaps", "a", _cm("a", 5)), change(9, "configmaps", "a", _cm("a", 9)))
    stale = call("get", resource="configmaps", name="a", body=_cm("a", 5), query=(("resourceVersion", "9"),))
    assert "written at 9 <= 9" in API_READ_CONSISTENT.predicate(ApiView(changes=history, calls=(stale,)))[0]
    fresh = attrs.evolve(stale, body=_cm("a", 9))
    assert API_READ_CONSISTENT.predicate(ApiView(changes=history, calls=(fresh,))) == []


def _deleted(uid, code=200):
    return {"kind": "Status", "status": "Success", "details": {"name": "a", "kind": "configmaps", "uid": uid}}


def test_a_delete_answered_success_deleted_the_object_it_named():
    gone = Change(6, "/registry/configmaps/ns1/a", "configmaps", "ns1", "a", None, _cm("a", 5))
    delete = call("delete", resource="configmaps", name="a", body=_deleted("u1"))
    assert NO_LOST_UPDATE.predicate(ApiView(changes=(gone,), calls=(delete,))) == []
    nothing = NO_LOST_UPDATE.predicate(ApiView(changes=(), calls=(delete,)))
    assert "was deleted 0 time(s) for 1 successful delete(s)" in nothing[0]
    wrong = attrs.evolve(delete, precondition_uid="u0")
    assert "named uid u0 in its preconditions but deleted the object with uid u1" in \
        NO_LOST_UPDATE.predicate(ApiView(changes=(gone,), calls=(wrong,)))[0]


def test_a_patch_keeps_what_it_does_not_name():
    base = change(5, "configmaps", "a", _cm("a", 5, {"x": "1"}))
    both = change(7, "configmaps", "a", _cm("a", 7, {"x": "1", "y": "2"}))
    patch = call("patch", resource="configmaps", name="a", body=_cm("a", 7), patch={"metadata": {"labels": {"y": "2"}}})
    assert NO_LOST_UPDATE.predicate(ApiView(changes=(base, both), calls=(patch,))) == []
    lost = change(7, "configmaps", "a", _cm("a", 7, {"y": "2"}))
    assert "without labels x=1 of revision 5" in NO_LOST_UPDATE.predicate(ApiView(changes=(base, lost),
                                                                                   calls=(patch,)))[0]


def test_a_pod_bound_token_stops_a_minute_after_the_pod_is_deleted():
    delete = call("delete", resource="pods", name="runner", body=_cm("runner", 9, uid="pod-1"), finished=100,
                  request_id=5)
    delete = attrs.evolve(delete, body={"metadata": {"name": "runner", "namespace": "ns1", "uid": "pod-1"}})
    use = audit(steps(*HEAD), verb="get", operation="", code=200, method="serviceaccount", token_pod_uid="pod-1",
                received=160)
    assert TOKEN_REVOCATION.predicate(ApiView(calls=(delete,), audits=(use,))) == []
    late = attrs.evolve(use, received=161)
    assert "more than 60 ticks before" in TOKEN_REVOCATION.predicate(ApiView(calls=(delete,), audits=(late,)))[0]


def test_a_page_continued_from_a_selected_list_is_not_judged_by_keys():
    # the selected first page read key a (not selected, so not listed) and its token starts after a
    first = _list([], 7, token="t1", query=(("labelSelector", "app=web"), ("limit", "1")))
    page = _list([("b", 6)], 7, request_id=2, query=(("continue", "t1"), ("limit", "1")))
    assert API_READ_CONSISTENT.predicate(ApiView(changes=PAGED_STATE, calls=(first, page))) == []
