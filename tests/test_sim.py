"""Unit tests of the deterministic simulator: disk, network, trace and the world that runs nodes."""

from __future__ import annotations

import random

import attrs
import pytest

import impl.sim.trace as trace_module
from impl.raft.config import RaftConfig
from impl.raft.node import RaftNode
from impl.sim.disk import Disk
from impl.sim.network import Network, NetworkFaults
from impl.sim.trace import TraceEvent, TraceRecorder
from impl.sim.world import Output, World

# ----- Disk ---------------------------------------------------------------------------------


def test_disk_read_sees_unsynced_write_but_durable_does_not():
    disk = Disk()
    disk.write("k", 1)
    assert disk.read("k") == 1
    assert disk.durable("k") is None
    assert disk.durable("k", "missing") == "missing"
    assert disk.durable_snapshot() == {}


def test_disk_crash_loses_unsynced_writes():
    disk = Disk()
    disk.write("k", 1)
    disk.crash()
    assert disk.read("k") is None
    assert disk.read("k", 7) == 7


def test_disk_crash_keeps_synced_writes_and_drops_later_overwrite():
    disk = Disk()
    disk.write("k", 1)
    disk.sync()
    disk.write("k", 2)  # an overwrite that never reaches the platter
    assert disk.read("k") == 2
    assert disk.durable("k") == 1
    disk.crash()
    assert disk.read("k") == 1
    assert disk.durable_snapshot() == {"k": 1}


def test_disk_durable_version_changes_only_when_sync_persists_something():
    disk = Disk()
    assert disk.durable_version == 0
    disk.sync()  # nothing pending: what survives a crash is unchanged
    assert disk.durable_version == 0
    disk.write("a", 1)
    assert disk.durable_version == 0
    disk.sync()
    assert disk.durable_version == 1
    disk.write("b", 2)
    disk.crash()
    disk.sync()
    assert disk.durable_version == 1


def test_disk_durable_snapshot_is_a_copy():
    disk = Disk()
    disk.write("a", 1)
    disk.sync()
    snapshot = disk.durable_snapshot()
    snapshot["a"] = 99
    assert disk.durable("a") == 1


# ----- Network ------------------------------------------------------------------------------


def _send(network: Network, src: str, dst: str, rng: random.Random | None = None, now: int = 0) -> list[str]:
    return network.send(src, dst, f"{src}->{dst}", now, rng or random.Random(0))


def test_network_perfect_send_queues_with_one_tick_delay_and_increasing_ids():
    network = Network(NetworkFaults())
    assert _send(network, "a", "b", now=5) == ["#1"]
    assert _send(network, "b", "a", now=5) == ["#2"]
    first, second = network.in_flight
    assert (first.id, first.src, first.dst, first.message) == (1, "a", "b", "a->b")
    assert (first.sent_tick, first.deliver_tick) == (5, 6)
    assert second.id == 2
    assert network.due(5) == []
    assert network.due(6) == [first, second]


def test_network_partition_cuts_links_both_ways_and_keeps_links_inside_a_group():
    network = Network(NetworkFaults())
    network.partition([["a", "b"], ["c"]])
    assert _send(network, "a", "c") == ["partitioned"]
    assert _send(network, "c", "a") == ["partitioned"]
    assert _send(network, "b", "c") == ["partitioned"]
    assert _send(network, "c", "b") == ["partitioned"]
    assert _send(network, "a", "b") == ["#1"]
    assert _send(network, "b", "a") == ["#2"]
    assert network.blocked == {("a", "c"), ("c", "a"), ("b", "c"), ("c", "b")}


def test_network_partition_of_three_groups_cuts_every_cross_link():
    network = Network(NetworkFaults())
    network.partition([["a"], ["b"], ["c"]])
    for src in "abc":
        for dst in "abc":
            if src != dst:
                assert not network.link_open(src, dst), (src, dst)


def test_network_block_is_one_way():
    network = Network(NetworkFaults())
    network.block("a", "b")
    assert _send(network, "a", "b") == ["partitioned"]
    assert _send(network, "b", "a") == ["#1"]
    assert network.link_open("b", "a")
    assert not network.link_open("a", "b")


def test_network_heal_restores_every_link():
    network = Network(NetworkFaults())
    network.partition([["a"], ["b", "c"]])
    network.block("b", "c")
    network.heal()
    assert network.blocked == set()
    assert _send(network, "a", "b") == ["#1"]
    assert _send(network, "b", "c") == ["#2"]


def test_network_drop_rate_one_loses_everything_and_zero_loses_nothing():
    lossy = Network(NetworkFaults(drop_rate=1.0))
    assert [_send(lossy, "a", "b") for _ in range(20)] == [["lost"]] * 20
    assert lossy.in_flight == []
    perfect = Network(NetworkFaults(drop_rate=0.0))
    assert all(_send(perfect, "a", "b")[0].startswith("#") for _ in range(20))
    assert len(perfect.in_flight) == 20


def _outcomes(faults: NetworkFaults, seed: int, count: int) -> list[list[str]]:
    network, rng = Network(faults), random.Random(seed)
    return [network.send("a", "b", i, 0, rng) for i in range(count)]


def test_network_drop_rate_is_applied_with_the_seeded_rng():
    outcomes = _outcomes(NetworkFaults(drop_rate=0.3), seed=7, count=1000)
    lost = sum(1 for o in outcomes if o == ["lost"])
    assert 230 <= lost <= 370  # 0.3 of 1000, well inside the binomial spread
    assert outcomes == _outcomes(NetworkFaults(drop_rate=0.3), seed=7, count=1000)
    assert outcomes != _outcomes(NetworkFaults(drop_rate=0.3), seed=8, count=1000)


def test_network_duplicate_rate_one_queues_two_copies_of_each_message():
    network = Network(NetworkFaults(duplicate_rate=1.0))
    assert _send(network, "a", "b") == ["#1", "#2"]
    assert [e.message for e in network.in_flight] == ["a->b", "a->b"]
    assert [e.id for e in network.in_flight] == [1, 2]


def test_network_duplicate_rate_is_applied_with_the_seeded_rng():
    outcomes = _outcomes(NetworkFaults(duplicate_rate=0.2), seed=3, count=1000)
    duplicated = sum(1 for o in outcomes if len(o) == 2)
    assert 140 <= duplicated <= 260
    assert outcomes == _outcomes(NetworkFaults(duplicate_rate=0.2), seed=3, count=1000)


def test_network_delays_are_drawn_within_the_range_and_cover_both_ends():
    network, rng = Network(NetworkFaults(delay_min_ticks=2, delay_max_ticks=5)), random.Random(1)
    for i in range(400):
        network.send("a", "b", i, 10, rng)
    delays = {e.deliver_tick - e.sent_tick for e in network.in_flight}
    assert delays == {2, 3, 4, 5}
    assert all(e.sent_tick == 10 for e in network.in_flight)


def test_network_fixed_delay_does_not_consume_randomness():
    rng = random.Random(5)
    expected = random.Random(5).random()
    network = Network(NetworkFaults(delay_min_ticks=3, delay_max_ticks=3))
    network.send("a", "b", "m", 0, rng)
    assert network.in_flight[0].deliver_tick == 3
    assert rng.random() == expected


def test_network_faults_reject_an_inverted_delay_range_and_bad_rates():
    with pytest.raises(AssertionError):
        NetworkFaults(delay_min_ticks=3, delay_max_ticks=2)
    with pytest.raises(AssertionError):
        NetworkFaults(drop_rate=1.5)
    with pytest.raises(AssertionError):
        NetworkFaults(duplicate_rate=-0.1)


def test_network_faults_describe():
    faults = NetworkFaults(delay_min_ticks=1, delay_max_ticks=4, drop_rate=0.25, duplicate_rate=0.1)
    assert faults.describe() == "delay=1..4 drop=0.25 duplicate=0.1"
    assert NetworkFaults(1, 1, drop_rate=0.05).describe() == "drop=0.05"


def test_network_hold_keeps_a_message_out_of_due_until_removed():
    network = Network(NetworkFaults())
    _send(network, "a", "b")
    _send(network, "a", "b")
    first, second = network.in_flight
    network.hold(first)
    assert network.in_flight == [second]
    assert network.held == [first]
    assert network.due(1000) == [second]
    assert network.held_on_link("a", "b") == [first]
    assert network.held_on_link("b", "a") == []
    network.remove(first)
    assert network.held == []
    assert network.in_flight == [second]


def test_network_on_link_filters_by_direction():
    network = Network(NetworkFaults())
    _send(network, "a", "b")
    _send(network, "b", "a")
    _send(network, "a", "b")
    assert [e.id for e in network.on_link("a", "b")] == [1, 3]
    assert [e.id for e in network.on_link("b", "a")] == [2]


def test_network_duplicate_copies_an_envelope_due_now_with_a_new_id():
    network = Network(NetworkFaults(delay_min_ticks=5, delay_max_ticks=5))
    _send(network, "a", "b")
    original = network.in_flight[0]
    copy = network.duplicate(original, now=2)
    assert (copy.id, copy.message, copy.sent_tick, copy.deliver_tick) == (2, original.message, 2, 2)
    assert network.due(2) == [copy]


def test_network_sheds_the_oldest_message_beyond_its_bound(monkeypatch):
    import impl.sim.network as network_module

    monkeypatch.setattr(network_module, "IN_FLIGHT_MAX", 3)
    network = Network(NetworkFaults())
    for _ in range(5):
        _send(network, "a", "b")
    assert [e.id for e in network.in_flight] == [3, 4, 5]


# ----- TraceRecorder ------------------------------------------------------------------------


def test_trace_recorder_records_events_in_order():
    recorder = TraceRecorder()
    recorder.record(1, "send", "n1", "hello #1", peer="n2")
    recorder.record(2, "crash", "n2", "gone")
    assert recorder.events == [TraceEvent(1, "send", "n1", "hello #1", "n2"), TraceEvent(2, "crash", "n2", "gone")]
    assert recorder.dropped_events == 0


def test_trace_event_line_formats_sender_and_receiver():
    assert TraceEvent(3, "send", "n1", "x", "n2").line() == "t=3    send      n1->n2   x"
    assert TraceEvent(12, "heal", None, "all").line() == "t=12   heal      -        all"
    assert TraceEvent(4, "crash", "n3", "c").line() == "t=4    crash     n3       c"


def test_trace_recorder_discards_the_older_half_at_its_bound(monkeypatch):
    monkeypatch.setattr(trace_module, "TRACE_EVENTS_MAX", 4)
    recorder = TraceRecorder()
    for tick in range(5):
        recorder.record(tick, "step", "n1", str(tick))
    assert [e.tick for e in recorder.events] == [2, 3, 4]
    assert recorder.dropped_events == 2


# ----- World --------------------------------------------------------------------------------


@attrs.define
class ScriptedNode:
    """A node whose outputs are scripted by the test: one Output per step or tick."""

    id: str
    disk: Disk
    on_step: list[Output] = attrs.field(factory=list)
    on_tick: list[Output] = attrs.field(factory=list)
    received: list[tuple[str, object]] = attrs.field(factory=list)

    def tick(self) -> Output:
        return self.on_tick.pop(0) if self.on_tick else Output()

    def step(self, src: str, message: object) -> Output:
        self.received.append((src, message))
        return self.on_step.pop(0) if self.on_step else Output()


def _scripted_world(seed: int = 0, faults: NetworkFaults = NetworkFaults()) -> World:
    return World(("b", "a"), lambda i, members, disk, rng: ScriptedNode(i, disk), seed, faults)


def test_world_sorts_node_ids_and_gives_each_node_its_own_disk():
    world = _scripted_world()
    assert world.node_ids == ("a", "b")
    assert world.nodes["a"].disk is world.disks["a"]
    assert world.disks["a"] is not world.disks["b"]


def test_world_syncs_a_nodes_writes_before_its_messages_are_queued():
    world = _scripted_world()
    durable_when_sent: list[object] = []
    send = world.network.send

    def spy(src, dst, message, now, rng):
        durable_when_sent.append(world.disks[src].durable("vote"))
        return send(src, dst, message, now, rng)

    world.network.send = spy
    world.apply("a", Output(writes={"vote": "a"}, sync=True, messages=[("b", "grant")]))
    assert durable_when_sent == ["a"]
    assert [(e.src, e.dst, e.message) for e in world.network.in_flight] == [("a", "b", "grant")]


def test_world_applies_unsynced_writes_without_making_them_durable():
    world = _scripted_world()
    world.apply("a", Output(writes={"k": 1}, sync=False))
    assert world.disks["a"].read("k") == 1
    assert world.disks["a"].durable("k") is None


def test_world_tick_delivers_due_messages_then_ticks_live_nodes():
    world = _scripted_world()
    world.nodes["b"].on_step = [Output(messages=[("a", "reply")])]
    world.apply("a", Output(messages=[("b", "ping")]))
    world.tick()
    assert world.now == 1
    assert world.nodes["b"].received == [("a", "ping")]
    assert [(e.src, e.message, e.deliver_tick) for e in world.network.in_flight] == [("b", "reply", 2)]
    assert world.delivered_count == 1
    kinds = [(e.kind, e.node, e.peer) for e in world.trace.events]
    assert kinds == [("send", "a", "b"), ("deliver", "a", "b"), ("send", "b", "a")]


def test_world_crash_loses_unsynced_writes_and_restart_rebuilds_from_disk():
    world = _scripted_world()
    world.apply("a", Output(writes={"kept": 1}, sync=True))
    world.apply("a", Output(writes={"lost": 2}, sync=False))
    old = world.nodes["a"]
    world.crash("a")
    assert not world.up("a")
    assert world.disks["a"].read("kept") == 1
    assert world.disks["a"].read("lost") is None
    world.restart("a")
    assert world.up("a")
    assert world.nodes["a"] is not old
    assert world.nodes["a"].disk is world.disks["a"]
    assert [e.kind for e in world.trace.events][-2:] == ["crash", "restart"]


def test_world_drops_messages_to_a_crashed_node():
    world = _scripted_world()
    world.apply("a", Output(messages=[("b", "ping")]))
    world.crash("b")
    world.tick()
    assert world.network.in_flight == []
    assert world.delivered_count == 0
    last = world.trace.events[-1]
    assert (last.kind, last.node, last.peer) == ("drop", "a", "b")
    assert last.detail.endswith("(receiver down)")


def test_world_drops_in_flight_messages_when_a_partition_starts_before_delivery():
    world = _scripted_world()
    world.apply("a", Output(messages=[("b", "ping")]))
    world.network.partition([["a"], ["b"]])
    world.tick()
    assert world.nodes["b"].received == []
    assert world.trace.events[-1].detail.endswith("(partitioned)")


def test_world_hold_then_deliver_by_hand_much_later():
    world = _scripted_world()
    world.apply("a", Output(messages=[("b", "old")]))
    world.hold(world.network.in_flight[0])
    for _ in range(5):
        world.tick()
    assert world.nodes["b"].received == []
    world.deliver(world.network.held_on_link("a", "b")[0])
    assert world.nodes["b"].received == [("a", "old")]
    assert world.network.held == []


def test_world_observers_run_after_every_change():
    world = _scripted_world()
    calls: list[int] = []
    world.observers.append(lambda: calls.append(world.now))
    world.apply("a", Output())
    world.crash("b")
    world.restart("b")
    assert calls == [0, 0, 0]
    world.tick()  # two live nodes tick: two outputs applied
    assert calls == [0, 0, 0, 1, 1]


def _raft_world(seed: int) -> World:
    faults = NetworkFaults(delay_min_ticks=1, delay_max_ticks=4, drop_rate=0.1, duplicate_rate=0.1)
    config = RaftConfig()
    world = World(("n1", "n2", "n3"), lambda i, members, disk, rng: RaftNode(i, members, disk, rng, config),
                  seed, faults)
    for step in range(120):
        world.tick()
        if step == 60:
            world.crash("n2")
        if step == 80:
            world.restart("n2")
    return world


def test_world_same_seed_gives_identical_trace():
    first, second = _raft_world(11), _raft_world(11)
    assert len(first.trace.events) > 100
    assert first.trace.events == second.trace.events
    assert {e.kind for e in first.trace.events} >= {"send", "deliver", "role", "crash", "restart"}


def test_world_different_seed_gives_a_different_trace():
    assert _raft_world(11).trace.events != _raft_world(12).trace.events
