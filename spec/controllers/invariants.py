"""The controllers' invariants: Eventually Stable Reconciliation and the safety rules that must
hold while the controller manager, the scheduler, the kubelets (and the user's own controller)
work, under crashes, stale views and lost events.

Predicates take plain objects (``{storage resource: {key: object}}``); the temporal ones (a bound
in ticks, a window of revisions, who made a request) are applied by checks/controllers/observe.py
with the functions of spec/controllers/safety.py.

Sources: Anvil (Sun et al., OSDI 2024), "Eventually Stable Reconciliation"; Sieve (Sun et al.,
OSDI 2022), "intermediate states", "unobserved states", "stale states"; Kubernetes documentation,
"Controllers", "Deployments", "ReplicaSet", "Garbage Collection", "Leases"; client-go
``tools/leaderelection``.
"""

from __future__ import annotations

from spec.controllers.desired import desired_left, leaks
from spec.controllers.safety import GRAPH_LAG_TICKS, STALE_STATUS_TICKS
from spec.invariant import Invariant

__all__ = ["INVARIANTS", "CONVERGES", "FIXPOINT_QUIET", "NO_LEAK", "LEVEL_TRIGGERED", "ROLLOUT_SURGE",
           "ROLLOUT_AVAILABLE", "STATUS_OBSERVED", "GC_LIVE_OWNER", "SINGLE_LEADER", "ENDPOINTS_READY",
           "PAUSED_NO_ROLLOUT", "SCALE_DOWN_ORDER", "JOB_COUNTED", "LEADER_KEEPS_LEASE", "LEASE_FAULT_TICKS",
           "LEASE_TOUCH_TICKS",
           "CONVERGE_TICKS_MAX", "QUIET_TICKS", "SCALE_SETTLE_TICKS"]

AREA = "controllers"
# The bound of ESR, in fair ticks (every component ticks once a tick) after the last fault and
# the last user request. A write through the simulated API server takes about 8 ticks (a tick a
# hop, and admission's lookups in the store), where a real one takes milliseconds, so the slow
# paths of the reference are long: a rolling update of 5 replicas with maxSurge 0 takes up to 90
# ticks a step (a pod's graceful end, a new one started and Ready, each controller's writes, and
# the 409s of two controllers writing one ReplicaSet from caches a few ticks behind); a node whose
# kubelet is gone for good but whose Node stays is NotReady after 50 ticks and its pods are evicted
# after the 300-tick toleration DefaultTolerationSeconds gives; a leader change costs a 30-tick
# lease. The longest the reference took in our searches was about 600 ticks; the bound is twice that.
CONVERGE_TICKS_MAX = 1200
QUIET_TICKS = 30  # a fixpoint stays matched, with no write, this long
# The rollout bounds judge a Deployment whose replicas have not changed for this long: by then a
# create or delete sent before the scale has landed or timed out (a request's 120-tick timeout),
# and the controllers have acted on the scale. During a scale kube promises no bound.
SCALE_SETTLE_TICKS = 120

CONVERGES = Invariant(
    "CTRL-CONVERGES", AREA,
    f"Eventually Stable Reconciliation: after the last fault and the last user request, within "
    f"{CONVERGE_TICKS_MAX} ticks, every Deployment is complete (its generation observed, all replicas updated "
    f"and available, one ReplicaSet scaled up), every ReplicaSet runs exactly spec.replicas pods that are "
    f"bound, Running and Ready, every Job has finished, no Namespace is left terminating and every "
    f"PersistentVolumeClaim is Bound. This holds whatever happened before, in particular when a controller "
    f"crashed between two writes of one reconcile (Sieve's intermediate states).",
    "Anvil, \"Eventually Stable Reconciliation\" (OSDI 2024); Sieve, intermediate states; Kubernetes "
    "documentation, \"Deployments\" (complete deployment), \"Jobs\", \"Namespaces\", \"Persistent Volumes\"",
    "A controller that does not converge leaves the cluster short of what was asked for with no error to "
    "see: a rollout that never completes, a namespace stuck Terminating, a claim Pending forever.",
    desired_left)

FIXPOINT_QUIET = Invariant(
    "CTRL-FIXPOINT-QUIET", AREA,
    f"At the fixpoint, the desired state stays matched and no controller writes: for {QUIET_TICKS} ticks "
    f"the controllers, the scheduler and the kubelets make no write other than heartbeats (Lease renewals "
    f"and the kubelet's node status report).",
    "Anvil, \"Eventually Stable Reconciliation\" (stability); controller-runtime, \"reconcile is idempotent\"",
    "A controller that writes at its fixpoint fights another writer or itself: it burns API server and "
    "etcd capacity forever and wakes every watcher of what it touches.")

NO_LEAK = Invariant(
    "CTRL-NO-LEAK", AREA,
    "Nothing outlives what it belongs to: at the fixpoint no object has owner references whose owners "
    "(by UID) are all gone, no object is left in a namespace that is gone, no Endpoints object lacks its "
    "Service, and no pod stays bound to a Node that no longer exists. And at any time, a namespace leaves "
    "the store only once nothing is left in it.",
    "Kubernetes documentation, \"Garbage Collection\" (owners and dependents), \"Namespaces\" (deletion: "
    "the namespace goes once its content is gone), \"Service\"; kube "
    "pkg/controller/podgc (orphaned pods); Sieve, unobserved states",
    "A leaked object costs forever and may still act: a pod of a deleted ReplicaSet keeps serving, an "
    "Endpoints object of a deleted Service keeps routing.",
    leaks)

LEVEL_TRIGGERED = Invariant(
    "CTRL-LEVEL-TRIGGERED", AREA,
    "The fixpoint does not depend on which events a controller saw: the same user requests, run again "
    "without the controller crashes, restarts and hidden or merged watch events, reach the same state "
    "(compared on every object whose name was not generated, spec, data, labels and annotations, and "
    "the count of pods under each owner), whenever every user request was answered the same.",
    "controller-runtime, \"level-based, not edge-based\"; Sieve, unobserved states (an event a later one "
    "cancels is never seen) and stale states",
    "Watches drop, merge and replay events, and controllers restart and relist: a controller that acts on "
    "events instead of state ends somewhere different each time, usually with something left behind.")

ROLLOUT_SURGE = Invariant(
    "CTRL-ROLLOUT-SURGE", AREA,
    "While nodes are healthy and no request has an unknown outcome, a Deployment using RollingUpdate never "
    "has more active pods (not finished, not being deleted) under its ReplicaSets than replicas + maxSurge "
    f"(maxSurge rounded up from a percentage), once its replicas have not changed for {SCALE_SETTLE_TICKS} "
    f"ticks (a scale is not a rollout: creates and deletes sent before it may still land); more only as "
    f"far as its ReplicaSets' spec.replicas exceed that bound because a scale-up was decided on a view up to "
    f"{STALE_STATUS_TICKS} ticks behind the other ReplicaSets' last changes (kube's Deployment controller "
    f"keeps no expectations for its own ReplicaSet writes: a sync on a cache that has not seen the previous "
    f"sync's scale-up adds it again, until its next sync scales down). A Deployment "
    f"using Recreate creates no pod of a new ReplicaSet while a pod of an older one still runs, being "
    f"deleted or not, but for an older ReplicaSet whose scale-up landed after the template changed (sent "
    f"for the previous template on a cache that had not seen it land: the same missing expectations).",
    "Kubernetes documentation, \"Deployments\" (Max Surge; Recreate Deployment: \"all existing Pods are "
    "killed before new ones are created\"); kube pkg/controller/deployment (NewRSNewReplicas; recreate.go "
    "oldPodsRunning) and pkg/controller/replicaset (expectations)",
    "Surge is capacity the user budgeted: more pods than that can exhaust a quota or a node, and means a "
    "controller acted on a view that missed its own writes.")

ROLLOUT_AVAILABLE = Invariant(
    "CTRL-ROLLOUT-AVAILABLE", AREA,
    "While nodes are healthy and no request has an unknown outcome, no deletion of an available pod of a "
    "Deployment using RollingUpdate leaves it with fewer available pods than replicas - maxUnavailable "
    f"(maxUnavailable rounded down from a percentage), once its replicas have not changed for "
    f"{SCALE_SETTLE_TICKS} ticks; short by no more than its other ReplicaSets' statuses overcounted (available "
    f"replicas above the lowest spec since the generation the status observed: pods their controller had "
    f"just deleted) when the pod's ReplicaSet was scaled down "
    f"(in statuses stored then or up to {STALE_STATUS_TICKS} ticks before), since kube's Deployment controller "
    f"counts what those statuses say; and short by no more than the pods that ReplicaSet keeps Ready but not "
    f"yet available (minReadySeconds), since kube's scale-down ranks pods by readiness and by how many share "
    f"a node before how long they have been Ready.",
    "Kubernetes documentation, \"Deployments\" (Max Unavailable); kube pkg/controller/deployment "
    "(reconcileOldReplicaSets, scaleDownOldReplicaSetsForRollingUpdate), pkg/controller/replicaset "
    "(syncReplicaSet: the status counts the pods listed before manageReplicas deleted)",
    "maxUnavailable is the availability the user kept during an upgrade: going below it is an outage the "
    "rollout itself causes.")

STATUS_OBSERVED = Invariant(
    "CTRL-STATUS-OBSERVED", AREA,
    "A Deployment's status that says it observed the current generation (observedGeneration >= "
    "generation) and counts updated replicas speaks of the current template: a ReplicaSet of that "
    "template, controlled by the Deployment, exists at that revision.",
    "Kubernetes API conventions, \"observedGeneration\"; Kubernetes documentation, \"Deployments\" "
    "(kubectl rollout status); kube pkg/controller/deployment (syncRolloutStatus)",
    "kubectl rollout status, Argo and every CD pipeline read observedGeneration to decide a rollout is "
    "done: a status ahead of the work reports an upgrade finished that has not started.")

GC_LIVE_OWNER = Invariant(
    "CTRL-GC-LIVE-OWNER", AREA,
    "The garbage collector never deletes an object while one of its owners is alive: in the store, found "
    "by the UID its owner reference names, and not being deleted. An owner deleted and created again "
    "under the same name is a new owner with a new UID. And an owner deleted in the foreground leaves "
    "foreground deletion (its foregroundDeletion finalizer goes) only once no dependent that blocks it "
    "(blockOwnerDeletion) is left in the store, not even one being deleted; an owner deleted with "
    "propagationPolicy Orphan leaves orphan deletion (its orphan finalizer goes) only once each dependent it "
    f"had then names it no longer. (A dependent created less than {GRAPH_LAG_TICKS} ticks before the owner's "
    "deletion is not judged: the collector's graph, fed by an informer per resource, may not hold it yet, "
    "in kube as here.)",
    "Kubernetes documentation, \"Garbage Collection\" (foreground cascading deletion); kube "
    "pkg/controller/garbagecollector (attemptToDeleteItem: solid, dangling and waiting owners; the live "
    "lookup by UID; processDeletingDependentsItem: blockingDependents; attemptToOrphan: the orphan finalizer "
    "goes only once orphanDependents succeeded)",
    "A dependent deleted under a live owner is data loss the owner's controller has to undo, if it can: a "
    "PersistentVolumeClaim, a Secret, a running pod.")

SINGLE_LEADER = Invariant(
    "CTRL-SINGLE-LEADER", AREA,
    "At most one candidate of a leader-election Lease acts as its leader at any tick: a leader that cannot "
    "renew within its renew deadline stops before another candidate may take the Lease (after the lease "
    "duration), with one clock for all.",
    "client-go tools/leaderelection (LeaseDuration > RenewDeadline > RetryPeriod); Kubernetes "
    "documentation, \"Leases\"",
    "Two controller managers acting at once race on every object: pods created twice, and deletes and "
    "creates undoing each other.")

ENDPOINTS_READY = Invariant(
    "CTRL-ENDPOINTS-READY", AREA,
    "A Service's Endpoints list as a ready address only a pod that has been Ready (its Ready condition "
    "True) at some revision up to the one that wrote them, unless the Service sets "
    "publishNotReadyAddresses. The Endpoints controller's cache may lag the store, so a pod that stopped "
    "being Ready may stay listed a while; but a cache holds no state the store never had, so a pod that "
    "was never Ready (still starting, or crash-looping since it started) is never a ready address.",
    "Kubernetes documentation, \"Pod Lifecycle\" (readiness: \"the Pod is ready to serve requests and "
    "should be added to the load balancing pools of all matching Services\") and \"Service\" "
    "(publishNotReadyAddresses); kube pkg/controller/endpoint (podToEndpointAddressForService, "
    "podutil.IsPodReady)",
    "Ready addresses are where kube-proxy, DNS and every load balancer send traffic: a pod listed before "
    "it is Ready takes requests it cannot serve, and a rollout of a broken release takes a site down "
    "(kubernetes/kubernetes#61223, #75889).")

PAUSED_NO_ROLLOUT = Invariant(
    "CTRL-PAUSED-NO-ROLLOUT", AREA,
    "A paused Deployment rolls nothing out: no ReplicaSet is created under it for a pod template (compared "
    "without the pod-template-hash label) that the Deployment has only ever had while paused, i.e. "
    "spec.paused was true in every version of it the store held with that template. A paused Deployment "
    "is still scaled (its ReplicaSets proportionally, as kube's sync does), and a template it had unpaused "
    "at some version may still be rolled out: a controller whose cache lags acts on a version it read, "
    "however old, but never on one the store did not hold.",
    "Kubernetes documentation, \"Deployments\" (Pausing and Resuming a rollout of a Deployment: changes "
    "to the PodTemplateSpec of a paused Deployment do not trigger new rollouts); kube "
    "pkg/controller/deployment (syncDeployment: a paused Deployment goes to sync; sync.go: "
    "getAllReplicaSetsAndSyncRevision with createIfNotExisted false); kubernetes/kubernetes#20273",
    "Users pause a Deployment to make several changes and roll them out as one (a new image with the "
    "config it needs), or to stop a rollout that looks bad: a controller that rolls on ships a half-made "
    "release the user held back.")

SCALE_DOWN_ORDER = Invariant(
    "CTRL-SCALE-DOWN-ORDER", AREA,
    "A scale-down deletes the pods kube ranks first: the ReplicaSet controller never deletes a pod of a "
    "ReplicaSet while it keeps another active pod of it that ranked before it (not bound to a node before "
    "bound; Pending before Unknown before Running; not Ready before Ready) at every revision its pod cache "
    "may have been at when it chose (the cache's resourceVersion over the tick it sent the delete). A cache "
    "may lag the store by any amount, but it shows the pods as the store held them at its resourceVersion. "
    "Judged whatever fails, but not for a delete whose reconcile may have read its cache earlier (an "
    f"adoption or release of a pod, which comes before the deletes, in flight or answered in the last "
    f"{STALE_STATUS_TICKS} ticks).",
    "Kubernetes documentation, \"ReplicaSet\" (Scaling a ReplicaSet: pending and unschedulable pods go "
    "first, ...); kube pkg/controller/replicaset (manageReplicas, getPodsToDelete) and "
    "pkg/controller/controller_utils.go (ActivePodsWithRanks: unassigned < assigned, Pending < Unknown < "
    "Running, not ready < ready); kubernetes/kubernetes#3948",
    "A scale-down that takes Ready pods and keeps ones that cannot serve cuts capacity twice: the "
    "replicas asked for are no longer all serving, and an autoscaler that scales down under load drops "
    "the pods that carried it (kubernetes/kubernetes#3948, #14396).")

JOB_COUNTED = Invariant(
    "CTRL-JOB-COUNTED", AREA,
    "Every pod of a Job is counted once: at the fixpoint, a Job's status (succeeded and failed, with the "
    "UIDs still in uncountedTerminatedPods) counts as many pods as ended among those it ever controlled "
    "(Succeeded, Failed, or deleted before it succeeded), each that never Succeeded as failed and, unless "
    "the Job finished (its pods then count as failed unless its controller saw them succeed), each that "
    "Succeeded before any deletion as succeeded. A pod deleted while it ran is a failure, "
    "whoever deleted it and whether or not a kubelet ever reported on it. A Job is not Complete when more "
    "than backoffLimit of its pods failed before its last needed success.",
    "Kubernetes documentation, \"Jobs\" (Job tracking with finalizers: the control plane keeps track of "
    "the Pods of a Job through the batch.kubernetes.io/job-tracking finalizer and removes it once the Pod "
    "is accounted for in the Job status); KEP-2307; kube pkg/controller/job "
    "(trackJobStatusAndRemoveFinalizers, isPodFailed); kubernetes/kubernetes#109429",
    "succeeded and failed decide when a Job is Complete and when it has used up its backoffLimit: a pod "
    "lost from the count runs the work again, or lets a Job that should have failed retry past its limit; "
    "a pod counted by no one keeps its finalizer and stays Terminating for ever.")

# A leader's renew round lasts at most its renew deadline (20 ticks in the harness), and a fault
# older than the round cannot have failed it: a step-down is excused by a fault this recent.
LEASE_FAULT_TICKS = 30
# Someone else's write to the Lease fails the leader's next renew; the leader then reads the Lease
# again and updates it, three requests that may each take up to a dozen ticks with 1-2 tick hops,
# and twenty or more while the API server is busy (measured: a step-down 63 ticks after the write,
# its last update answered late). No request outlives the client's timeout (120 ticks).
LEASE_TOUCH_TICKS = 120

LEADER_KEEPS_LEASE = Invariant(
    "CTRL-LEADER-KEEPS-LEASE", AREA,
    "A leader that can reach the API servers keeps its Lease: it misses its renew deadline only after a "
    f"fault between it and them (a cut link, an API server instance or store member down, an instance "
    f"lagging) in the last {LEASE_FAULT_TICKS} ticks, or after someone else wrote the Lease in the last "
    f"{LEASE_TOUCH_TICKS} ticks and the leader read it again since (its failed update, the read and the "
    "update no longer fitted in the round). A "
    "renew that fails (a conflict: someone else wrote the Lease; an error) is tried again, from a fresh "
    "read, every retry period until the deadline.",
    "client-go tools/leaderelection (renew: tryAcquireOrRenew every RetryPeriod until RenewDeadline; "
    "the leader's optimistic update falls back to a get and an update when it fails, "
    "kubernetes/kubernetes#122069); awslabs/volume-modifier-for-k8s#13 (a sidecar that exits when its "
    "Lease was modified)",
    "A controller manager that gives up its Lease while healthy restarts: every informer of the next "
    "leader lists the whole cluster again, and nothing is reconciled for up to a lease duration; a "
    "leader that gives up on every touch of its Lease flaps for as long as anything writes to it.")

NODE_FITS = Invariant(
    "CTRL-NODE-FITS", AREA,
    "A node's pods fit it: when the scheduler binds a pod to a node, the cpu, memory and pod count that the "
    "pods bound there and not ended (Succeeded or Failed) request, this one included, are at most the "
    "node's status.allocatable. The scheduler's cache lags the store, so it counts the pods it has bound "
    "and not yet seen bound as placed (kube's AssumePod). Not judged for a bind within a request timeout "
    "of a scheduler restart or of a scheduler write whose outcome it could not know (a bind that went "
    "through unanswered is room it no longer counts, in kube too).",
    "kube pkg/scheduler (NodeResourcesFit Filter; internal/cache: AssumePod, FinishBinding, ForgetPod; "
    "the scheduling cycle assumes before the binding cycle); kubernetes/kubernetes#106361 (assumed pods "
    "expired before their informer update arrived: overcommitted nodes), #76772 (kubelet rejections)",
    "A pod bound where it does not fit is rejected by the kubelet (OutOfcpu, OutOfmemory, OutOfpods) and "
    "replaced, over and over, or, where the kubelet admits it, starves the pods beside it; meanwhile "
    "nodes with room stay idle.")

INVARIANTS = (CONVERGES, FIXPOINT_QUIET, NO_LEAK, LEVEL_TRIGGERED, ROLLOUT_SURGE, ROLLOUT_AVAILABLE,
              STATUS_OBSERVED, GC_LIVE_OWNER, SINGLE_LEADER, ENDPOINTS_READY, PAUSED_NO_ROLLOUT, SCALE_DOWN_ORDER,
              JOB_COUNTED, LEADER_KEEPS_LEASE, NODE_FITS)
