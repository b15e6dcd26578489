"""The controllers harness's commands: what the user does through kubectl, the faults and Sieve's
perturbations, and ``converge``, the fault-free phase that judges Eventually Stable
Reconciliation. Each records its scenario line (checks/controllers/scenario.py reads them back).

Mixed into ``ControllersCluster`` (checks/controllers/cluster.py), which has the world, the hosts
and ``kubectl``.

User actions (through kubectl ``u1``, as admin; each waits for its answer):

- ``apply JSON``: create the object, or merge-patch it onto the one of its name;
- ``delete RESOURCE KEY [propagation=Background|Foreground|Orphan] [grace=SECONDS]``; ``grace=0`` is
  ``kubectl delete --force --grace-period=0``: the object goes without waiting for its kubelet;
- ``add-node kX`` / ``remove-node kX``: a kubelet (and its Node) joins, or leaves for good (the
  process stops and the Node object is deleted, as a cloud provider's node controller does).

Faults and perturbations:

- ``crash X`` / ``restart X [via aN]``: any node; a controller host restarted ``via`` an
  instance talks to it first (Sieve's stale state: an instance whose watch cache lags);
- ``crash-between-writes HOST [within=K]``: tick (at most K ticks) until a reconcile of HOST has
  made a write and waits on a later call, then crash HOST (Sieve's intermediate state);
- ``hide-events HOST K``: for K ticks no watch event reaches HOST; then its informers list again,
  so what happened meanwhile arrives merged, and an object created and deleted in between is
  never seen (Sieve's unobserved state);
- ``webhook-outage K [fail=P]``: from now on, for K ticks, the validating admission webhook the cluster's policy
  engine registers (failurePolicy Fail, matching every write but Leases) cannot be reached, and
  every API server instance refuses each write of the controllers, the scheduler and the user's
  controller with 500 InternalError "failed calling webhook", as kube's does; the request changes
  nothing (kubectl's requests and the kubelets' are not matched: the user and the nodes go on).
  With ``fail=P`` (percent) only P writes in 100, drawn at random, are refused: one replica of the
  webhook's Service is down and the calls routed to it fail, so a reconcile's writes fail apart
  from one another (one of a scale-down's deletes, a release but not the finalizer removal after);
- ``lag aN``: the store's watch responses to instance aN are held back (its requests to the
  store are answered as before): its watch cache stops where it is and it serves lists from it at
  resourceVersion 0, while a host talking to it can still write and lead; ``heal`` ends it and
  the held responses arrive, in order;
- ``rollout-status deployment NS/NAME [within=K]``: as ``kubectl rollout status``, tick (at most
  K ticks) until the Deployment's rollout is complete;
- ``partition ...``, ``heal``, ``tick [K]`` as everywhere.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import attrs

from checks.controllers.fixpoint import WRITE_METHODS
from impl.apiserver.messages import ApiRequest, ApiResponse, WatchEvent
from impl.apiserver.resources import resource_for_kind, resource_named
from impl.apiserver.status import ApiError
from impl.etcd.messages import WatchResponse
from impl.sim.world import Output
from spec.controllers.desired import deployment_left, template_hash_free

__all__ = ["ControllersCommands", "PROPAGATIONS", "CRASH_WITHIN_TICKS", "ROLLOUT_WITHIN_TICKS", "WEBHOOK_REFUSAL"]

PROPAGATIONS = ("Background", "Foreground", "Orphan")
CRASH_WITHIN_TICKS = 20
# A rollout of 4 replicas with maxSurge 0 takes about 90 ticks a step at our write latency
# (spec/controllers/invariants.py); kubectl rollout status's own default waits far longer.
ROLLOUT_WITHIN_TICKS = 300


def object_line(obj: dict[str, Any]) -> str:
    return "apply " + shlex.quote(json.dumps(obj, separators=(",", ":"), sort_keys=True))


class ControllersCommands:
    # ----- the user, through kubectl ---------------------------------------------------------

    def apply_object(self, obj: dict[str, Any], line: str | None = None) -> None:
        """``apply JSON`` (or a shorter line that means it: ``scale``, ``set-image``...)."""
        self._run(line or object_line(obj), lambda: self.apply(obj))

    def scale(self, key: str, replicas: int) -> None:
        self.apply_object(_deployment_patch(key, {"replicas": replicas}), f"scale deployment {key} {replicas}")

    def set_image(self, key: str, image: str) -> None:
        """The image of the first container of the Deployment's template: a new rollout."""
        deployment = self.stored("deployments").get(key) or {}
        containers = [dict(c) for c in ((deployment.get("spec") or {}).get("template") or {}).get("spec", {})
                      .get("containers") or [{"name": "app"}]]
        containers[0]["image"] = image
        self.apply_object(_deployment_patch(key, {"template": {"spec": {"containers": containers}}}),
                          f"set-image deployment {key} {image}")

    def pause(self, key: str, paused: bool) -> None:
        self.apply_object(_deployment_patch(key, {"paused": paused}),
                          f"{'pause' if paused else 'resume'} deployment {key}")

    def rollout_undo(self, key: str) -> None:
        """``kubectl rollout undo``: the template of the ReplicaSet of the revision before the
        current one, written back onto the Deployment (client-side, as kubectl does it)."""
        def run() -> None:
            template = self.previous_template(key)
            if template is None:
                self.no_effect(f"deployment {key} has no earlier revision")
                return
            current = ((self.stored("deployments").get(key) or {}).get("spec") or {}).get("template") or {}
            self.apply(_deployment_patch(key, {"template": _replacing(current, template)}))
        self._run(f"rollout-undo deployment {key}", run)

    def previous_template(self, key: str) -> dict[str, Any] | None:
        """The template ``kubectl rollout undo`` goes back to (kubectl's rollback.go
        ``deploymentRevision``): that of the Deployment's ReplicaSet with the second-highest
        revision annotation, pod-template-hash label taken off; None with fewer than two. Only
        templates a Deployment controller saw have a ReplicaSet: one the user replaced before
        any controller reconciled it is no revision, so the revision before the newest need not
        be the template the user had before it."""
        deployment = self.stored("deployments").get(key)
        if deployment is None:
            return None
        uid = (deployment.get("metadata") or {}).get("uid")
        revisions = []
        for replica_set in self.stored("replicasets").values():
            rs_meta = replica_set.get("metadata") or {}
            if any(ref.get("uid") == uid and ref.get("controller") for ref in rs_meta.get("ownerReferences") or ()):
                revision = (rs_meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
                revisions.append((int(revision) if revision.isdigit() else 0, replica_set))
        revisions.sort(key=lambda pair: pair[0])
        if len(revisions) < 2:
            return None
        template = template_hash_free((revisions[-2][1].get("spec") or {}).get("template"))
        return template

    def delete_object(self, resource: str, key: str, propagation: str = "", grace: int | None = None) -> None:
        kind = resource_named(resource)
        namespace, _, name = key.rpartition("/")
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        line = f"delete {resource} {key}" + (f" propagation={propagation}" if propagation else "") + \
            (f" grace={grace}" if grace is not None else "")
        self._run(line, lambda: self.kubectl("DELETE", kind.path(namespace or None, name), body))

    def remove_node(self, kubelet: str) -> None:
        def run() -> None:
            if kubelet in self.removed:
                self.no_effect(f"{kubelet} was removed already")
                return
            self.removed.add(kubelet)
            self.safety.fault(f"node {self.node_names[kubelet]} removed")
            if self.world.up(kubelet):
                self.world.crash(kubelet)
            self.kubectl("DELETE", resource_named("nodes").path(None, self.node_names[kubelet]))
        self._run(f"remove-node {kubelet}", run)

    def add_node(self, kubelet: str) -> None:
        def run() -> None:
            if kubelet not in self.removed:
                self.no_effect(f"{kubelet} is a node already")
                return
            self.removed.discard(kubelet)
            self.lost.discard(kubelet)  # a new machine joins under the name
            if not self.world.up(kubelet):
                self.world.restart(kubelet)
        self._run(f"add-node {kubelet}", run)

    def power_off(self, node_id: str) -> None:
        """A machine dies for good: a kubelet (its Node object stays, as nobody deletes it: the
        node lifecycle controller marks it unreachable and evicts its pods) or an API server
        instance (its clients move to another). The fault-free phase does not bring it back."""
        def run() -> None:
            if node_id in self.lost or node_id in self.removed:
                self.no_effect(f"{node_id} is gone already")
                return
            self.lost.add(node_id)
            self.safety.fault(f"{node_id} powered off")
            if self.world.up(node_id):
                self.world.crash(node_id)
        self._run(f"power-off {node_id}", run)

    # ----- faults -----------------------------------------------------------------------------

    def crash(self, node_id: str) -> None:
        if node_id not in self.manager_ids + (self.scheduler_id,) + self.operator_ids:
            self.safety.fault(f"{node_id} crashed")
        super().crash(node_id)

    def restart(self, node_id: str, via: str | None = None) -> None:
        if node_id in self.lost:
            self._run(f"restart {node_id}" + (f" via {via}" if via else ""),
                      lambda: self.no_effect(f"{node_id} was powered off for good"))
            return
        if via is None:
            super().restart(node_id)
            return

        def run() -> None:
            if self.world.up(node_id):
                self.no_effect(f"{node_id} is up")
                return
            self.instance_of[node_id] = via
            self.world.restart(node_id)
        self._run(f"restart {node_id} via {via}", run)

    def partition(self, groups: list[list[str]]) -> None:
        self.safety.fault("a partition")
        super().partition(groups)

    def lag(self, instance: str) -> None:
        def run() -> None:
            if instance in self.lagging:
                self.no_effect(f"{instance} lags already")
                return
            self.safety.fault(f"{instance} made to lag")
            self.lagging.add(instance)
            self.world.trace.record(self.world.now, "partition", None,
                                    f"the store's watch responses to {instance} are held back: it lags")
            self._hold_lagging_watches()
        self._run(f"lag {instance}", run)

    def heal(self) -> None:
        """Every cut link restored, and every lagging instance's held watch responses delivered."""
        def run() -> None:
            if not self.world.network.blocked and not self.lagging:
                self.no_effect("no link is cut and no instance lags")
                return
            if self.world.network.blocked:
                self.world.network.heal()
                self.world.trace.record(self.world.now, "heal", None, "every link restored")
            self._end_lag()
        self._run("heal", run)

    def _hold_lagging_watches(self) -> None:
        for envelope in self._in_flight_to(self.lagging, WatchResponse):
            self.world.hold(envelope)

    def _end_lag(self) -> None:
        """The held watch responses arrive now, in the order they were sent."""
        if not self.lagging:
            return
        self.lagging.clear()
        self.world.trace.record(self.world.now, "heal", None, "no instance lags")
        for envelope in sorted(self.world.network.held, key=lambda e: e.id):
            if isinstance(envelope.message, WatchResponse):
                self.world.deliver(envelope)

    def rollout_status(self, key: str, within: int = ROLLOUT_WITHIN_TICKS) -> None:
        """``kubectl rollout status``: tick until the Deployment's generation is observed and every
        replica is updated and available (``deployment_left`` finds nothing), at most ``within``."""
        def complete() -> bool:
            deployment = self.stored("deployments").get(key)
            return deployment is not None and not deployment_left(key, deployment,
                                                                  self.stored("replicasets").values())

        def run() -> None:
            for _ in range(within):
                if complete() or key not in self.stored("deployments"):
                    break
                self.world.tick()
            if not complete():
                self.no_effect(f"the rollout of deployment {key} is not complete after {within} ticks")
        self._run(f"rollout-status deployment {key} within={within}", run)

    def crash_between_writes(self, host_id: str, within: int = CRASH_WITHIN_TICKS) -> None:
        def run() -> None:
            for _ in range(within + 1):
                host = self.world.nodes[host_id]
                if host is None:
                    break
                if host.mid_reconcile_writers():
                    self.world.crash(host_id)
                    return
                self.world.tick()
            self.no_effect(f"no reconcile of {host_id} was between two writes within {within} ticks")
        self._run(f"crash-between-writes {host_id} within={within}", run)

    def hide_events(self, host_id: str, ticks: int) -> None:
        def run() -> None:
            if not self.world.up(host_id) or host_id in self.hidden:
                self.no_effect(f"{host_id} is {'down' if not self.world.up(host_id) else 'already missing events'}")
                return
            self.hidden[host_id] = self.world.now + ticks
            self.world.trace.record(self.world.now, "hide", host_id, f"watch events to {host_id} are lost for "
                                                                     f"{ticks} ticks, then it lists again")
            self._drop_watch_events()
        self._run(f"hide-events {host_id} {ticks}", run)

    def webhook_failing(self) -> bool:
        """Whether a webhook-outage is under way (all or some of the controllers' writes refused)."""
        return self.world.now < self.webhook_down_until

    def webhook_outage(self, ticks: int, fail_percent: int = 100) -> None:
        def run() -> None:
            self.webhook_down_until = self.world.now + ticks
            self.webhook_fail_percent = fail_percent
            what = "cannot be reached" if fail_percent == 100 else f"fails {fail_percent} calls in 100"
            self.world.trace.record(self.world.now, "partition", None, f"the policy webhook {what} for {ticks} "
                                                                      f"ticks: the controllers' writes fail")
            self._refuse_webhook_writes()
        self._run(f"webhook-outage {ticks}" + (f" fail={fail_percent}" if fail_percent != 100 else ""), run)

    def _refuse_webhook_writes(self) -> None:
        """Each controller write on its way to an instance, answered at once as the instance
        answers when the webhook is unreachable (its admission chain calls it before storing);
        with a webhook that fails some calls, each write is drawn once, on the first tick the
        harness sees it in flight."""
        if not self.webhook_failing():
            self._webhook_passed.clear()
            return
        writers = set(self.manager_ids + (self.scheduler_id,) + self.operator_ids)
        for envelope in self._in_flight_to(set(self.instance_ids), ApiRequest):
            request = envelope.message
            if envelope.src in writers and request.method in WRITE_METHODS and "/leases" not in request.path \
                    and self._webhook_fails(envelope.src, request.request_id):
                self.world.drop(envelope)
                error = ApiError("InternalError", f'Internal error occurred: {WEBHOOK_REFUSAL} "{POLICY_WEBHOOK}": '
                                                  f'failed to call webhook: Post "{POLICY_WEBHOOK_URL}": dial tcp: '
                                                  f'connect: connection refused')
                answer = ApiResponse(request.request_id, error.code, error.status())
                self.world.apply(envelope.dst, Output(messages=[(envelope.src, answer)]))

    def _webhook_fails(self, src: str, request_id: int) -> bool:
        if self.webhook_fail_percent >= 100:  # no draw: an outage's runs take nothing from the world's RNG
            return True
        if (src, request_id) in self._webhook_passed:
            return False
        if self.world.rng.randrange(100) < self.webhook_fail_percent:
            return True
        self._webhook_passed.add((src, request_id))
        return False

    def each_tick(self) -> None:
        self._drop_watch_events()
        self._hold_lagging_watches()
        self._refuse_webhook_writes()
        self._note_link_faults()
        for host_id in sorted(self.hidden):
            if self.world.now >= self.hidden[host_id]:
                self._stop_hiding(host_id)

    def _note_link_faults(self) -> None:
        """CTRL-LEADER-KEEPS-LEASE's excuse: the last tick something stood between the hosts and
        the API servers: a cut link, a lagging instance, a network that drops messages, or an
        instance or store member down, for good too (a client may still send a request there,
        which nothing answers: a measured step-down came 150 ticks after an instance's power-off)."""
        down = not all(self.world.up(n) for n in self.instance_ids + self.member_ids)
        if self.world.network.blocked or self.lagging or down or self.world.network.faults.drop_rate:
            self.link_faulted_at = self.world.now

    def _drop_watch_events(self) -> None:
        for envelope in self._in_flight_to(self.hidden, WatchEvent):
            self.world.drop(envelope)

    def _in_flight_to(self, destinations, message_type: type) -> list:
        """The messages of ``message_type`` in flight to any of ``destinations``, in send order."""
        if not destinations:
            return []
        return [e for e in self.world.network.in_flight if e.dst in destinations and isinstance(e.message, message_type)]

    def _stop_hiding(self, host_id: str) -> None:
        del self.hidden[host_id]
        host = self.world.nodes[host_id]
        if host is not None:
            host.relist()

    def heal_everything(self) -> None:
        """The fault-free phase begins: links restored, every crashed node (but a removed or
        powered-off one) restarted, no event hidden, no message dropped."""
        self.world.network.heal()
        self._end_lag()
        self.webhook_down_until = 0
        self._webhook_passed.clear()
        self.world.network.faults = attrs.evolve(self.world.network.faults, drop_rate=0.0, duplicate_rate=0.0)
        for host_id in sorted(self.hidden):
            self._stop_hiding(host_id)
        for node_id in self.world.node_ids:
            if self.world.nodes[node_id] is None and node_id not in self.removed and node_id not in self.lost:
                self.world.restart(node_id)


POLICY_WEBHOOK = "policy.kinv.dev"
WEBHOOK_REFUSAL = "failed calling webhook"  # what kube's 500 says when a webhook cannot be called
POLICY_WEBHOOK_URL = "https://policy.kinv-system.svc:443/validate"


def _replacing(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that makes the template ``wanted`` whatever it is now: kubectl's rollback
    replaces the whole template (a JSON patch ``replace``), so the metadata keys only the current
    template has (a crash-looping release's annotations) are deleted (null), not merged in."""
    patch = json.loads(json.dumps(wanted))
    meta = patch.setdefault("metadata", {})
    for field in ("annotations", "labels"):
        gone = set((current.get("metadata") or {}).get(field) or {}) - set(meta.get(field) or {})
        if gone:
            meta[field] = {**(meta.get(field) or {}), **{name: None for name in sorted(gone)}}
    return patch


def _deployment_patch(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    namespace, _, name = key.rpartition("/")
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def manifest_key(obj: dict[str, Any]) -> tuple[str, str]:
    """(plural, key) of a manifest: ``("deployments", "default/web")``; the default namespace
    for a namespaced object that names none."""
    resource = resource_for_kind(obj["apiVersion"], obj["kind"])
    meta = obj.get("metadata") or {}
    namespace = (meta.get("namespace") or "default") if resource.namespaced else ""
    return resource.plural, f"{namespace}/{meta.get('name', '')}" if namespace else meta.get("name", "")
