"""More of what users do, as rules of the controllers state machine (mixed into
``ControllersMachine``): ship a release that crash-loops and fix it, claim storage, taint nodes.

- A broken release (swarm kind ``release``): a template whose containers exit at once (the
  kubelet's ``kinv.dev/exit-after: "0"``, exit code 1: Running, restarted with back-off, never
  Ready, kube's CrashLoopBackOff), found out after a while and fixed, by a new image or by
  ``rollout undo``. Through all of it the rollout bounds judge the Deployment: new pods that
  never become available must not let the old ones go (kube's rolling update scales old
  ReplicaSets down only as new pods become available). Mutation testing found the suite blind to
  a rollout that counted created pods as available: every release it shipped became Ready.
  The user undoes only to a release that works, as one who reads ``kubectl rollout history``
  first: kubectl's undo goes to the second-highest revision, and when the fix of an earlier
  broken release was replaced before any Deployment controller saw it (the leader down, or the
  next release at once) that revision is the earlier broken release. Otherwise the fix is a new
  image; likewise the ``timing`` rule's undo is not made towards a crash-looping release (either
  would leave a Deployment the user broke, which CTRL-CONVERGES rightly finds never complete).
- Storage (swarm kind ``storage``): an administrator adds a PersistentVolume that fits a claim
  (sometimes a smaller one first), with the Retain or Delete reclaim policy, and a user claims
  it, or deletes the claim. Every claim then has a volume of its exact size, so the binder's
  smallest-fit choice always leaves each claim one; CTRL-CONVERGES asks that each claim ends
  Bound to a volume that names it back and holds its request.

- Taints (swarm kind ``kubelet``): ``kubectl taint node`` with NoExecute or NoSchedule, kept or
  taken off a minute later; CTRL-CONVERGES asks that no pod runs on a node whose NoExecute
  taint it does not tolerate.

Every step is an ``apply`` or ``delete`` line, so a counterexample replays as a scenario.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from impl.controllers.kubelet import EXIT_AFTER_ANNOTATION, EXIT_CODE_ANNOTATION

__all__ = ["UserActions", "CRASHING", "HEALTHY", "release", "crash_loops"]

# The kubelet's annotations (impl/controllers/kubelet.py): every container exits this many ticks
# after it starts, with this code; a merge patch of null takes them off again.
CRASHING = {EXIT_AFTER_ANNOTATION: "0", EXIT_CODE_ANNOTATION: "1"}
HEALTHY = {EXIT_AFTER_ANNOTATION: None, EXIT_CODE_ANNOTATION: None}
CLAIMS = ("data", "logs")
CLAIM_NAMESPACE = "default"


def crash_loops(template: dict[str, Any] | None) -> bool:
    """Whether a pod template is a broken release's (CRASHING): its containers exit at once."""
    annotations = ((template or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(EXIT_AFTER_ANNOTATION) is not None


def release(key: str, stored: dict[str, Any], image: str, annotations: dict[str, Any]) -> dict[str, Any]:
    """A merge patch of a Deployment's template (``stored``: the Deployment now): its first
    container's image, and the pods' annotations."""
    namespace, _, name = key.rpartition("/")
    containers = [dict(c) for c in ((stored.get("spec") or {}).get("template") or {}).get("spec", {})
                  .get("containers") or [{"name": "web"}]]
    containers[0]["image"] = image
    template = {"metadata": {"annotations": annotations}, "spec": {"containers": containers}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": template}}


def volume(name: str, gibibytes: int, policy: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": f"{gibibytes}Gi"},
                     "hostPath": {"path": f"/data/{name}"}, "persistentVolumeReclaimPolicy": policy}}


def claim(name: str, gibibytes: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": CLAIM_NAMESPACE},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{gibibytes}Gi"}},
                     "storageClassName": ""}}


def node_taints(name: str, taints: list[dict[str, Any]]) -> dict[str, Any]:
    """A merge patch of a Node's taints (the list is replaced: the node lifecycle controller puts
    back the readiness taints a node still needs)."""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {"taints": taints}}


class UserActions:
    """Rules that need the machine's ``_on``, ``_deployment``, ``_other_image``,
    ``_rollout_blocked``, ``_others_schedulable``, ``tainted``, ``controller`` and ``cluster``;
    ``volumes_made`` counts the volumes added, for their names."""

    volumes_made = 0

    @precondition(lambda self: self._on("release") and not self.controller and self.cluster.stored("deployments"))
    @rule(which=st.integers(0, 2), image=st.integers(0, 1), broken_for=st.sampled_from([20, 60, 150]),
          fix=st.sampled_from(("image", "image", "undo")))
    def broken_release(self, which, image, broken_for, fix) -> None:
        key = self._deployment(which)
        if self._rollout_blocked(key):
            return
        stored = self.cluster.stored("deployments")[key]
        self.cluster.apply_object(release(key, stored, self._other_image(key, image), CRASHING))
        self.cluster.tick(broken_for)
        stored = self.cluster.stored("deployments").get(key)
        if stored is None:
            return
        previous = self.cluster.previous_template(key)  # what kubectl's undo would go to
        if fix == "undo" and previous is not None and not crash_loops(previous):
            self.cluster.rollout_undo(key)
        else:
            self.cluster.apply_object(release(key, stored, self._other_image(key, image + 1), HEALTHY))

    @precondition(lambda self: self._on("kubelet") and not self.controller)
    @rule(which=st.integers(0, 3), effect=st.sampled_from(["NoExecute", "NoExecute", "NoSchedule"]),
          keep=st.sampled_from([True, True, False]))
    def taint_node(self, which, effect, keep) -> None:
        """``kubectl taint node``: a node set aside (dedicated=db), the pods that do not tolerate
        it evicted (NoExecute) or only kept off (NoSchedule); taken off again unless ``keep``.
        Mostly NoExecute and kept: what the scheduler and the taint eviction do with such a node
        shows at the fixpoint (mutation testing: a scheduler that ignored NoExecute taints, its
        pods placed and evicted in a loop, survived when half the taints were NoSchedule and
        half of the rest were taken off). Never the last node that can take pods."""
        kubelet = self.cluster.kubelet_ids[which % len(self.cluster.kubelet_ids)]
        name = self.cluster.node_names[kubelet]
        if name not in self.cluster.stored("minions") or not self._others_schedulable(kubelet):
            return
        self.cluster.apply_object(node_taints(name, [{"key": "dedicated", "value": "db", "effect": effect}]))
        if keep:
            self.tainted.add(kubelet)
        else:
            self.tainted.discard(kubelet)
            self.cluster.tick(60)
            if name in self.cluster.stored("minions"):
                self.cluster.apply_object(node_taints(name, []))

    @precondition(lambda self: self._on("storage") and not self.controller)
    @rule(name=st.sampled_from(CLAIMS), gibibytes=st.sampled_from([1, 2, 5]), policy=st.sampled_from(["Retain", "Delete"]),
          smaller_first=st.sampled_from([True, True, False]))
    def claim_storage(self, name, gibibytes, policy, smaller_first) -> None:
        if f"{CLAIM_NAMESPACE}/{name}" in self.cluster.stored("persistentvolumeclaims"):
            return
        sizes = ([gibibytes - 1] if smaller_first and gibibytes > 1 else []) + [gibibytes]
        for size in sizes:
            self.volumes_made += 1
            self.cluster.apply_object(volume(f"pv-{self.volumes_made}", size, policy))
        # A create kubectl sent to an instance that died is never answered: with no volume of
        # the size, the claim would rightly stay Pending for ever, so the user does not make it.
        if f"pv-{self.volumes_made}" in self.cluster.stored("persistentvolumes"):
            self.cluster.apply_object(claim(name, gibibytes))

    @precondition(lambda self: self._on("storage") and not self.controller
                  and self.cluster.stored("persistentvolumeclaims"))
    @rule(which=st.integers(0, 1))
    def delete_claim(self, which) -> None:
        keys = sorted(self.cluster.stored("persistentvolumeclaims"))
        self.cluster.delete_object("persistentvolumeclaims", keys[which % len(keys)])
