"""bench/controllers.py at a tiny scale (20 pods over 4 nodes), so that the module cannot rot:
both phases converge, every figure of the tables is counted, and the tables and lines print."""

from __future__ import annotations

import io

from rich.console import Console

from bench.controllers import (controller_table, measure, phase_table,
                               progress_lines)

PODS = 20


def test_both_phases_converge_and_are_counted() -> None:
    cluster, phases = measure(nodes=4, pods=PODS, ticks_max=2_000)
    assert [phase.name for phase in phases] == ["scale-up", "rolling update"]
    assert cluster.converged() == []
    scale_up, rolling = phases
    assert scale_up.new_pods == PODS - 1 and rolling.new_pods == PODS
    assert scale_up.pods == rolling.pods == PODS
    for phase in phases:
        assert phase.ticks > 0 and phase.seconds > 0 and phase.api_calls > 0
        assert phase.reconciles["scheduler"] >= phase.new_pods  # one reconcile at least per pod placed
        assert phase.reconciles["deployment"] > 0 and phase.reconciles["replicaset"] > 0
        assert phase.reconciles_per_second > 0
        assert phase.violations == ()
    assert scale_up.hundreds == rolling.hundreds == ()  # fewer than 100 pods: no hundred to mark
    pods = cluster.stored("pods")
    images = {p["spec"]["containers"][0]["image"] for k, p in pods.items() if k.startswith("default/web-")}
    assert images == {"nginx:1.28"}
    assert sum(1 for k in pods if k.startswith("default/web-")) == PODS

    out = io.StringIO()
    console = Console(file=out, width=120)
    console.print(phase_table(phases, "tiny"))
    console.print(controller_table(phases))
    for line in progress_lines(phases):
        console.print(line)
    text = out.getvalue()
    assert "scale-up" in text and "rolling update" in text and "ticks per 100 pods" in text
    assert "reconciles/s" in text and "scheduler" in text
