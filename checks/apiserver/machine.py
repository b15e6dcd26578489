"""The apiserver state machine: the cast (admin, alice, bob, carol, a service account, anonymous)
sends requests through 2-3 instances while Hypothesis interleaves store leader changes, crashes
of members and instances, partitions between an instance and the store, webhook outages and slow
webhooks, policy changes (a binding deleted, a role written), namespace deletion, service
account deletion and store compaction. Every line it runs is a scenario line, so a failing run
shrinks and replays as a scenario file.

Swarm testing: each test case draws whether the store is one member (fast) or three (the whole
stack), whether webhooks are configured, and which kinds of fault and request it uses; a few
rules deliberately race two requests through two instances (two updates from the same
resourceVersion, two creates against a nearly full quota), since those are what the
concurrency invariants are about.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from checks.apiserver.cluster import ApiCluster, ApiOptions, ApiParts
from checks.apiserver.scenario import _As, send
from checks.apiserver.seed import CAROL_CERT_EXPIRES
from checks.search import MachineCounter
from impl.sim.network import NetworkFaults

__all__ = ["ApiMachine", "SWARM_KINDS"]

SWARM_KINDS = ("crash", "partition", "webhook", "watch", "compact", "rbac", "namespace", "serviceaccount",
               "race", "leader", "expiry")
NAMES = ("p1", "p2", "p3", "c1", "c2", "p10", "c10")  # p1/p10: a key that prefixes another
WRITERS = ("alice", "alice", "admin", "sa:ns1:builder", "bob", "anonymous", "carol")
READERS = ("bob", "alice", "admin", "carol", "anonymous", "sa:ns1:builder")
LABELS = ("app=web", "app=db", "forbidden=true", "inject=true", "tier=a", "containers=9")  # the counter owns "containers"

network_faults = st.sampled_from([NetworkFaults(), NetworkFaults(), NetworkFaults(1, 3),
                                  NetworkFaults(1, 3, drop_rate=0.02)])


class ApiMachine(RuleBasedStateMachine):
    parts: ApiParts = ApiParts()
    counter: MachineCounter | None = None

    def __init__(self) -> None:
        super().__init__()
        self.cluster: ApiCluster | None = None
        self.enabled: frozenset[str] = frozenset()
        if self.counter is not None:
            self.counter.saw(self)

    @initialize(members=st.sampled_from([1, 1, 3]), apiservers=st.sampled_from([2, 2, 3]),
                clients=st.integers(2, 3), seed=st.integers(0, 2**16), webhooks=st.booleans(),
                faults=network_faults, kinds=st.frozensets(st.sampled_from(SWARM_KINDS), min_size=1))
    def setup(self, members, apiservers, clients, seed, webhooks, faults, kinds) -> None:
        self.cluster = ApiCluster(ApiOptions(members, apiservers, clients, seed, webhooks, faults), self.parts)
        self.enabled = kinds

    # ----- helpers ------------------------------------------------------------------------

    def _client(self, choice: int) -> str:
        ids = self.cluster.client_ids
        order = [ids[(choice + i) % len(ids)] for i in range(len(ids))]
        return next((c for c in order if self.cluster.client(c).idle), order[0])

    def _instance(self, choice: int) -> str:
        return self.cluster.instance_ids[choice % len(self.cluster.instance_ids)]

    def _send(self, identity: str, client: int, via: int, words: list[str]) -> None:
        name, instance = self._client(client), self._instance(via)
        line = " ".join(["as", identity, "via", instance, "by", name] + words)
        send(self.cluster, line, _As(identity, instance, name, tuple(words)))

    def _stored_rv(self, kind: str, name: str, namespace: str) -> int:
        plural = {"pod": "pods", "configmap": "configmaps"}[kind]
        obj = self.cluster.observer.objects.get(f"/registry/{plural}/{namespace}/{name}")
        return int(obj["metadata"]["resourceVersion"]) if obj else 0


    # ----- time ---------------------------------------------------------------------------

    @rule(count=st.sampled_from([1, 2, 3, 5, 10, 20]))
    def tick(self, count: int) -> None:
        self.cluster.tick(count)

    @rule()
    def settle(self) -> None:
        self.cluster.settle()

    # ----- requests -----------------------------------------------------------------------

    @rule(identity=st.sampled_from(WRITERS), client=st.integers(0, 2), via=st.integers(0, 2),
          kind=st.sampled_from(["pod", "pod", "configmap"]), name=st.sampled_from(NAMES),
          namespace=st.sampled_from(["ns1", "ns1", "ns2"]), labels=st.lists(st.sampled_from(LABELS), max_size=2),
          containers=st.integers(1, 2), privileged=st.booleans())
    def create(self, identity, client, via, kind, name, namespace, labels, containers, privileged) -> None:
        words = ["create", kind, name, "-n", namespace] + [f"label={label}" for label in labels]
        if kind == "pod":
            words += [f"containers={containers}"] + (["privileged"] if privileged else [])
        self._send(identity, client, via, words)

    @precondition(lambda self: self.cluster.options.webhooks)
    @rule(client=st.integers(0, 2), via=st.integers(0, 2), how=st.sampled_from(["patch", "update"]))
    def relabel_counted_pod(self, client, via, how) -> None:
        """Someone sets the label the counting webhook owns on a running pod: the webhook puts it
        back on the way in (an update passes the mutating webhooks too)."""
        self._send("admin", client, via, [how, "pod", "runner", "-n", "ns1", "label=containers=9"]
                   + (["rv=0"] if how == "update" else []))

    @precondition(lambda self: self.cluster.options.webhooks)
    @rule(client=st.integers(0, 2), via=st.integers(0, 2), name=st.sampled_from(NAMES), containers=st.integers(1, 2))
    def injected_pod(self, client, via, name, containers) -> None:
        """A pod in a service mesh: the sidecar injector adds a container after the counting
        webhook ran, so the counter must be called again (reinvocationPolicy IfNeeded)."""
        self._send("alice", client, via, ["create", "pod", name, "-n", "ns1", "label=inject=true",
                                          f"containers={containers}"])

    @rule(identity=st.sampled_from(READERS), client=st.integers(0, 2), via=st.integers(0, 2),
          kind=st.sampled_from(["pod", "configmap"]), name=st.sampled_from(NAMES),
          namespace=st.sampled_from(["ns1", "ns2"]), rv=st.sampled_from(["unset", "unset", "0", "recent"]),
          back=st.integers(0, 5))
    def get(self, identity, client, via, kind, name, namespace, rv, back) -> None:
        words = ["get", kind, name, "-n", namespace]
        if rv != "unset":
            words.append("rv=0" if rv == "0" else f"rv=now-{back}")
        self._send(identity, client, via, words)

    @rule(identity=st.sampled_from(READERS), client=st.integers(0, 2), via=st.integers(0, 2),
          kind=st.sampled_from(["pods", "configmaps"]), namespace=st.sampled_from(["ns1", "ns2"]),
          rv=st.sampled_from(["unset", "unset", "0", "recent", "exact"]), back=st.integers(0, 8),
          selector=st.sampled_from(["", "", "app=web", "app!=db"]), limit=st.sampled_from([0, 0, 1, 2]))
    def list(self, identity, client, via, kind, namespace, rv, back, selector, limit) -> None:
        words = ["list", kind, "-n", namespace]
        if rv == "0":
            words.append("rv=0")
        elif rv in ("recent", "exact"):
            words += [f"rv=now-{back}"] + (["exact"] if rv == "exact" else [])
        if selector:
            words.append(f"selector={selector}")
        if limit and rv in ("unset", "exact"):
            words.append(f"limit={limit}")
        self._send(identity, client, via, words)

    @rule(identity=st.sampled_from(WRITERS), client=st.integers(0, 2), via=st.integers(0, 2),
          kind=st.sampled_from(["pod", "configmap"]), name=st.sampled_from(NAMES),
          namespace=st.sampled_from(["ns1", "ns2"]), how=st.sampled_from(["update", "patch"]),
          precondition=st.sampled_from(["current", "current", "stale", "none"]),
          label=st.sampled_from(LABELS))
    def change(self, identity, client, via, kind, name, namespace, how, precondition, label) -> None:
        words = [how, kind, name, "-n", namespace, f"label={label}"]
        current = self._stored_rv(kind, name, namespace)
        if precondition == "current" and current:
            words.append(f"rv={current}")
        elif precondition == "stale" and current > 2:
            words.append(f"rv={current - 1}")
        elif how == "update":
            words.append("rv=0")
        self._send(identity, client, via, words)

    @rule(kind=st.sampled_from(["configmap", "configmap", "pod"]), name=st.sampled_from(NAMES),
          how=st.sampled_from(["update", "update", "patch"]), via=st.integers(0, 2))
    def update_from_a_stale_read(self, kind, name, how, via) -> None:
        """Two writers read the same resourceVersion; the first writes, then the second writes
        with the version it read (now stale): it must get 409 Conflict."""
        current = self._stored_rv(kind, name, "ns1")
        if not current:
            return
        for turn in (0, 1):
            self._send("alice", turn, via + turn, [how, kind, name, "-n", "ns1", f"label=app=v{turn}",
                                                   f"rv={current}"])
            self.cluster.settle()

    @rule(identity=st.sampled_from(WRITERS), client=st.integers(0, 2), via=st.integers(0, 2),
          kind=st.sampled_from(["pod", "configmap"]), name=st.sampled_from(NAMES),
          namespace=st.sampled_from(["ns1", "ns2"]))
    def delete(self, identity, client, via, kind, name, namespace) -> None:
        self._send(identity, client, via, ["delete", kind, name, "-n", namespace])

    @precondition(lambda self: "race" in self.enabled and len(self.cluster.client_ids) >= 2)
    @rule(kind=st.sampled_from(["pod", "configmap"]), name=st.sampled_from(NAMES), how=st.sampled_from(
        ["update", "patch"]), label=st.sampled_from(LABELS))
    def racing_updates(self, kind, name, how, label) -> None:
        """Two writers read the same resourceVersion and write through different instances:
        at most one may succeed."""
        current = self._stored_rv(kind, name, "ns1")
        if not current:
            return
        for client in (0, 1):
            self._send("alice", client, client, [how, kind, name, "-n", "ns1", f"label={label}-{client}",
                                                 f"rv={current}"])

    @precondition(lambda self: "race" in self.enabled and len(self.cluster.client_ids) >= 2)
    @rule(name=st.sampled_from(["c1", "c2"]), via=st.integers(0, 1))
    def racing_patches(self, name, via) -> None:
        """Two patches of different labels, no precondition, through two instances: each is
        applied to the object as it is when it is written (a retry reads again), so both
        labels survive."""
        namespace = "ns1" if name == "c1" else "ns2"
        for client in (0, 1):
            self._send("admin", client, via + client, ["patch", "configmap", name, "-n", namespace,
                                                       f"label=writer{client}=w{self.cluster.world.now}"])

    @precondition(lambda self: "race" in self.enabled and len(self.cluster.client_ids) >= 2)
    @rule(name=st.sampled_from(["c1", "c10", "c2"]), label=st.sampled_from(LABELS))
    def racing_delete_and_update(self, name, label) -> None:
        """A delete and an update of one object through two instances: the delete is guarded by
        the revision it read, so it either deletes or answers 409, never "deleted" for nothing."""
        self._send("alice", 0, 0, ["delete", "configmap", name, "-n", "ns1"])
        self._send("alice", 1, 1, ["patch", "configmap", name, "-n", "ns1", f"label={label}"])

    @rule(name=st.sampled_from(["c1", "c10"]), stale=st.booleans(), via=st.integers(0, 2))
    def delete_with_uid_precondition(self, name, stale, via) -> None:
        """kubectl delete --wait with preconditions: a uid precondition names the object the
        client saw; one re-created since (a new uid) must not be deleted."""
        obj = self.cluster.observer.objects.get(f"/registry/configmaps/ns1/{name}")
        uid = obj["metadata"]["uid"] if obj is not None and not stale else "00000000-0000-4000-a000-000000000000"
        self._send("alice", 0, via, ["delete", "configmap", name, "-n", "ns1", f"uid={uid}"])

    @rule(name=st.sampled_from(["c10", "p10"]), how=st.sampled_from(["patch", "update"]), via=st.integers(0, 2))
    def finalizer_life(self, name, how, via) -> None:
        """An object held by a finalizer: deleting it only marks it; removing the last finalizer
        (by patch or by update) makes it go; an update never brings it back from deletion."""
        kind = "pod" if name.startswith("p") else "configmap"
        self._send("alice", 0, via, ["create", kind, name, "-n", "ns1", "finalizer=kinv.example.com/hold"])
        self.cluster.settle()
        self._send("alice", 0, via + 1, ["delete", kind, name, "-n", "ns1"])
        self.cluster.settle()
        self._send("alice", 0, via, [how, kind, name, "-n", "ns1", "label=app=web"]
                   + (["rv=0"] if how == "update" else ["clear-deletion"]))
        self.cluster.settle()
        self._send("alice", 0, via + 1, [how, kind, name, "-n", "ns1", "finalizer=-"] + (["rv=0"] if how == "update" else []))
        self.cluster.settle()

    @rule(kind=st.sampled_from(["configmaps", "pods"]), limit=st.sampled_from([1, 2]), via=st.integers(0, 2),
          write=st.sampled_from(["create", "delete", "none"]), name=st.sampled_from(["c10", "p10", "c3"]))
    def paged_list(self, kind, limit, via, write, name) -> None:
        """A list in pages (kubectl's limit=500, client-go's pager): every page is read at the
        first page's revision, and no key is skipped, whatever is written in between."""
        self._send("bob", 0, via, ["list", kind, "-n", "ns1", f"limit={limit}"])
        self.cluster.settle()
        if write != "none":
            self._send("alice", 1, via + 1, [write, kind.rstrip("s"), name, "-n", "ns1"])
            self.cluster.settle()
        for _ in range(3):
            if not self.cluster.last_continue(self.cluster.client_ids[0], f"/api/v1/namespaces/ns1/{kind}"):
                return
            self._send("bob", 0, via, ["list", kind, "-n", "ns1", f"limit={limit}", "continue"])
            self.cluster.settle()

    @precondition(lambda self: "race" in self.enabled and len(self.cluster.client_ids) >= 2)
    @rule(kind=st.sampled_from(["pod", "configmap"]), names=st.permutations(NAMES))
    def racing_creates(self, kind, names) -> None:
        """Creates through different instances at once: the quota must hold under concurrency."""
        for client in range(len(self.cluster.client_ids)):
            self._send("alice", client, client, ["create", kind, names[client], "-n", "ns1"])

    @precondition(lambda self: "watch" in self.enabled)
    @rule(identity=st.sampled_from(["admin", "bob", "alice"]), client=st.integers(0, 2), via=st.integers(0, 2),
          kind=st.sampled_from(["pods", "configmaps"]), namespace=st.sampled_from(["", "ns1", "ns2"]),
          back=st.sampled_from([0, 1, 2, 4, 6, 40]), selector=st.sampled_from(["", "", "app=web"]))
    def watch(self, identity, client, via, kind, namespace, back, selector) -> None:
        """From a recent revision, or (back=40) from one likely older than the instance's cache
        window: the answer must then be 410 Gone, never a stream with a gap."""
        words = ["watch", kind] + (["-n", namespace] if namespace else []) + [f"from=now-{back}"]
        if selector:
            words.append(f"selector={selector}")
        self._send(identity if namespace else "admin", client, via, words)

    # ----- policy, namespaces, accounts ---------------------------------------------------

    @precondition(lambda self: "rbac" in self.enabled)
    @rule(client=st.integers(0, 2), via=st.integers(0, 2), action=st.sampled_from(
        ["revoke-bob", "grant-bob", "role-held", "role-escalating", "bind-admin", "bind-view", "role-update-held",
         "role-update-escalating", "impersonate-bob", "impersonate-bob-as-masters", "impersonate-admin"]))
    def policy(self, client, via, action) -> None:
        words = {
            "revoke-bob": ("admin", ["delete", "rolebinding", "bob-view", "-n", "ns1"]),
            "grant-bob": ("admin", ["create", "rolebinding", "bob-view", "-n", "ns1", "role=ClusterRole/view",
                                    "user=bob"]),
            "role-held": ("alice", ["create", "role", "pod-reader", "-n", "ns1", "rule=get,list:pods"]),
            "role-escalating": ("alice", ["create", "role", "secret-admin", "-n", "ns1", "rule=*:secrets"]),
            "bind-admin": ("alice", ["create", "rolebinding", "alice-admin", "-n", "ns1", "role=ClusterRole/admin",
                                     "user=alice"]),
            "bind-view": ("alice", ["create", "rolebinding", "bob-reader", "-n", "ns1", "role=ClusterRole/view",
                                    "user=bob"]),
            "role-update-held": ("alice", ["patch", "role", "pod-reader", "-n", "ns1", "rule=get,list,watch:pods"]),
            "role-update-escalating": ("alice", ["update", "role", "pod-reader", "-n", "ns1", "rule=*:secrets", "rv=0"]),
            "impersonate-bob": ("carol", ["list", "pods", "-n", "ns1", "impersonate=bob"]),
            "impersonate-bob-as-masters": ("carol", ["create", "configmap", "c3", "-n", "ns1", "impersonate=bob",
                                                     "impersonate-group=system:masters"]),
            "impersonate-admin": ("carol", ["list", "secrets", "-n", "ns1", "impersonate=admin"]),
        }[action]
        if action.startswith("role-update"):  # the role to update, as alice wrote it first
            self._send("alice", client, via, ["create", "role", "pod-reader", "-n", "ns1", "rule=get:pods"])
            self.cluster.settle()
        self._send(words[0], client, via, words[1])
        if action == "revoke-bob":  # then bob tries what the binding granted, through each instance
            self.cluster.settle()
            self.cluster.tick(3)
            for index in range(len(self.cluster.instance_ids)):
                self._send("bob", client, index, ["list", "pods", "-n", "ns1"])
                self.cluster.settle()

    @precondition(lambda self: "namespace" in self.enabled)
    @rule(client=st.integers(0, 2), via=st.integers(0, 2), namespace=st.sampled_from(["ns2", "ns1"]))
    def delete_namespace(self, client, via, namespace) -> None:
        self._send("admin", client, via, ["delete", "namespace", namespace])

    @precondition(lambda self: "namespace" in self.enabled and len(self.cluster.instance_ids) >= 2)
    @rule(writes=st.integers(0, 2))
    def create_right_after_namespace_deletion(self, writes) -> None:
        """A namespace's deletion is acknowledged while other writes keep the store watch busy;
        a create in it right away, through another instance whose cache may not have seen the
        deletion yet, must still be refused (NamespaceLifecycle reads the namespace live)."""
        for client in range(1, 1 + min(writes, len(self.cluster.client_ids) - 1)):
            self._send("admin", client, client, ["patch", "configmap", "c1", "-n", "ns1", f"label=burst={client}"])
        self._send("admin", 0, 0, ["delete", "namespace", "ns2"])
        self.cluster.settle()
        self._send("admin", 0, 1, ["create", "configmap", "late", "-n", "ns2"])

    @precondition(lambda self: "serviceaccount" in self.enabled)
    @rule(client=st.integers(0, 2), via=st.integers(0, 2), recreate=st.booleans())
    def service_account(self, client, via, recreate) -> None:
        verb = ["create", "serviceaccount", "builder", "-n", "ns1"] if recreate else \
            ["delete", "serviceaccount", "builder", "-n", "ns1"]
        self._send("admin", client, via, verb)
        if not recreate:  # its token must stop working at once, through every instance
            self.cluster.settle()
            self._send("sa:ns1:builder", client, via + 1, ["get", "configmap", "c1", "-n", "ns1"])

    @precondition(lambda self: "serviceaccount" in self.enabled)
    @rule(client=st.integers(0, 2), via=st.integers(0, 2), wait=st.sampled_from([10, 70]))
    def pod_token_after_deletion(self, client, via, wait) -> None:
        """The pod runner is deleted (gracefully: it runs on a node); its projected token works
        while it finishes, and stops a minute after its deletion (kube's leeway)."""
        self._send("pod:ns1:runner", client, via, ["get", "configmap", "c1", "-n", "ns1"])
        self.cluster.settle()
        self._send("admin", client, via + 1, ["delete", "pod", "runner", "-n", "ns1"])
        self.cluster.settle()
        self.cluster.tick(wait)
        self._send("pod:ns1:runner", client, via, ["get", "configmap", "c1", "-n", "ns1"])

    @precondition(lambda self: "expiry" in self.enabled)
    @rule(client=st.integers(0, 2), via=st.integers(0, 2))
    def certificate_expires(self, client, via) -> None:
        """Time passes beyond carol's client certificate's notAfter; then she tries again (401)."""
        left = CAROL_CERT_EXPIRES + 1 - self.cluster.world.now
        if left > 0:
            self.cluster.tick(left)
        self._send("carol", client, via, ["get", "configmap", "c1", "-n", "ns1"])

    # ----- faults -------------------------------------------------------------------------

    @precondition(lambda self: "crash" in self.enabled)
    @rule(node=st.integers(0, 5), restart=st.booleans())
    def crash_or_restart(self, node, restart) -> None:
        nodes = self.cluster.instance_ids + self.cluster.member_ids
        target = nodes[node % len(nodes)]
        if restart:
            self.cluster.restart(target)
        else:
            self.cluster.crash(target)

    @precondition(lambda self: "partition" in self.enabled)
    @rule(instance=st.integers(0, 2))
    def cut_instance_from_store(self, instance) -> None:
        """Only the links between the instance and the store members are cut (a node no group
        names keeps every link): clients still reach it."""
        self.cluster.partition([[self._instance(instance)], list(self.cluster.member_ids)])

    @precondition(lambda self: "partition" in self.enabled)
    @rule(instance=st.integers(0, 2), verb=st.sampled_from(["list", "get"]), label=st.sampled_from(LABELS),
          rv=st.sampled_from(["unset", "unset", "written"]))
    def read_through_a_stale_instance(self, instance, verb, label, rv) -> None:
        """An instance loses the store; a write through another instance is acknowledged; a
        read without resourceVersion through the cut-off one must not miss it (it must go to the
        store, and fail there, rather than answer from its cache)."""
        cut = self._instance(instance)
        other = self._instance(instance + 1)
        if cut == other:
            return
        self.cut_instance_from_store(instance)
        self._send("alice", 0, instance + 1, ["patch", "configmap", "c1", "-n", "ns1", f"label={label}"])
        self.cluster.settle()
        words = ["list", "configmaps", "-n", "ns1"] if verb == "list" else ["get", "configmap", "c1", "-n", "ns1"]
        if rv == "written":  # not older than the write it just saw acknowledged
            words.append(f"rv={self._stored_rv('configmap', 'c1', 'ns1') or 1}")
        self._send("bob", 1, instance, words)
        self.cluster.settle()

    @precondition(lambda self: "partition" in self.enabled and "watch" in self.enabled)
    @rule(instance=st.integers(0, 2), label=st.sampled_from(LABELS))
    def relist_after_compaction(self, instance, label) -> None:
        """An instance cut off from the store while it is written and compacted must list again
        when it comes back (its watch cannot resume from a compacted revision), and then close
        its watchers: they may have missed events, so they must resume (or relist on 410)."""
        cut = self._instance(instance)
        self._send("admin", 0, instance, ["watch", "configmaps", "-n", "ns1", "from=now"])
        self.cut_instance_from_store(instance)
        for turn in range(2):
            self._send("alice", 1, instance + 1, ["patch", "configmap", "c1", "-n", "ns1", f"label={label}-{turn}"])
            self.cluster.settle()
        self.cluster.compact()
        self.cluster.heal()
        self.cluster.tick(30)
        self._send("alice", 1, instance + 1, ["patch", "configmap", "c1", "-n", "ns1", "label=app=after"])
        self.cluster.settle()

    @precondition(lambda self: "partition" in self.enabled and self.cluster.world.network.blocked)
    @rule()
    def heal(self) -> None:
        self.cluster.heal()

    @precondition(lambda self: "leader" in self.enabled and len(self.cluster.member_ids) > 1)
    @rule(member=st.integers(0, 2))
    def campaign(self, member) -> None:
        self.cluster.campaign(self.cluster.member_ids[member % len(self.cluster.member_ids)])

    @precondition(lambda self: "webhook" in self.enabled and self.cluster.options.webhooks)
    @rule(mode=st.sampled_from(["down", "slow", "wrong", "up", "up"]))
    def webhook(self, mode) -> None:
        self.cluster.webhook(mode)

    @precondition(lambda self: "compact" in self.enabled)
    @rule()
    def compact(self) -> None:
        self.cluster.compact()

    # ----- the end ------------------------------------------------------------------------

    def teardown(self) -> None:
        if self.cluster is None or self.cluster.violation is not None:
            return
        if self.cluster.world.network.blocked:
            self.cluster.heal()
        for node in self.cluster.member_ids + self.cluster.instance_ids:
            if not self.cluster.world.up(node):
                self.cluster.restart(node)
        self.cluster.settle()
