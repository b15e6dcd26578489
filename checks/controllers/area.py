"""The `controllers` area of `kinv check` and `kinv replay`: the controller manager, the
scheduler and the kubelets (and the user's own controller, with `--controller`) on a whole
simulated cluster."""

from __future__ import annotations

import attrs

from checks.area import CheckRequest, CheckResult, default_report_dir
from checks.controllers.cluster import ControllersCluster
from checks.controllers.scenario import load, run
from checks.controllers.search import search
from checks.simulated import SimulatedArea
from impl.controllers.parts import ControllersParts

__all__ = ["AREA", "ControllersArea", "counterexample_of"]

LEGEND = (
    "`u1` is kubectl, `cm1` ... the controller managers (one leads, through the Lease "
    "kube-system/kube-controller-manager), `sched` the scheduler, `k1` ... the kubelets of node-1 ..., "
    "`op1` the user's controller; `a1` ... are API server instances and `n1` ... store members.",
    "`#12 POST /api/v1/namespaces/default/pods` is a request of a component (its number is the client's); "
    "reconcile notes say which controller made it, for which key. `converge` is the fault-free phase that "
    "ends every run: Eventually Stable Reconciliation is judged there.",
    "Routine traffic is left out of the diagram (Raft, the store's progress notifications, watch events, "
    "Lease renewals); the trace has every event, grouped by the scenario step that caused it.",
)
DIAGRAM_HIDES = (r"/leases/", r" Lease ", r" BOOKMARK ", r"^#\d+ (ADDED|MODIFIED|DELETED) ", r"^watch ", r" GET ",
                 r"^#\d+ 200 \S+List\b", r"closed", r"leases\.coordination", r"/nodes/[^/ ]+/status", r" Node node-\d+ rv=")


def _state_lines(cluster: ControllersCluster) -> tuple[str, ...]:
    lines = []
    for host_id in cluster.host_ids:
        host = cluster.world.nodes[host_id]
        if host is None:
            lines.append(f"{host_id}  {'removed' if host_id in cluster.removed else 'down'}")
            continue
        role = "leader" if host.acting_leader() else ("running" if host.running else "candidate")
        busy = len(host.mid_reconcile_writers())
        lines.append(f"{host_id}  {role}, talks to {host.connection.instance}"
                     + (f", {busy} reconciles between writes" if busy else ""))
    for instance_id in cluster.instance_ids:
        node = cluster.instance(instance_id)
        lines.append(f"{instance_id}  " + ("down" if node is None else f"caches at revision {node.cache_revision()}"))
    left = cluster.converged()
    lines.append("desired state: " + ("reached" if not left else "; ".join(left[:3])))
    return tuple(lines)


@attrs.frozen
class ControllersArea(SimulatedArea):
    def check(self, request: CheckRequest) -> CheckResult:
        outcome = search(self.parts(request.bug), request.seed, request.budget_seconds, request.progress,
                         controller=request.controller, manifests=request.manifests)
        folder = request.report_dir or default_report_dir(self.name, request.bug, request.seed)
        return self.result(request.bug, outcome.violation, outcome.cluster, outcome.examples, None,
                           round(outcome.seconds, 1), request.seed, folder)


AREA = ControllersArea("controllers", search, load, run, ControllersParts, _state_lines, LEGEND, DIAGRAM_HIDES)
counterexample_of = AREA.counterexample_of
