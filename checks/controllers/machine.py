"""The controllers state machine: a user working through kubectl (create, scale, roll out, roll
back, pause and delete Deployments; run and delete Jobs, and delete a Job's pod or one stuck on
a dead machine; create and delete a namespace with a
Deployment in it; create and delete a Service; add and remove nodes) interleaved with Sieve's
perturbations of the controllers (a crash between two writes of one reconcile, hidden events,
a restart pointed at a lagging API server instance, an admission webhook that refuses all their
writes while it is down, or some while one of its replicas is), crashes of the leader, kubelet failures and
partitions; every test case ends with ``converge``, the fault-free phase that judges Eventually
Stable Reconciliation and, after perturbations, compares the fixpoint with a run without them.

The user also ships releases that crash-loop and fixes them, and claims storage
(checks/controllers/user_actions.py). The user also acts while the leader is down or misses its watch events (Sieve's unobserved
states: relabel or delete a Service, delete or replace a Deployment, roll it out, scale it), and
sometimes waits for a rollout to complete (and for the rollout bounds to judge it) before the
next; the leader may be partitioned from the API servers until its Lease expires.

Each test case starts with a Deployment ``default/web`` of a drawn strategy and its Service, so
that rollouts come early and the Endpoints have pods to follow. Swarm testing: each test case draws which kinds of fault and action it uses. With
the user's controller (``--controller``), the user's objects (``-f``) are applied at the start
and the actions touch them instead (re-apply, delete, relabel the namespaces they name).
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from checks.controllers.cluster import ControllersCluster, ControllersOptions
from checks.controllers.commands import PROPAGATIONS, manifest_key
from checks.controllers.scenario import new_cluster
from checks.controllers.user_actions import UserActions, crash_loops
from checks.search import MachineCounter
from impl.apiserver.admission.default_toleration_seconds import NOT_READY_TAINT, UNREACHABLE_TAINT
from impl.controllers.parts import ControllersParts
from impl.sim.network import NetworkFaults
from spec.controllers.desired import deployment_left, is_ready
from spec.controllers.invariants import SCALE_SETTLE_TICKS
from spec.controllers.safety import spec_replicas
from spec.controllers.scheduling import ENDED_PHASES, pod_request, pods_on, quantity

__all__ = ["ControllersMachine", "SWARM_KINDS", "START_TICKS", "deployment"]

# "timing": the user's requests whose effect depends on how far the controllers got (pause,
# rollout undo, an orphaning delete); a test case with one is not compared with its twin
# (CTRL-LEVEL-TRIGGERED), so they are a kind of their own, not in every test case.
# "release" and "storage": checks/controllers/user_actions.py.
# minReadySeconds drawn for the first Deployment: a pod's Ready condition takes several ticks to
# reach the Deployment controller (a hop is a few ticks), so only a wait longer than that changes
# what it does.
MIN_READY_SECONDS = (0, 0, 30, 60)
# The tolerationSeconds of the pods' not-ready and unreachable tolerations (None: the API server's
# DefaultTolerationSeconds, 300). Users who want a fast failover set them lower (kube's docs
# suggest it for stateless apps): a node outage of a minute then evicts pods, and a powered-off
# node's pods leave within the test case instead of 350 ticks into the fault-free phase.
TOLERATION_SECONDS = (None, None, 10, 30)
NODE_PROBLEMS = (NOT_READY_TAINT, UNREACHABLE_TAINT)
SWARM_KINDS = ("crash", "hide", "lag", "kubelet", "partition", "jobs", "namespace", "service", "timing", "user",
               "release", "storage", "webhook")
# "kubelet" is drawn twice as often as each other kind: what its rules reach (a machine powered off
# for good, a node tainted NoExecute for good) shows only at the fixpoint, once per test case, and
# the kind has six rules to share a test case's steps; at one share in twelve, a powered-off node
# with pods was in 1 test case in 20 (mutation testing: a taint eviction whose timer restarted on
# every requeue, and terminating pods counted as replicas, both survived 60 s searches).
# "crash" is drawn twice as well: Sieve's restart is what most controller bugs need (a fresh leader
# that lists a world changed while no one watched, a reconcile cut between two writes), and each of
# its rules then carries it out in 12 of 12 scripted runs; at one share in fourteen, three catalog
# bugs that need it (a relabel or a rollout while the leader is down, an orphaning delete cut in
# two) were found in 3 of 5 seeds, or after 40 s.
KIND_DRAWS = SWARM_KINDS + ("kubelet", "crash")
# With "kubelet" on, a test case ends with a machine that runs pods powered off, when the pods
# tolerate an unreachable node for 10 or 30 s (the default 300 would add 350 ticks, seconds, to
# the fault-free phase): its pods must be evicted there, and nothing the user does takes them
# away first. Powered off by a rule only (seed 1, 20 test cases), a machine had pods at the end of
# 2, and in both they went before the fixpoint (a delete, a rollout's scale-down): a taint eviction
# whose timer restarted on every requeue survived three 60 s searches; with this, 2 of 4 found it.
START_TICKS = 20  # the elections are won and every node is Ready (11 ticks on the reference)
DEPLOYMENTS = ("default/web", "default/api", "team/web")
# The default (25% each, rounded up for surge and down for unavailable) is what most users run.
STRATEGIES = ({}, {}, {"maxSurge": 1, "maxUnavailable": 0}, {"maxSurge": 0, "maxUnavailable": 1},
              {"maxSurge": "50%", "maxUnavailable": "50%"}, {"maxSurge": 2, "maxUnavailable": "25%"}, None)
IMAGES = ("nginx:1.27", "nginx:1.28", "nginx:1.29")
MIN_NODES = 2
ELECTION_LEASES = ("kube-controller-manager", "kube-scheduler")
# What the user does while the leader is down or misses its watch events (Sieve's unobserved
# states): relabel or delete the Service, delete the Deployment (in the background or the
# foreground, kubectl's --cascade=foreground; or delete it and create it again under its name at
# once), roll it out, scale it (up by several pods, so that the ReplicaSet controller creates them
# in more than one batch).
# (Rollouts a third of them instead found no more overshoots in five seeds of each catalog bug
# that needs one, and fewer of the bugs that need a relabel or a Service deleted unseen.)
UNSEEN_ACTIONS = ("relabel", "relabel", "delete-service", "delete", "replace", "set-image", "scale", "scale")
UNSEEN_REPLICAS = (1, 3, 6, 8)
ROLLOUT_WAIT_TICKS = 200  # a rollout-status wait before a new rollout, at most this long
# How long the user waits before a new rollout: not at all, until the last one is complete, or
# also until the rollout bounds judge the Deployment (SCALE_SETTLE_TICKS after its last scale).
WAITS = ("none", "complete", "settled", "settled")
# How a test case starts, after web and its Service: at once, once web's rollout is settled, or
# also with a rollout of web to the next image, waited for. A fault (drawn kubelet faults are
# common) excuses the rollout bounds for the rest of a test case, so without the third, five
# seeds of rolling-update-rounding found it once (four times before kubelet faults were doubled).
STARTS = ("none", "settled", "rollout")
# With "crash", that first rollout is cut at once by a restart of the leader (a control plane
# upgraded during a deploy: Sieve's restart half-way through a reconcile), and the deploy relabels
# web's Service while it is down. The new leader must not act before its informers have listed:
# one that does sees web's new template and no ReplicaSet, or its ReplicaSets and no pods, and
# creates a second full set; and it must copy labels it never saw change. Scripted (4 seeds, both
# networks), reconcile-before-cache-sync overshot maxSurge in 6 of 8 runs and labels-copied-on-
# update-event left the Endpoints' labels behind in 8 of 8; the reference held in 8 of 8. By the
# rules alone, each of the two was found in 3 of 5 seeds.
# With "timing", that first rollout is made as kube's docs show batching changes: pause, change the
# template, resume PAUSED_START_TICKS later. A paused Deployment's sync must not start the new
# release: scripted (4 seeds, both networks), paused-sync-creates-new-replicaset rolled out while
# paused in 8 of 8 runs at 20 ticks and 0 of 8 when resumed at once; the reference held in 8 of 8.
# By the "timing" kind's change_while_paused alone, it was found in 3 of 5 seeds.
PAUSED_START_TICKS = 20
# With "webhook", a start that waits for web's settled rollout then deletes web with --cascade=orphan
# while the webhook refuses half of the controllers' writes, and applies it again once gone (how
# users change a field a Deployment will not let them change in place: its new self adopts the
# ReplicaSets). The collector must release every dependent before it removes the orphan finalizer:
# scripted (4 seeds, both networks, a third or half of the writes refused), one that removed it
# first let them be collected in 8 of 8 runs; the reference held in 8 of 8. Measured, web was gone
# 26-59 ticks after the delete; kubectl delete waits as long (its --wait).
# By the "webhook" kind's act_while_webhook_fails alone, it was found in 2 of 5 seeds.
ORPHAN_DELETE_TICKS = 80
# Each test case uses a few kinds (swarm testing): with all of them, nearly every test case had a
# fault that excuses the rollout bounds (a node outage, a partition, a lagging instance) early on.
KINDS_MAX = 3
# How long a node stays down across a Recreate rollout (its old pods wait for their kubelet; 30
# ticks ended before the Deployment controller would scale the new ReplicaSet up), and across the
# deletion of namespace team (one pass of the namespace controller over every type takes about 100
# ticks; its pods must still be Terminating when it ends).
RECREATE_NODE_DOWN_TICKS = 60
NAMESPACE_NODE_DOWN_TICKS = 150
# A machine powered off this recently may still be given pods (its Node reads Ready until its
# lease runs out, 40 ticks, and the node lifecycle controller's next pass).
LOST_UNSEEN_TICKS = 60
# How long after its kubelet stops a node's pods read not Ready in the store: the node monitor
# grace period (50 ticks), the next monitor pass (5) and the pod patches (measured, 3 seeds on each
# network: 68-79 ticks). Pods that tolerate the unreachable taint for 10 s are evicted by then.
PODS_MARKED_NOT_READY_TICKS = 90
# The Deployment that fills the cluster's free cpus (its pods request one each; a node has four),
# and how long it runs: measured, 11-15 pods are all bound within 150 ticks.
FILL_KEY = "default/load"
FILL_TICKS = 150
# The load asks for more than there is (kube leaves the rest Pending, until an autoscaler or the
# user adds nodes): every node fills to the last cpu, so a scheduler that miscounts one bind in
# flight overcommits a node. Scripted (3 and 4 nodes, 4 seeds, delays of 1-2 ticks): a scheduler
# that forgets its assumed pods once their binds are answered overcommitted in 8 of 8 runs at 2
# more than free, 5 of 8 at as many as free, 4 of 8 at one fewer.
# The load also comes at the start of a third of the test cases that wait for web's first rollout,
# whatever their kinds, during that wait (it costs few ticks more): by the "user" kind's rule alone
# (a test case in eight), the scheduler that forgets its assumed pods was found in 2 of 5 seeds.
FILL_MORE_THAN_FREE = 2
# The Job whose pod's machine dies, and how long the user waits for that pod to be bound (measured,
# 4 seeds on each network: 12-19 ticks after the Job's create).
LOST_JOB = "nightly"
JOB_POD_WAIT_TICKS = 60
# A Job "batch" (3 completions, 2 at a time, backoffLimit 2) runs from the start in half of the test
# cases, whatever kinds they draw, its pods succeeding or failing (exit code): a Job controller's
# bookkeeping breaks on the ordinary run of a Job (a status write refused on a cache behind its own
# last write, 13 of 18 scripted runs), and within the "jobs" kind alone (one test case in seven) a
# finalizer removed before the pod was counted took 41 s to find. It runs during the start's wait.
START_JOB_EXIT_CODES = (None, None, 0, 1)

# With "hide" on, web has CREATE_HIDDEN_REPLICAS pods and the target misses its watch events from
# a drawn tick after web is created on: the ReplicaSet controller has sent its first slow-start
# batches (1, 2, 3) and seen some of their pods, not all (Sieve's unobserved state half-way
# through a reconcile: the overshoot that kube's expectations prevent). Measured, 6 pods overshoot
# every strategy's surge but 50%, when hidden 16-30 ticks after the create on a perfect network
# and 26-30 (one seed in three: only 30) with delays of 1-2 ticks; 3 or 4 pods overshoot only the
# smaller surges, hidden 16-22 ticks after. Hidden at a tick of the machine's later steps instead,
# five 60 s searches of the catalog's no-expectations-overshoot found it 0 times.
CREATE_HIDDEN_REPLICAS = 6
CREATE_HIDDEN_AFTER_TICKS = (18, 22, 26, 30)
CREATE_HIDDEN_TICKS = 30

# The policy webhook (failurePolicy Fail) refuses some of the controllers' writes from the start
# of two test cases in five, whatever kinds they draw: one in five, one in three or one in two
# (one replica of its Service is down, and the calls routed there fail). A partial outage splits
# a reconcile: one of a scale-down's pod deletes fails and the others go through, a dependent's
# release fails and the finalizer removal after it does not. An outage of them all reached such
# a split only when it ended between two writes, and two 60 s searches with it killed neither a
# ReplicaSet controller that kept expecting the deletes that failed nor a collector that removed
# the orphan finalizer after a failed release; as a kind of its own (one test case in six), the
# partial outage killed them in one run of two seeds and in the next not (reach left to chance).
# With the "webhook" kind, a rule takes it down for a while, or breaks more or fewer of its
# calls, after which it is healthy, and the user acts while it fails.
WEBHOOK_FAIL_PERCENTS = (0, 0, 0, 20, 34, 50)
WEBHOOK_OUTAGE_PERCENTS = (34, 50, 100)
WEBHOOK_SPLIT_PERCENTS = (34, 50)  # a partial outage: some of a reconcile's writes fail, some pass
WEBHOOK_TICKS = (20, 60, 150)
WEBHOOK_FOR_EVER_TICKS = 10_000  # the start's partial outage lasts until the fault-free phase
# What the user does while the webhook fails: a scale (down or up, in batches), an orphaning
# delete (the collector releases the dependents, then removes the finalizer), a delete in the
# foreground (the collector deletes the dependents, then removes the finalizer), a rollout.
WEBHOOK_ACTIONS = ("scale", "scale", "orphan", "orphan", "foreground", "set-image")

network_faults = st.sampled_from([NetworkFaults(), NetworkFaults(), NetworkFaults(1, 2)])


def deployment(key: str, replicas: int, strategy: dict | None, image: str = IMAGES[0],
               min_ready_seconds: int = 0, toleration_seconds: int | None = None) -> dict[str, Any]:
    """A Deployment of ``app: NAME`` pods; ``strategy`` None: Recreate, else RollingUpdate with
    those maxSurge / maxUnavailable (empty: the defaults, 25% each); ``toleration_seconds``: how
    long its pods stay on a node that is not ready or unreachable (None: the default)."""
    namespace, _, name = key.partition("/")
    pod_spec: dict[str, Any] = {"containers": [{"name": name, "image": image}], **_tolerations(toleration_seconds)}
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}
    spec["strategy"] = {"type": "Recreate"} if strategy is None else \
        {"type": "RollingUpdate", **({"rollingUpdate": strategy} if strategy else {})}
    if min_ready_seconds:
        spec["minReadySeconds"] = min_ready_seconds
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def _service(name: str, tier: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "labels": {"tier": tier}},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


def _tolerations(toleration_seconds: int | None) -> dict[str, Any]:
    """The pod spec's NoExecute tolerations of a node not ready or unreachable for that long (none
    for None: the API server's default)."""
    if toleration_seconds is None:
        return {}
    return {"tolerations": [{"key": problem, "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": toleration_seconds} for problem in NODE_PROBLEMS]}


def _job(name: str, completions: int, parallelism: int, backoff: int, exit_code: int,
         toleration_seconds: int | None = None) -> dict[str, Any]:
    annotations = {"kinv.dev/exit-after": "5", "kinv.dev/exit-code": str(exit_code)}
    pod_spec = {"restartPolicy": "Never", "containers": [{"name": "job", "image": "busybox"}],
                **_tolerations(toleration_seconds)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": backoff,
                     "template": {"metadata": {"annotations": annotations}, "spec": pod_spec}}}


class ControllersMachine(UserActions, RuleBasedStateMachine):
    parts: ControllersParts = ControllersParts()
    counter: MachineCounter | None = None
    controller: str = ""  # the user's MODULE:CLASS (--controller)
    manifests: tuple[dict[str, Any], ...] = ()  # the user's objects (-f)

    def __init__(self) -> None:
        super().__init__()
        self.cluster: ControllersCluster | None = None
        self.enabled: frozenset[str] = frozenset()
        self.scaled_at: dict[str, int] = {}  # Deployment -> the tick the user last set its replicas
        self.toleration_seconds: int | None = None  # of every Deployment's pods (TOLERATION_SECONDS)
        self.tainted: set[str] = set()  # kubelets whose Node keeps a taint the user put on it
        self.lost_at: dict[str, int] = {}  # kubelet -> the tick it was powered off
        self.power_off_last = False  # a machine running pods is powered off as the test case ends
        if self.counter is not None:
            self.counter.saw(self)

    @initialize(seed=st.integers(0, 2**16), managers=st.sampled_from([2, 2, 3]), nodes=st.sampled_from([3, 3, 4]),
                faults=network_faults, kinds=st.frozensets(st.sampled_from(KIND_DRAWS), min_size=1, max_size=KINDS_MAX),
                replicas=st.integers(2, 4), strategy=st.sampled_from(STRATEGIES), min_ready=st.sampled_from(MIN_READY_SECONDS),
                start=st.sampled_from(STARTS), toleration=st.sampled_from(TOLERATION_SECONDS),
                hidden_after=st.sampled_from(CREATE_HIDDEN_AFTER_TICKS), webhook_fail=st.sampled_from(WEBHOOK_FAIL_PERCENTS),
                job_exit=st.sampled_from(START_JOB_EXIT_CODES), fill=st.sampled_from([False, False, True]))
    def setup(self, seed, managers, nodes, faults, kinds, replicas, strategy, min_ready, start, toleration,
              hidden_after, webhook_fail, job_exit=None, fill=False) -> None:
        # Each chunk starts with Hypothesis' simplest test case, the same every time (all draws
        # zero): measured, it was half of a search's test cases. One of them is enough.
        assume(seed != 0)
        options = ControllersOptions(managers=managers, nodes=nodes, seed=seed, faults=faults, controller=self.controller)
        self.cluster = new_cluster(options, self.parts)
        # An operator's classic failure is a restart that misses an event: always in play for the user's.
        self.enabled = kinds | {"crash"} if self.controller else kinds
        self.toleration_seconds = toleration
        self.power_off_last = "kubelet" in kinds and toleration is not None and not self.controller
        self.cluster.tick(START_TICKS)
        if webhook_fail:
            self.cluster.webhook_outage(WEBHOOK_FOR_EVER_TICKS, webhook_fail)
        for manifest in self.manifests:
            self.cluster.apply_object(copy.deepcopy(manifest))
        if not self.controller:
            hidden = hidden_after if "hide" in kinds else None
            web_replicas = replicas if hidden is None else CREATE_HIDDEN_REPLICAS
            self._create_web(web_replicas, strategy, min_ready, hidden)
            created = self.cluster.world.now
            if job_exit is not None:
                self.cluster.apply_object(_job("batch", 3, 2, 2, job_exit, toleration))
            filled = fill and start != "none" and self._start_fill()  # the load (FILL_MORE_THAN_FREE)
            if start != "none":  # what comes next starts from a complete rollout, under the rollout bounds
                self._wait("default/web", "settled")
            if filled:
                self._end_fill(created)
            if start == "rollout":  # and a first rollout is judged by them before any fault excuses them
                self._first_rollout()
            if start == "settled" and self._on("webhook"):
                self._orphan_and_reapply_web(web_replicas, strategy, min_ready)
            if "namespace" in kinds:  # team and its pods from the start, as web: its deletion comes early
                self.create_namespace(False, 2)

    def _create_web(self, replicas: int, strategy: dict | None, min_ready: int, hidden_after: int | None) -> None:
        """Create web and its Service; with ``hidden_after``, the target misses its watch events
        from that many ticks after the create on."""
        self._create("default/web", replicas, strategy, min_ready)
        created = self.cluster.world.now
        self.service("web", True, "a")
        if hidden_after is not None:
            self.cluster.tick(max(1, created + hidden_after - self.cluster.world.now))
            self._hide_target(CREATE_HIDDEN_TICKS)

    def _first_rollout(self) -> None:
        """Web's first rollout, to the next image (STARTS); with "timing", made while paused
        (PAUSED_START_TICKS); with "crash", cut at once by a restart of the leader."""
        if self._on("timing"):
            self.cluster.pause("default/web", True)
        self.cluster.set_image("default/web", IMAGES[1])
        if self._on("timing"):
            self.cluster.tick(PAUSED_START_TICKS)
            self.cluster.pause("default/web", False)
        if self._on("crash"):  # the Service relabelled meanwhile
            self.act_while_down("relabel", 0, 1)
        self.cluster.rollout_status("default/web", ROLLOUT_WAIT_TICKS)

    def _orphan_and_reapply_web(self, replicas: int, strategy: dict | None, min_ready: int) -> None:
        """Delete web with --cascade=orphan while the webhook fails some writes, wait as kubectl
        delete does, and apply web again: it adopts its ReplicaSets (ORPHAN_DELETE_TICKS)."""
        self.act_while_webhook_fails("orphan", 0, WEBHOOK_SPLIT_PERCENTS[-1])
        self.cluster.tick(ORPHAN_DELETE_TICKS)
        if "default/web" not in self.cluster.stored("deployments"):
            self._create("default/web", replicas, strategy, min_ready)

    def _on(self, kind: str) -> bool:
        return kind in self.enabled

    def _leader(self) -> str | None:
        leader = self.cluster.leader()
        return leader if leader in self.cluster.manager_ids and self.cluster.world.up(leader) else None

    def _hosts(self) -> tuple[str, ...]:
        return self.cluster.manager_ids + self.cluster.operator_ids

    def _target(self) -> str | None:
        """Whom the controllers' perturbations aim at: the user's controller when there is one,
        else the leading controller manager."""
        return self.cluster.operator_ids[0] if self.cluster.operator_ids else self._leader()

    # ----- time ----------------------------------------------------------------------------------

    @rule(count=st.sampled_from([1, 3, 5, 10, 20]))
    def tick(self, count: int) -> None:
        self.cluster.tick(count)

    # ----- the user: Deployments ---------------------------------------------------------------

    @precondition(lambda self: not self.controller)
    @rule(key=st.sampled_from(DEPLOYMENTS), replicas=st.integers(1, 4), strategy=st.sampled_from(STRATEGIES))
    def create_deployment(self, key, replicas, strategy) -> None:
        if key not in self.cluster.stored("deployments"):
            self._create(key, replicas, strategy)

    @precondition(lambda self: not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), replicas=st.integers(0, 5))
    def scale(self, which, replicas) -> None:
        self._scale(self._deployment(which), replicas)

    @precondition(lambda self: not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), image=st.integers(0, 1), wait=st.sampled_from(WAITS), node_down=st.booleans())
    def set_image(self, which, image, wait, node_down) -> None:
        """A new rollout (an image the Deployment does not run now), after a wait (WAITS). A
        Recreate rollout may come while a node of its pods is down (``node_down``): its old pods
        are gone only once their kubelet confirms it, and the new ones must wait until then."""
        key = self._deployment(which)
        if not self._wait(key, wait) or self._rollout_blocked(key):
            return
        kubelets = self._kubelets_hosting(self._pods_of(key)) if node_down and self._recreate(key) else []
        if not kubelets:
            self.cluster.set_image(key, self._other_image(key, image))
            return
        self.cluster.crash(kubelets[0])
        self.cluster.set_image(key, self._other_image(key, image))
        self.cluster.tick(RECREATE_NODE_DOWN_TICKS)
        self.cluster.restart(kubelets[0])

    @precondition(lambda self: self._on("timing") and not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), wait=st.sampled_from(WAITS))
    def rollout_undo(self, which, wait) -> None:
        """``kubectl rollout undo``, unless it would go back to a broken release (a user does not
        roll back to a release they fixed: the Deployment would never complete)."""
        key = self._deployment(which)
        if self._wait(key, wait) and not crash_loops(self.cluster.previous_template(key)) \
                and not self._rollout_blocked(key):
            self.cluster.rollout_undo(key)

    def _wait(self, key: str, wait: str) -> bool:
        """Wait as a user does before a new rollout (WAITS): a rollout that starts from a complete
        one, and one that the rollout bounds judge, as a careful user's does. False: the
        Deployment is gone meanwhile."""
        if wait != "none":
            self.cluster.rollout_status(key, ROLLOUT_WAIT_TICKS)
        settle = self.scaled_at.get(key, 0) + SCALE_SETTLE_TICKS - self.cluster.world.now
        if wait == "settled" and settle > 0 and key in self.cluster.stored("deployments"):
            self.cluster.tick(settle)
        return key in self.cluster.stored("deployments")

    @precondition(lambda self: self._on("timing") and not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), paused=st.booleans())
    def pause(self, which, paused) -> None:
        key = self._deployment(which)
        if paused or not self._rollout_blocked(key):
            self.cluster.pause(key, paused)

    @precondition(lambda self: self._on("timing") and not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), paused_for=st.sampled_from([0, 20, 60]))
    def change_while_paused(self, which, paused_for) -> None:
        """Kube's docs, "Pausing and Resuming a rollout": pause, change the template (to an image
        it never ran: one it had unpaused may rightly roll out from a lagging cache), resume. By
        ``pause`` alone, no template changed while paused in 16 test cases, and a paused Deployment
        that kept rolling out survived two 60 s searches (helper-39)."""
        key = self._deployment(which)
        if self._rollout_blocked(key):
            return
        self.cluster.pause(key, True)
        self.cluster.set_image(key, f"nginx:1.{30 + self.cluster.world.now % 1000}")
        if paused_for:
            self.cluster.tick(paused_for)
        if key in self.cluster.stored("deployments"):
            self.cluster.pause(key, False)

    @precondition(lambda self: not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), propagation=st.sampled_from(("",) + PROPAGATIONS))
    def delete_deployment(self, which, propagation) -> None:
        """Delete a Deployment; not in the foreground while one of its pods is on a powered-off
        machine: the Deployment would wait for ever for that pod to go (kube's too)."""
        key = self._deployment(which)
        if propagation == "Orphan" and not self._on("timing") or \
                propagation == "Foreground" and self._on_lost_node(self._pods_of(key)):
            propagation = "Background"
        self.cluster.delete_object("deployments", key, propagation)

    @precondition(lambda self: not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), replicas=st.integers(1, 4), strategy=st.sampled_from(STRATEGIES))
    def replace_deployment(self, which, replicas, strategy) -> None:
        """Delete a Deployment and at once create it again under its name: a new UID, and the
        old one's ReplicaSets still name the old UID."""
        self._replace(self._deployment(which), replicas, strategy)

    def _replace(self, key: str, replicas: int, strategy: dict | None) -> None:
        self.cluster.delete_object("deployments", key)
        self._create(key, replicas, strategy)

    def _create(self, key: str, replicas: int, strategy: dict | None, min_ready: int = 0) -> None:
        self.cluster.apply_object(deployment(key, replicas, strategy, min_ready_seconds=min_ready,
                                             toleration_seconds=self.toleration_seconds))
        self.scaled_at[key] = self.cluster.world.now

    def _scale(self, key: str, replicas: int) -> None:
        self.cluster.scale(key, replicas)
        self.scaled_at[key] = self.cluster.world.now

    def _deployment(self, which: int) -> str:
        keys = sorted(self.cluster.stored("deployments"))
        return keys[which % len(keys)]

    def _act_unseen(self, action: str, which: int) -> None:
        """One of UNSEEN_ACTIONS, on one of the Deployments (or Services)."""
        if action == "relabel":  # the Service there is (web, unless the user deleted it)
            self._touch_service("web" if "default/web" in self.cluster.stored("services") else "api", delete=False)
            return
        if action == "delete-service":
            self._touch_service(("web", "api")[which % 2], delete=True)
            return
        if not self.cluster.stored("deployments"):
            return
        key = self._deployment(which)
        if action == "delete":  # in the foreground one time in two: the collector's promise spans the restart
            foreground = which % 2 and not self._on_lost_node(self._pods_of(key))
            self.cluster.delete_object("deployments", key, "Foreground" if foreground else "")
        elif action == "replace":
            self._replace(key, 1 + which % 4, STRATEGIES[which % len(STRATEGIES)])
        elif action == "set-image":
            if not self._rollout_blocked(key):
                self.cluster.set_image(key, self._other_image(key, which))
        else:
            self._scale(key, UNSEEN_REPLICAS[which % len(UNSEEN_REPLICAS)])

    def _other_image(self, key: str, which: int) -> str:
        """An image the Deployment does not run now: a set-image that starts a rollout."""
        spec = (self.cluster.stored("deployments").get(key) or {}).get("spec") or {}
        current = (((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}])[0].get("image")
        others = [image for image in IMAGES if image != current]
        return others[which % len(others)]

    # ----- where the pods are ---------------------------------------------------------------------

    def _pods_of(self, key: str) -> list[dict[str, Any]]:
        """The pods of the Deployment ``key`` (its namespace, label ``app: NAME``), or of every
        Deployment in a namespace (``key`` NAMESPACE/)."""
        namespace, _, name = key.partition("/")
        return [pod for k, pod in self.cluster.stored("pods").items() if k.startswith(namespace + "/")
                and (not name or ((pod.get("metadata") or {}).get("labels") or {}).get("app") == name)]

    def _kubelets_hosting(self, pods: list[dict[str, Any]]) -> list[str]:
        """The kubelets, up and not removed, running one of ``pods`` (not being deleted)."""
        names = {(pod.get("spec") or {}).get("nodeName") for pod in pods
                 if not (pod.get("metadata") or {}).get("deletionTimestamp")}
        return [k for k in self.cluster.kubelet_ids if self.cluster.node_names[k] in names
                and k not in self.cluster.removed and self.cluster.world.up(k)]

    def _on_lost_node(self, pods: list[dict[str, Any]]) -> bool:
        """Whether one of ``pods`` is bound to a powered-off machine's node, or may still be (not
        bound yet, a machine powered off lately: its Node reads Ready until its lease runs out).
        Such a pod, once deleted, is Terminating for ever: kube waits for its kubelet."""
        lost = {self.cluster.node_names[k] for k in self.cluster.lost if k in self.cluster.node_names}
        lately = any(self.cluster.world.now - at < LOST_UNSEEN_TICKS for at in self.lost_at.values())
        return any((pod.get("spec") or {}).get("nodeName") in lost
                   or (lately and not (pod.get("spec") or {}).get("nodeName")) for pod in pods)

    def _recreate(self, key: str) -> bool:
        spec = (self.cluster.stored("deployments").get(key) or {}).get("spec") or {}
        return (spec.get("strategy") or {}).get("type") == "Recreate"

    def _rollout_blocked(self, key: str) -> bool:
        """A Recreate Deployment with a pod on a powered-off machine: a new rollout would wait for
        ever for that pod to go (kube's too, until someone deletes the Node or forces the pod out),
        so the user does not start one (CTRL-CONVERGES would rightly find it never completes)."""
        return self._recreate(key) and self._on_lost_node(self._pods_of(key))

    def _others_schedulable(self, kubelet: str) -> bool:
        """Whether a node other than ``kubelet``'s may take new pods: not removed, not powered
        off, no taint kept (the user never takes away the last one)."""
        return any(k != kubelet and k not in self.cluster.removed and k not in self.cluster.lost
                   and k not in self.tainted for k in self.cluster.kubelet_ids)

    @precondition(lambda self: self._on("user") and not self.controller
                  and FILL_KEY not in self.cluster.stored("deployments"))
    @rule()
    def fill_the_cluster(self) -> None:
        """A Deployment whose pods request a cpu each (a load test, a batch of workers), more than
        the schedulable nodes have cpus free (FILL_MORE_THAN_FREE), deleted FILL_TICKS later. The scheduler's
        resource fit shows only when room runs short (CTRL-NODE-FITS): every other pod requests
        nothing and fits anywhere, and a scheduler that did not count its binds in flight (kube's
        assume) survived every search."""
        if self._start_fill():
            self._end_fill(self.cluster.world.now)

    def _start_fill(self) -> bool:
        """Create the load of ``fill_the_cluster``; False: there is no room for one."""
        free = self._free_cpus()
        if free < 2 or self._pods_of(FILL_KEY):
            return False
        fill = deployment(FILL_KEY, free + FILL_MORE_THAN_FREE, None, toleration_seconds=self.toleration_seconds)
        fill["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1"}}
        self.cluster.apply_object(fill)
        return True

    def _end_fill(self, started: int) -> None:
        """Delete the load FILL_TICKS after it was created at ``started``."""
        self.cluster.tick(max(1, started + FILL_TICKS - self.cluster.world.now))
        self.cluster.delete_object("deployments", FILL_KEY)

    def _free_cpus(self) -> int:
        """Whole cpus left on the nodes that may take pods: up, Ready, neither cordoned nor tainted."""
        up = {self.cluster.node_names[k] for k in self.cluster.kubelet_ids if k not in self.cluster.removed
              and k not in self.cluster.lost and self.cluster.world.up(k)}
        pods = list(self.cluster.stored("pods").values())
        free = 0
        for name, node in sorted(self.cluster.stored("minions").items()):
            if name in up and not (node.get("spec") or {}).get("taints") and not (node.get("spec") or {}).get(
                    "unschedulable") and is_ready(node):
                allocatable = quantity(((node.get("status") or {}).get("allocatable") or {}).get("cpu", 0))
                free += int(allocatable - sum((pod_request(p)[0] for p in pods_on(name, pods)), Fraction(0)))
        return free

    # ----- the user: Jobs, a namespace, a Service ------------------------------------------------

    @precondition(lambda self: self._on("jobs") and not self.controller)
    @rule(name=st.sampled_from(["batch", "report"]), completions=st.integers(1, 3), parallelism=st.integers(1, 2),
          backoff=st.integers(0, 2), exit_code=st.sampled_from([0, 1]))
    def create_job(self, name, completions, parallelism, backoff, exit_code) -> None:
        if f"default/{name}" not in self.cluster.stored("jobs"):
            self.cluster.apply_object(_job(name, completions, parallelism, backoff, exit_code, self.toleration_seconds))

    @precondition(lambda self: self._on("jobs") and not self.controller and self.cluster.stored("jobs"))
    @rule(which=st.integers(0, 1), propagation=st.sampled_from(("Background", "Foreground", "Orphan")))
    def delete_job(self, which, propagation) -> None:
        """Delete a Job; not in the foreground while one of its pods is on a powered-off machine
        (as ``delete_deployment``)."""
        key = sorted(self.cluster.stored("jobs"))[which % len(self.cluster.stored("jobs"))]
        name = key.partition("/")[2]
        pods = [pod for k, pod in self.cluster.stored("pods").items() if k.startswith("default/") and any(
            ref.get("kind") == "Job" and ref.get("name") == name for ref in (pod.get("metadata") or {}).get(
                "ownerReferences") or ())]
        if propagation == "Foreground" and self._on_lost_node(pods):
            propagation = "Background"
        self.cluster.delete_object("jobs", key, propagation)

    @precondition(lambda self: self._on("jobs") and not self.controller and self._more_than_min_nodes()
                  and f"default/{LOST_JOB}" not in self.cluster.stored("jobs"))
    @rule(backoff=st.sampled_from([0, 0, 1]), completions=st.integers(1, 2), which=st.integers(0, 9))
    def job_pods_machine_dies(self, backoff, completions, which) -> None:
        """The user runs a Job; the machine under one of its pods dies for good before the pod
        ends, and the user force-deletes the pod (``kubectl delete --force --grace-period=0``, as
        ``delete_pod``). No kubelet will report its end: the Job controller must count it as
        failed (deleted before it succeeded) to release its tracking finalizer and keep to the
        backoffLimit, mostly 0 here. Waits up to JOB_POD_WAIT_TICKS for the pod to be bound. A
        Job's pods run 5 ticks: powered off by the kubelet kind's rules, or by this rule at a
        Job the user had started earlier, a machine was almost never under one, and a Job
        controller that counted only Failed pods survived 2 x 60 s twice."""
        self.cluster.apply_object(_job(LOST_JOB, completions, 1, backoff, 0, self.toleration_seconds))
        for _ in range(JOB_POD_WAIT_TICKS):
            candidates = self._unended_job_pods_on_machines_that_may_go()
            if candidates:
                break
            self.cluster.tick(1)
        else:
            return
        key, kubelet = candidates[which % len(candidates)]
        self.cluster.power_off(kubelet)
        self.lost_at[kubelet] = self.cluster.world.now
        self.cluster.delete_object("pods", key, grace=0)

    def _unended_job_pods_on_machines_that_may_go(self) -> list[tuple[str, str]]:
        """(pod key, kubelet) of each Job's pod bound and not ended, not being deleted, on a
        machine that ``_power_off_machine`` could take."""
        may_go = {self.cluster.node_names[k]: k for k in self._machines_that_may_go()}
        found = []
        for key, pod in sorted(self.cluster.stored("pods").items()):
            metadata, node = pod.get("metadata") or {}, (pod.get("spec") or {}).get("nodeName")
            if node in may_go and not metadata.get("deletionTimestamp") \
                    and (pod.get("status") or {}).get("phase") not in ENDED_PHASES \
                    and any(ref.get("kind") == "Job" for ref in metadata.get("ownerReferences") or ()):
                found.append((key, may_go[node]))
        return found

    @precondition(lambda self: (self._on("jobs") or self._on("kubelet")) and not self.controller)
    @rule(which=st.integers(0, 9), force=st.booleans())
    def delete_pod(self, which, force) -> None:
        """``kubectl delete pod``: the user restarts a pod of a Job, or clears one stuck on a machine
        that died, with ``--force --grace-period=0`` there (kube's docs, "Force Delete StatefulSet
        Pods"; nothing else moves it before its tolerationSeconds). Not a Deployment's pod on a
        healthy node: a user's delete is a disruption the rollout bounds do not speak of. Pods on a
        powered-off machine first, then a Job's that are not running yet, then its others. Not
        while the leader misses its watch events: a Job's pod created and deleted unseen leaves
        kube's Job controller waiting for a creation it will never observe (its addPod takes a pod
        first seen being deleted for a deletion only), until an informer resync hours later
        (scenario controllers-job-stalls-on-a-pod-first-seen-deleted)."""
        if self.cluster.hidden:
            return
        lost = {self.cluster.node_names[k] for k in self.cluster.lost if k in self.cluster.node_names}
        pods = [(key, pod) for key, pod in sorted(self.cluster.stored("pods").items())
                if not (pod.get("metadata") or {}).get("deletionTimestamp")]
        on_lost = [key for key, pod in pods if (pod.get("spec") or {}).get("nodeName") in lost]
        of_jobs = [(key, pod) for key, pod in pods if key not in on_lost and any(
            ref.get("kind") == "Job" for ref in (pod.get("metadata") or {}).get("ownerReferences") or ())]
        waiting = [key for key, pod in of_jobs if (pod.get("status") or {}).get("phase") in (None, "Pending")]
        candidates = on_lost or waiting or [key for key, _ in of_jobs]
        if candidates:
            key = candidates[which % len(candidates)]
            self.cluster.delete_object("pods", key, grace=0 if force or key in on_lost else None)

    @precondition(lambda self: self._on("namespace") or self.controller)
    @rule(labelled=st.booleans(), replicas=st.integers(0, 3), node_down=st.booleans())
    def create_namespace(self, labelled, replicas, node_down=False) -> None:
        """Create the namespace ``team``, with a Deployment of ``replicas`` pods in it (none: an
        empty namespace; the user's controller has its own objects); delete it if it is there
        (as ``delete_namespace``). Hypothesis turns each rule off in some test cases (its own
        swarm of rules): measured, ``delete_namespace`` was not taken once in 8 test cases with
        namespace team, and a namespace finalized while one of its pods was still Terminating
        survived two 60 s searches; either rule now deletes team."""
        namespaces = self.cluster.stored("namespaces")
        if "team" in namespaces:
            self.delete_namespace(node_down)
        else:
            labels = self._namespace_labels() if labelled else {}
            self.cluster.apply_object({"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": "team", **({"labels": labels} if labels else {})}})
            if replicas and not self.controller:
                self._create("team/web", replicas, STRATEGIES[0])

    @precondition(lambda self: (self._on("namespace") or self.controller) and "team" in self.cluster.stored("namespaces"))
    @rule(node_down=st.booleans())
    def delete_namespace(self, node_down) -> None:
        """Delete the namespace ``team``; with ``node_down``, while the kubelet of one of its pods is
        down (kube's namespace stuck Terminating on a node that went away): the namespace may go
        only once that kubelet is back and has confirmed its pods' end. Not while one of its pods
        is on a powered-off machine: kube's namespace would stay Terminating for ever."""
        pods = self._pods_of("team/")
        if self._on_lost_node(pods):
            return
        kubelets = self._kubelets_hosting(pods) if node_down else []
        if kubelets:
            self.cluster.crash(kubelets[0])
        self.cluster.delete_object("namespaces", "team")
        if kubelets:
            self.cluster.tick(NAMESPACE_NODE_DOWN_TICKS)
            self.cluster.restart(kubelets[0])

    @precondition(lambda self: self._on("service") and not self.controller)
    @rule(name=st.sampled_from(["web", "api"]), create=st.booleans(), tier=st.sampled_from(["a", "b"]))
    def service(self, name, create, tier) -> None:
        """Create (or relabel) a Service of the Deployment's pods, or delete it."""
        if create:
            self.cluster.apply_object(_service(name, tier))
        elif f"default/{name}" in self.cluster.stored("services"):
            self.cluster.delete_object("services", f"default/{name}")

    @precondition(lambda self: self._on("service") and not self.controller)
    @rule(name=st.sampled_from(["web", "api"]))
    def service_flash(self, name) -> None:
        """Create a Service and delete it at once: the Endpoints controller may act on its add
        event after the delete (Sieve's stale state)."""
        key = f"default/{name}"
        if key in self.cluster.stored("services"):
            self.cluster.delete_object("services", key)
        self.cluster.apply_object(_service(name, "a"))
        self.cluster.delete_object("services", key)

    def _touch_service(self, name: str, delete: bool) -> None:
        """Delete the Service, or flip its tier label (creating it if there is none)."""
        current = self.cluster.stored("services").get(f"default/{name}")
        tier = ((current or {}).get("metadata") or {}).get("labels", {}).get("tier")
        self.service(name, not delete, "b" if tier == "a" else "a")

    @precondition(lambda self: self._on("namespace") or self._on("service"))
    @rule(namespace=st.sampled_from(["default", "team", "kube-public"]))
    def delete_default_account(self, namespace) -> None:
        """Someone deletes a namespace's default ServiceAccount: the controller puts it back (in
        a namespace the test case made, or one that every cluster has)."""
        if f"{namespace}/default" in self.cluster.stored("serviceaccounts"):
            self.cluster.delete_object("serviceaccounts", f"{namespace}/default")

    # ----- the user's own objects --------------------------------------------------------------------

    @precondition(lambda self: bool(self.manifests))
    @rule(which=st.integers(0, 9), touch=st.integers(0, 3))
    def reapply(self, which, touch) -> None:
        """Apply one of the user's objects again, its labels or data touched (or as it was)."""
        manifest = copy.deepcopy(self.manifests[which % len(self.manifests)])
        if touch and isinstance(manifest.get("data"), dict):
            manifest["data"] = {**manifest["data"], "touched": str(touch)}
        self.cluster.apply_object(manifest)

    @precondition(lambda self: bool(self.manifests))
    @rule(which=st.integers(0, 9))
    def delete_manifest(self, which) -> None:
        plural, key = manifest_key(self.manifests[which % len(self.manifests)])
        if key in self.cluster.stored(self.cluster_storage(plural)):
            self.cluster.delete_object(plural, key)

    @precondition(lambda self: bool(self.controller))
    @rule(which=st.integers(0, 9))
    def relabel_namespace(self, which) -> None:
        """Toggle the labels the user's objects put on namespaces (what their controller selects
        by) on one namespace: labelled ones lose them, the others get them."""
        labels = self._namespace_labels()
        stored = self.cluster.stored("namespaces")
        names = sorted({(m.get("metadata") or {}).get("name") for m in self.manifests if m.get("kind") == "Namespace"}
                       | {"team", "default"})
        names = [n for n in names if n in stored]
        if names and labels:
            namespace = names[which % len(names)]
            labelled = ((stored[namespace].get("metadata") or {}).get("labels") or {}).items() >= labels.items()
            patch = {k: (None if labelled else v) for k, v in labels.items()}
            self.cluster.apply_object({"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": namespace, "labels": patch}})

    def _namespace_labels(self) -> dict[str, str]:
        """The labels the user's objects put on namespaces (what their controller selects by)."""
        labels: dict[str, str] = {}
        for manifest in self.manifests:
            if manifest.get("kind") == "Namespace":
                labels.update((manifest.get("metadata") or {}).get("labels") or {})
        return labels

    @staticmethod
    def cluster_storage(plural: str) -> str:
        return {"nodes": "minions"}.get(plural, plural)

    # ----- nodes -----------------------------------------------------------------------------------

    @precondition(lambda self: self._on("kubelet") and len(self.cluster.kubelet_ids) - len(self.cluster.removed) > MIN_NODES)
    @rule(which=st.integers(0, 3))
    def remove_node(self, which) -> None:
        kubelet = self.cluster.kubelet_ids[which % len(self.cluster.kubelet_ids)]
        if kubelet not in self.cluster.removed and self._others_schedulable(kubelet):
            self.cluster.remove_node(kubelet)
            self.tainted.discard(kubelet)  # its Node, and the taints on it, are gone

    @precondition(lambda self: self._on("kubelet") and self.cluster.removed)
    @rule()
    def add_node(self) -> None:
        self.cluster.add_node(sorted(self.cluster.removed)[0])

    def _more_than_min_nodes(self) -> bool:
        """More than MIN_NODES left once the removed nodes and everything powered off are counted
        out: a machine may still be powered off."""
        return len(self.cluster.kubelet_ids) - len(self.cluster.removed) - len(self.cluster.lost) > MIN_NODES

    @precondition(lambda self: self._on("kubelet") and self._more_than_min_nodes())
    @rule(which=st.integers(0, 3), instance=st.sampled_from([False, False, True]))
    def power_off(self, which, instance) -> None:
        """A machine dies for good and nobody deletes its Node: the node lifecycle controller must
        find out and evict its pods. Or an API server instance dies for good (one of two at most):
        its clients must move to the other. A machine is not powered off under a pod that
        something waits for (``_waits_for_pods_on``), nor when no other node could take pods.
        The machine is one that runs pods when there is one: a machine without pods asks nothing
        of the node lifecycle controller (evict them after their tolerationSeconds)."""
        if instance:
            alive = [a for a in self.cluster.instance_ids if a not in self.cluster.lost]
            if len(alive) > 1:
                self.cluster.power_off(alive[which % len(alive)])
            return
        self._power_off_machine(which)

    def _power_off_machine(self, which: int) -> None:
        """Power off the ``which``-th machine that may go (one running pods if there is one)."""
        kubelets = self._machines_that_may_go()
        hosting = [k for k in self._kubelets_hosting(list(self.cluster.stored("pods").values())) if k in kubelets]
        candidates = hosting or kubelets
        if candidates:
            kubelet = candidates[which % len(candidates)]
            self.cluster.power_off(kubelet)
            self.lost_at[kubelet] = self.cluster.world.now

    def _machines_that_may_go(self) -> list[str]:
        """The kubelets whose machine may be powered off: there, not removed, not lost, not the
        last that can take pods, and not under pods something waits for (``_waits_for_pods_on``)."""
        return [k for k in self.cluster.kubelet_ids if k not in self.cluster.removed and k not in self.cluster.lost
                and self._others_schedulable(k) and not self._waits_for_pods_on(k)]

    def _waits_for_pods_on(self, kubelet: str) -> bool:
        """Whether something waits for the pods on this kubelet's node to go, which they would
        never do on a machine powered off: namespace team being deleted (its pods there, or not
        bound yet), a deletion in the foreground, or a Recreate rollout under way (its new pods
        wait for the old ones)."""
        name = self.cluster.node_names[kubelet]
        team = self.cluster.stored("namespaces").get("team") or {}
        if (team.get("metadata") or {}).get("deletionTimestamp") and any(
                (pod.get("spec") or {}).get("nodeName") in (name, None, "") for pod in self._pods_of("team/")):
            return True
        if any((obj.get("metadata") or {}).get("deletionTimestamp") for resource in ("deployments", "replicasets", "jobs")
               for obj in self.cluster.stored(resource).values()):
            return True
        replica_sets = self.cluster.stored("replicasets").values()
        for key, stored in self.cluster.stored("deployments").items():
            if self._recreate(key) and deployment_left(key, stored, replica_sets) and any(
                    (pod.get("spec") or {}).get("nodeName") == name for pod in self._pods_of(key)):
                return True
        return False

    @precondition(lambda self: self._on("kubelet"))
    @rule(which=st.integers(0, 3), down_for=st.sampled_from([5, 20, 60, 100]))
    def kubelet_outage(self, which, down_for) -> None:
        kubelet = self.cluster.kubelet_ids[which % len(self.cluster.kubelet_ids)]
        if kubelet not in self.cluster.removed and self.cluster.world.up(kubelet):
            self.cluster.crash(kubelet)
            self.cluster.tick(down_for)
            self.cluster.restart(kubelet)

    @precondition(lambda self: self._on("kubelet") and not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), down_for=st.sampled_from([100, 150]))
    def scale_down_while_node_down(self, which, down_for) -> None:
        """A node of a Deployment's pods goes down; once the node lifecycle controller has marked
        its pods not Ready (MarkPodsNotReady), the user scales the Deployment down by one. Kube's
        scale-down deletes a not-Ready pod before a Ready one (getPodsToDelete), so CTRL-SCALE-
        DOWN-ORDER judges the choice. Without this, every pod of a ReplicaSet was Ready when a
        scale-down came, save by chance: an inverted readiness ranking survived 2 x 60 s."""
        key = self._deployment(which)
        replicas = spec_replicas(self.cluster.stored("deployments")[key])
        kubelets = self._kubelets_hosting(self._pods_of(key))
        if replicas < 2 or not kubelets:
            return
        self.cluster.crash(kubelets[0])
        self.cluster.tick(PODS_MARKED_NOT_READY_TICKS)
        if key in self.cluster.stored("deployments"):
            self._scale(key, replicas - 1)
        self.cluster.tick(down_for - PODS_MARKED_NOT_READY_TICKS)
        self.cluster.restart(kubelets[0])

    # ----- the controllers' faults and Sieve's perturbations ------------------------------------------

    @precondition(lambda self: self._on("crash"))
    @rule(restart_after=st.sampled_from([0, 5, 30]))
    def crash_leader(self, restart_after) -> None:
        leader = self._target()
        if leader is not None and self.cluster.world.up(leader):
            self.cluster.crash(leader)
            if restart_after:
                self.cluster.tick(restart_after)
            self.cluster.restart(leader)

    @precondition(lambda self: self._on("crash") and self._target() is not None)
    @rule(action=st.sampled_from(UNSEEN_ACTIONS), which=st.integers(0, 9), down_for=st.sampled_from([1, 10]),
          with_service=st.booleans())
    def act_while_down(self, action, which, down_for, with_service=False) -> None:
        """The controller (the user's, or the leading controller manager) is down (a crash, a
        rollout of a new version) while the user changes its objects; it, or the next leader,
        comes back to a fresh cache: Sieve's unobserved state. With ``with_service``, the user
        applies the Service's new labels too (``kubectl apply -f app/`` takes the whole app):
        a relabel no one saw, which an edge-triggered Endpoints controller never copies."""
        host = self._target()
        self.cluster.crash(host)
        if self.controller:
            {"relabel": lambda: self.relabel_namespace(which), "delete": lambda: self.delete_manifest(which)}.get(
                action, lambda: self.reapply(which, 1 + which % 3))()
        else:
            self._act_unseen(action, which)
            if with_service and action not in ("relabel", "delete-service"):
                self._act_unseen("relabel", which)
        self.cluster.tick(down_for)
        self.cluster.restart(host)

    @precondition(lambda self: self._on("crash") or self._on("user"))
    @rule(lease=st.sampled_from(ELECTION_LEASES))
    def annotate_lease(self, lease) -> None:
        """Someone annotates a leader-election Lease (``kubectl annotate``, or a tool that labels
        every object): its resourceVersion moves, so the holder's next renew, written from the
        Lease it last saw, conflicts; the holder must read the Lease again and renew."""
        self.cluster.apply_object({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                   "metadata": {"name": lease, "namespace": "kube-system",
                                                "annotations": {"kinv.dev/touched": str(self.cluster.world.now)}}})

    @precondition(lambda self: self._on("crash"))
    @rule(within=st.sampled_from([5, 20]))
    def crash_between_writes(self, within) -> None:
        host = self._target()
        if host is not None:
            self.cluster.crash_between_writes(host, within)
            if not self.cluster.world.up(host):
                self.cluster.restart(host)

    @precondition(lambda self: self._on("hide"))
    @rule(which=st.integers(0, 3), ticks=st.sampled_from([3, 10, 30, 90, 150]))
    def hide_events(self, which, ticks) -> None:
        """Hide the watch events of a host: the target (the leader) first, then the others."""
        target = self._target()
        hosts = [h for h in ((target,) if target else ()) + (self.cluster.operator_ids or self._hosts())
                 if self.cluster.world.up(h) and h not in self.cluster.hidden]
        if hosts:
            self.cluster.hide_events(hosts[which % len(hosts)], ticks)

    @precondition(lambda self: self._on("hide") and self._target() is not None)
    @rule(action=st.sampled_from(UNSEEN_ACTIONS), which=st.integers(0, 9), ticks=st.sampled_from([30, 90, 150]),
          after=st.sampled_from([0, 0, 10, 20]))
    def act_while_hidden(self, action, which, ticks, after) -> None:
        """The user acts while the target misses its watch events, from ``after`` ticks after the
        action on (the controllers have begun to act on it: a scale is half carried out, its
        first creates seen and the rest not); then it lists again."""
        if after == 0:
            self._hide_target(ticks)
        self._user_acts(action, which)
        if after:
            self.cluster.tick(after)
            self._hide_target(ticks)

    def _user_acts(self, action: str, which: int) -> None:
        """One of UNSEEN_ACTIONS; with the user's controller, one of its objects applied again."""
        if self.controller:
            self.reapply(which, 1 + which % 3)
        else:
            self._act_unseen(action, which)

    def _hide_target(self, ticks: int) -> None:
        target = self._target()
        if target is not None and self.cluster.world.up(target) and target not in self.cluster.hidden:
            self.cluster.hide_events(target, ticks)

    @precondition(lambda self: self._on("kubelet") and self._target() is not None
                  and len(self.cluster.kubelet_ids) - len(self.cluster.removed) > MIN_NODES)
    @rule(which=st.integers(0, 3))
    def node_returns_unseen(self, which) -> None:
        """A node leaves, then registers again while the target misses its watch events: when it
        lists again, the new Node and its new Lease arrive in one go."""
        kubelet = self.cluster.kubelet_ids[which % len(self.cluster.kubelet_ids)]
        if kubelet in self.cluster.removed:
            return
        self.cluster.remove_node(kubelet)
        self.tainted.discard(kubelet)
        self.cluster.tick(30)
        self._hide_target(30)
        self.cluster.add_node(kubelet)

    @precondition(lambda self: self._on("lag"))
    @rule(instance=st.integers(0, 2), restart_after=st.sampled_from([0, 10]))
    def restart_against_lagging_instance(self, instance, restart_after) -> None:
        """Sieve's stale state: the leader restarts talking to an instance whose cache is behind."""
        leader = self._target()
        lagging = self.cluster.instance_ids[instance % len(self.cluster.instance_ids)]
        if leader is None:
            return
        self.cluster.lag(lagging)
        self.cluster.crash(leader)
        self.cluster.tick(restart_after + 1)
        self.cluster.restart(leader, lagging)

    @precondition(lambda self: self._on("webhook"))
    @rule(ticks=st.sampled_from(WEBHOOK_TICKS), fail=st.sampled_from(WEBHOOK_OUTAGE_PERCENTS))
    def webhook_fails(self, ticks, fail) -> None:
        """From now on, the policy webhook fails ``fail`` calls in 100 for ``ticks`` (all of
        them: it is down), then it is healthy."""
        self.cluster.webhook_outage(ticks, fail)

    @precondition(lambda self: self._on("webhook") and (self.controller or self.cluster.stored("deployments")))
    @rule(action=st.sampled_from(WEBHOOK_ACTIONS), which=st.integers(0, 9), fail=st.sampled_from(WEBHOOK_SPLIT_PERCENTS))
    def act_while_webhook_fails(self, action, which, fail) -> None:
        """The user acts while the webhook fails some of the controllers' writes (``fail`` in 100
        from now on for WEBHOOK_TICKS[1] ticks, unless an outage is under way): each controller
        must take the failures of its writes half-way through carrying it out into account
        (kube's lower their expectations, keep their finalizers, requeue). Measured, an action
        that only came while an outage from another rule lasted split a reconcile by chance: an
        orphaning collector that removed its finalizer after a failed release survived 2 x 60 s."""
        if not self.cluster.webhook_failing():
            self.cluster.webhook_outage(WEBHOOK_TICKS[1], fail)
        if self.controller:
            self.reapply(which, 1 + which % 3)
            return
        key = self._deployment(which)
        if action == "orphan" or action == "foreground" and not self._on_lost_node(self._pods_of(key)):
            self.cluster.delete_object("deployments", key, action.capitalize())
        elif action != "foreground":
            self._act_unseen(action, which)

    @precondition(lambda self: self._on("partition"))
    @rule(which=st.integers(0, 9))
    def partition_host(self, which) -> None:
        hosts = self.cluster.host_ids
        host = hosts[which % len(hosts)]
        self.cluster.partition([[host], list(self.cluster.instance_ids)])

    @precondition(lambda self: self._on("partition") and self._leader() is not None)
    @rule(down_for=st.sampled_from([50, 80]))
    def partition_leader(self, down_for) -> None:
        """Cut the leading controller manager off from the API servers: its renewals hang, its
        Lease expires while it may still believe it leads, and another candidate takes it."""
        self.cluster.partition([[self._leader()], list(self.cluster.instance_ids)])
        self.cluster.tick(down_for)
        self.cluster.heal()

    @precondition(lambda self: self._on("partition") or self._on("lag"))
    @rule()
    def heal(self) -> None:
        if self.cluster.world.network.blocked or self.cluster.lagging:
            self.cluster.heal()

    # ----- the end of every test case -------------------------------------------------------------

    def teardown(self) -> None:
        if self.cluster is not None and self.cluster.violation is None:
            if self.power_off_last and self._more_than_min_nodes():
                self._power_off_machine(0)
            self.cluster.converge()
