"""Controllers figures for ``make bench``: one Deployment carried to 1,000 pods over 50 nodes, then
rolled to a new image, on the simulated cluster of the controllers checks
(``checks.controllers.cluster.ControllersCluster``: one store member, two API server instances,
two controller managers, the scheduler and one kubelet per node, every component a client of the
API server through the simulated network).

The run: a ready cluster; kubectl creates the seed's Deployment ``default/web`` with 1 replica and
the cluster converges (not measured); then two measured phases, each from kubectl's request until
``converged()`` holds (every Deployment, ReplicaSet and pod as desired, nothing leaked):

- scale-up: a merge patch to ``spec.replicas: 1000``;
- rolling update: a merge patch of the template's image (``nginx:1.27`` to ``nginx:1.28``), with
  the default strategy (maxSurge and maxUnavailable 25%).

Per phase: ticks (one tick is one simulated second), wall seconds, reconciles (a worker taking a
key, counted from the hosts' ``reconcile`` trace notes, every controller of every host: the
managers', the scheduler's, the kubelets'), reconciles per wall second, and API calls (requests
of every client, the heartbeats included). Also the tick at which each hundred of the phase's
pods was Running and Ready, the scale-up's ticks per 100 pods, reconciles by controller, and any
safety invariant the harness found violated (the run goes on to convergence; the harness judges
no more after its first violation).

Wall seconds are those of the world's ticks: every component, the store, the API servers, and
the harness's safety invariants judged at the end of every tick (their share is printed apart).
Left out: the API server invariants' judgement of the whole run, which the harness's
``run_until`` makes when a run ends (over the 100,000-odd requests of this run it takes longer
than the run), so the phases tick here until ``converged()``, bounded, as ``run_until`` does.

The wall clock is read here only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

from checks.controllers.cluster import ControllersCluster, ControllersOptions
from checks.controllers.sequence import SEED_DEPLOYMENT
from checks.violation import InvariantViolated
from impl.sim.trace import TraceRecorder

__all__ = ["run", "measure", "Phase", "BenchCluster", "CountingTrace", "NODES", "PODS"]

NODES = 50
PODS = 1_000
NEW_IMAGE = "nginx:1.28"
PHASE_TICKS_MAX = 20_000  # far above what either phase takes; a run that needs more is a finding
RECONCILE_NOTE = " reconciles "  # host.py's note when a worker takes a key: "<controller> reconciles <key>"
PODS_PREFIX = "/registry/pods/"


class CountingTrace(TraceRecorder):
    """The world's trace recorder, counting reconciles by controller as they are recorded (the
    recorder keeps only its latest events, so counting them afterwards would miss some)."""

    def __init__(self) -> None:
        super().__init__()
        self.reconciles: Counter[str] = Counter()

    def record(self, tick: int, kind: str, node: str | None, detail: str, peer: str | None = None) -> None:
        if kind == "reconcile" and RECONCILE_NOTE in detail:
            self.reconciles[detail.split(RECONCILE_NOTE, 1)[0]] += 1
        super().record(tick, kind, node, detail, peer)


class BenchCluster(ControllersCluster):
    """The checks' cluster; its store member sends every committed revision each tick (see the
    module's docstring); the time of the harness's checks at the end of each tick is kept."""

    def __init__(self, options: ControllersOptions) -> None:
        super().__init__(options)
        counting = CountingTrace()
        counting.events, counting.dropped_events = self.world.trace.events, self.world.trace.dropped_events
        self.world.trace = counting
        self.harness_seconds = 0.0
        self.world.tick_observers[:] = [self._timed(observer) for observer in self.world.tick_observers]

    def _timed(self, observer: Callable[[], None]) -> Callable[[], None]:
        def timed() -> None:
            started = time.perf_counter()
            try:
                observer()
            finally:
                self.harness_seconds += time.perf_counter() - started
        return timed

    @property
    def reconciles(self) -> Counter[str]:
        return self.world.trace.reconciles


@attrs.frozen
class Phase:
    name: str
    ticks: int  # from kubectl's request to converged
    seconds: float  # wall seconds of those ticks
    harness_seconds: float  # of which the harness's checks at the end of each tick
    reconciles: dict[str, int]  # by controller
    api_calls: int
    new_pods: int  # pods the phase created (the scale-up: all but the one that ran before)
    pods: int  # pods of the phase's template Running and Ready at the end
    hundreds: tuple[int, ...]  # ticks until each hundred of them was Running and Ready
    violations: tuple[str, ...] = ()  # what the harness's safety invariants found, at which tick of the phase

    @property
    def reconciles_total(self) -> int:
        return sum(self.reconciles.values())

    @property
    def reconciles_per_second(self) -> float:
        return self.reconciles_total / self.seconds if self.seconds else 0.0


def _running_and_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


def _pods_running(cluster: ControllersCluster, name: str, image: str) -> int:
    """Pods of Deployment ``default/<name>`` with ``image``, Running and Ready, not being deleted."""
    prefix = f"{PODS_PREFIX}default/{name}-"
    count = 0
    for key, pod in cluster.observer.objects.items():
        if not key.startswith(prefix) or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        containers = (pod.get("spec") or {}).get("containers") or ()
        if containers and containers[0].get("image") == image and _running_and_ready(pod):
            count += 1
    return count


def _deployment(replicas: int | None = None, image: str | None = None) -> dict[str, Any]:
    """A merge patch of the seed's Deployment: only what is given."""
    spec: dict[str, Any] = {}
    if replicas is not None:
        spec["replicas"] = replicas
    if image is not None:
        spec["template"] = {"spec": {"containers": [{"name": "web", "image": image}]}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(SEED_DEPLOYMENT["metadata"]),
            "spec": spec}


def _phase(cluster: BenchCluster, name: str, manifest: dict[str, Any], image: str, pods: int,
           ticks_max: int) -> Phase:
    """Apply ``manifest`` as kubectl and tick until converged (at most ``ticks_max`` ticks), with
    ``pods`` pods of ``image`` Running and Ready."""
    started_tick, started_calls = cluster.world.now, len(cluster.api_log.calls)
    reconciles_before = Counter(cluster.reconciles)
    harness_before = cluster.harness_seconds
    deployment = SEED_DEPLOYMENT["metadata"]["name"]
    new_pods = pods - _pods_running(cluster, deployment, image)
    hundreds: list[int] = []
    left: list[str] = []

    def done() -> bool:
        running = _pods_running(cluster, deployment, image)
        while len(hundreds) < pods // 100 and running >= 100 * (len(hundreds) + 1):
            hundreds.append(cluster.world.now - started_tick)
        if running < pods:  # converged() asks for all of them at least: skip its cost until then
            left[:] = [f"{running} of {pods} pods of {image} Running and Ready"]
            return False
        left[:] = cluster.converged()
        return not left

    violations: list[str] = []
    started = time.perf_counter()
    answer = cluster.apply(manifest)
    assert 200 <= answer.code < 300, f"{name}: kubectl's request was answered {answer.code}"
    while not done():
        if cluster.world.now - started_tick >= ticks_max:
            raise AssertionError(f"{name}: not converged after {ticks_max} ticks: " + "; ".join(left[:4]))
        try:
            cluster.world.tick()
        except InvariantViolated as found:  # raised once every node has ticked; the harness judges no more
            violations.append(f"tick {cluster.world.now - started_tick}: {found}")
    seconds = time.perf_counter() - started
    reconciles = Counter(cluster.reconciles)
    reconciles.subtract(reconciles_before)
    return Phase(name, cluster.world.now - started_tick, seconds, cluster.harness_seconds - harness_before,
                 {k: v for k, v in sorted(reconciles.items()) if v}, len(cluster.api_log.calls) - started_calls,
                 new_pods, pods, tuple(hundreds), tuple(violations))


def measure(nodes: int = NODES, pods: int = PODS, ticks_max: int = PHASE_TICKS_MAX,
            seed: int = 0) -> tuple[BenchCluster, list[Phase]]:
    """The two phases on a fresh cluster of ``nodes`` nodes, scaling to ``pods`` pods."""
    cluster = BenchCluster(ControllersOptions(nodes=nodes, seed=seed))
    cluster.run_until_ready()
    answer = cluster.apply({**SEED_DEPLOYMENT, "spec": {**SEED_DEPLOYMENT["spec"], "replicas": 1}})
    assert answer.code == 201, answer
    cluster.run_until_converged()
    image = SEED_DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["image"]
    scale_up = _phase(cluster, "scale-up", _deployment(replicas=pods), image, pods, ticks_max)
    rolling = _phase(cluster, "rolling update", _deployment(image=NEW_IMAGE), NEW_IMAGE, pods, ticks_max)
    return cluster, [scale_up, rolling]


def phase_table(phases: list[Phase], title: str) -> Table:
    table = Table(title=title)
    for column in ("phase", "ticks", "wall s", "reconciles", "reconciles/s", "API calls"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for phase in phases:
        table.add_row(phase.name, f"{phase.ticks:,}", f"{phase.seconds:,.1f}", f"{phase.reconciles_total:,}",
                      f"{phase.reconciles_per_second:,.0f}", f"{phase.api_calls:,}")
    return table


def controller_table(phases: list[Phase]) -> Table:
    table = Table(title="reconciles by controller")
    table.add_column("controller")
    for phase in phases:
        table.add_column(phase.name, justify="right")
    names = sorted({name for phase in phases for name in phase.reconciles},
                   key=lambda name: (-sum(p.reconciles.get(name, 0) for p in phases), name))
    for name in names:
        table.add_row(name, *(f"{phase.reconciles.get(name, 0):,}" for phase in phases))
    return table


def progress_lines(phases: list[Phase]) -> list[str]:
    lines = []
    for phase in phases:
        if phase.hundreds:
            marks = ", ".join(f"{100 * (i + 1)}: {tick}" for i, tick in enumerate(phase.hundreds))
            lines.append(f"{phase.name}: ticks until 100, 200, ... of its {phase.pods} pods were Running and Ready "
                         f"(pods: ticks): {marks}")
    scale_up = phases[0]
    lines.append(f"scale-up: {scale_up.ticks:,} ticks for {scale_up.new_pods} new pods = "
                 f"{scale_up.ticks * 100 / scale_up.new_pods:.0f} ticks per 100 pods")
    lines.append("of the wall seconds, the harness's safety invariants judged after every tick: " +
                 ", ".join(f"{phase.name} {phase.harness_seconds:,.1f}s" for phase in phases))
    for phase in phases:
        lines += [f"{phase.name}: a safety invariant was violated at {violation}" for violation in phase.violations]
    return lines


def run(console: Console) -> None:
    """Print the controllers figures (called by ``python -m bench``)."""
    console.rule("controllers")
    _, phases = measure()
    console.print(phase_table(phases, f"one Deployment to {PODS:,} pods over {NODES} nodes, then a rolling update "
                                      f"(one tick = one simulated second)"))
    for line in progress_lines(phases):
        console.print(line, highlight=False)
    console.print(controller_table(phases))
    console.print("The store member sends every committed revision each tick (one a tick by default: 50 nodes' "
                  "heartbeats alone outrun it; see bench/controllers.py).", highlight=False)
