"""Raft figures: per catalog bug, seconds to the counterexample (median and worst over seeds)
and median shrunk steps; the reference's search rate; simulator throughput."""

from __future__ import annotations

import time

from rich.console import Console

from bench.bugs import bug_table
from checks.raft.cluster import ClusterOptions, RaftCluster
from checks.raft.search import search
from impl.raft.node import RaftNode
from impl.sim.network import NetworkFaults

__all__ = ["run", "simulator_throughput"]

THROUGHPUT_TICKS = 3_000


def simulator_throughput(checked: bool) -> tuple[int, float]:
    """Delivered messages per second of a 5-node cluster on a network with delays, a proposal
    every 4 ticks. ``checked``: every Raft invariant evaluated after every event, as in a search."""
    cluster = RaftCluster(ClusterOptions(size=5, seed=1, faults=NetworkFaults(1, 3)))
    if not checked:
        cluster.world.observers.clear()
    start = time.perf_counter()
    for tick in range(THROUGHPUT_TICKS):
        cluster.world.tick()
        leader = next((n for n in cluster.ids if cluster.world.nodes[n].role == "leader"), None)
        if leader is not None and tick % 4 == 0:
            output, _ = cluster.world.nodes[leader].propose(f"v{tick}")
            cluster.world.apply(leader, output)
    elapsed = time.perf_counter() - start
    return cluster.world.delivered_count, elapsed


def run(console: Console) -> None:
    console.rule("raft")
    for checked, what in ((False, "the world and the nodes alone"), (True, "every invariant checked after every event")):
        delivered, elapsed = simulator_throughput(checked)
        console.print(f"simulator, {what}: {delivered} messages in {elapsed:.2f}s = "
                      f"{delivered / elapsed:,.0f} delivered messages/s (5 nodes, {THROUGHPUT_TICKS} ticks, "
                      f"a proposal every 4 ticks)")
    reference = search(RaftNode, 1, 20.0)
    console.print(f"reference search: {reference.examples} test cases in {reference.seconds:.1f}s = "
                  f"{reference.examples / reference.seconds:.0f} test cases/s, result "
                  f"{'held' if reference.violation is None else reference.violation.invariant.id}")
    console.print(bug_table(console, "raft"))
