"""The Raft state machine: Hypothesis chooses requests and faults, the harness checks every
invariant after every change of state, and a final heal-and-converge phase checks liveness.

Swarm testing (as in TigerBeetle's VOPR): each test case draws its cluster size, its options
(PreVote, CheckQuorum) and the network's own loss, duplication and delay, and which fault
rules are enabled at all, so that different test cases explore very different worlds.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st
from hypothesis import target
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from checks.raft.cluster import ClusterOptions, RaftCluster
from checks.search import MachineCounter
from impl.raft.node import RaftNode
from impl.sim.network import NetworkFaults

__all__ = ["RaftMachine", "SWARM_KINDS", "aim_at_rare_states"]

# Swarm testing (Groce et al., ISSTA 2012): each test case enables a random subset of the rule
# kinds, so that a case without, say, ticks or stabilize can go deep into states that a case
# with every rule would wash out. Without "time" the clock never runs on its own: only
# campaigns, deliveries and faults move the cluster, as in etcd-raft's interaction tests.
SWARM_KINDS = ("time", "campaign", "elect", "propose", "deliver", "stabilize",
               "drop", "duplicate", "hold", "partition", "crash", "churn")
MESSAGE_CHOICE_MAX = 63
ELECT_ATTEMPTS_MAX = 3

network_faults = st.sampled_from([
    NetworkFaults(),
    NetworkFaults(1, 3),
    NetworkFaults(1, 6, drop_rate=0.05),
    NetworkFaults(1, 2, drop_rate=0.1, duplicate_rate=0.05),
])


# Which followers a proposal reaches: none and all are the interesting extremes, so they are
# drawn as often as any particular subset.
follower_masks = st.one_of(st.just(0), st.just(31), st.integers(0, 31))


@attrs.frozen
class SwarmProfile:
    kinds: frozenset[str]
    noop: bool | None = None  # None: drawn like every other option


# Named swarm profiles, drawn as often as a random subset of kinds:
# - figure 8: rounds of MIT 6.5840's Figure 8 test (leader churn with partial replication), run as
#   that test runs, without a no-op entry, and again with one and messages that arrive much later;
# - network: a clock that runs over a lossy, duplicating, delaying, partitioned network;
# - manual: no clock, every delivery chosen, as in etcd-raft's interaction tests.
SWARM_PROFILES = (
    SwarmProfile(frozenset({"churn", "crash"}), noop=False),
    SwarmProfile(frozenset({"churn", "crash"}), noop=False),
    SwarmProfile(frozenset({"churn", "crash", "hold"})),
    SwarmProfile(frozenset({"time", "propose", "deliver", "drop", "duplicate", "hold", "partition"})),
    SwarmProfile(frozenset({"campaign", "propose", "deliver", "hold", "crash"})),
)
swarm = st.one_of(st.sampled_from(SWARM_PROFILES),
                  st.frozensets(st.sampled_from(SWARM_KINDS), min_size=2).map(SwarmProfile))


class RaftMachine(RuleBasedStateMachine):
    node_class: type[RaftNode] = RaftNode
    counter: MachineCounter | None = None

    def __init__(self) -> None:
        super().__init__()
        self.cluster: RaftCluster | None = None
        self.enabled: frozenset[str] = frozenset()
        if self.counter is not None:
            self.counter.saw(self)

    @initialize(size=st.sampled_from([3, 5]), seed=st.integers(0, 2**16), pre_vote=st.booleans(),
                check_quorum=st.booleans(), noop=st.booleans(), faults=network_faults,
                profile=swarm)
    def setup(self, size, seed, pre_vote, check_quorum, noop, faults, profile) -> None:
        noop = noop if profile.noop is None else profile.noop
        options = ClusterOptions(size=size, seed=seed, pre_vote=pre_vote, check_quorum=check_quorum,
                                 noop=noop, faults=faults)
        self.cluster = RaftCluster(options, self.node_class)
        enabled = profile.kinds
        if not enabled & {"time", "campaign", "elect", "churn"}:
            enabled |= {"time"}  # something must always be able to happen
        self.enabled = enabled

    def _node(self, choice: int) -> str:
        return self.cluster.ids[choice % len(self.cluster.ids)]

    def _leader(self) -> str | None:
        leaders = [n for n in self.cluster.ids if self.cluster.world.up(n)
                   and self.cluster.world.nodes[n].role == "leader"]
        return leaders[-1] if leaders else None

    # ----- time, elections and requests ---------------------------------------------------

    @precondition(lambda self: "time" in self.enabled)
    @rule(count=st.integers(1, 12))
    def tick(self, count: int) -> None:
        self.cluster.tick(count)

    @precondition(lambda self: "campaign" in self.enabled)
    @rule(node=st.integers(0, 4))
    def campaign(self, node: int) -> None:
        self.cluster.campaign(self._node(node))

    @precondition(lambda self: "propose" in self.enabled and self._leader() is not None)
    @rule()
    def propose_to_leader(self) -> None:
        self.cluster.propose(self._leader())

    @precondition(lambda self: "elect" in self.enabled)
    @rule(node=st.integers(0, 4))
    def elect(self, node: int) -> None:
        """A whole election at once: the node campaigns and every message settles; a campaign
        that only taught it a higher term is retried, as its next timeout would."""
        candidate = self._node(node)
        for _ in range(ELECT_ATTEMPTS_MAX):
            if not self.cluster.world.up(candidate) or self._leader() == candidate:
                return
            self.cluster.campaign(candidate)
            self.cluster.stabilize()

    @precondition(lambda self: "propose" in self.enabled and self._leader() is not None)
    @rule(mask=follower_masks)
    def propose_partially(self, mask: int) -> None:
        """A proposal whose AppendEntries reach only some followers; the rest are lost, or,
        when messages can be held, delayed until some later `release`."""
        leader = self._leader()
        self.cluster.propose(leader)
        miss = "hold" if "hold" in self.enabled else "drop"
        for envelope in self.cluster.in_flight():
            if envelope.src == leader and envelope.message.kind == "AppendEntries":
                reaches = mask >> self.cluster.ids.index(envelope.dst) & 1
                self.cluster.on_envelope("deliver" if reaches else miss, envelope)

    @precondition(lambda self: "churn" in self.enabled)
    @rule(node=st.integers(0, 4), mask=follower_masks, crash=st.booleans(), revive=st.integers(0, 4))
    def churn(self, node: int, mask: int, crash: bool, revive: int) -> None:
        """One round of MIT 6.5840's Figure 8 test: settle, make sure there is a leader, have it
        take a proposal that reaches only some followers, maybe kill it at once, and bring one
        crashed server back. Rounds of this leave logs that disagree across terms; with held
        messages, some arrive rounds later, into a later term."""
        self.cluster.stabilize()
        if self._leader() is None:
            self.elect(node)
        if self._leader() is not None:
            self.propose_partially(mask)
            if crash:
                self.cluster.crash(self._leader())
        down = [n for n in self.cluster.ids if not self.cluster.world.up(n)]
        if len(down) * 2 >= len(self.cluster.ids):  # no majority left alive: bring one back
            self.cluster.restart(down[revive % len(down)])
        held = self.cluster.world.network.held
        if held and revive % 2:  # and sometimes a message held since an earlier round arrives,
            to_leader = [e for e in held if e.dst == self._leader()]  # at the leader if one waits
            self.cluster.on_envelope("release", (to_leader or held)[0])

    @precondition(lambda self: "deliver" in self.enabled and self.cluster.world.network.in_flight)
    @rule(choice=st.integers(0, MESSAGE_CHOICE_MAX))
    def deliver(self, choice: int) -> None:
        """Deliver any message in flight now: this is how reordering and delay happen."""
        in_flight = self.cluster.in_flight()
        self.cluster.on_envelope("deliver", in_flight[choice % len(in_flight)])

    @precondition(lambda self: "stabilize" in self.enabled and self.cluster.world.network.in_flight)
    @rule()
    def stabilize(self) -> None:
        self.cluster.stabilize()

    # ----- faults (each enabled or not by the swarm draw) ---------------------------------

    @precondition(lambda self: "drop" in self.enabled and self.cluster.world.network.in_flight)
    @rule(choice=st.integers(0, MESSAGE_CHOICE_MAX))
    def drop(self, choice: int) -> None:
        in_flight = self.cluster.in_flight()
        self.cluster.on_envelope("drop", in_flight[choice % len(in_flight)])

    @precondition(lambda self: "duplicate" in self.enabled and self.cluster.world.network.in_flight)
    @rule(choice=st.integers(0, MESSAGE_CHOICE_MAX))
    def duplicate(self, choice: int) -> None:
        in_flight = self.cluster.in_flight()
        self.cluster.on_envelope("duplicate", in_flight[choice % len(in_flight)])

    @precondition(lambda self: "hold" in self.enabled and self.cluster.world.network.in_flight)
    @rule(choice=st.integers(0, MESSAGE_CHOICE_MAX))
    def hold(self, choice: int) -> None:
        in_flight = self.cluster.in_flight()
        self.cluster.on_envelope("hold", in_flight[choice % len(in_flight)])

    @precondition(lambda self: "hold" in self.enabled and self.cluster.world.network.held)
    @rule(choice=st.integers(0, MESSAGE_CHOICE_MAX))
    def release(self, choice: int) -> None:
        held = self.cluster.world.network.held
        self.cluster.on_envelope("release", held[choice % len(held)])

    @precondition(lambda self: "partition" in self.enabled)
    @rule(mask=st.integers(1, 30))
    def partition(self, mask: int) -> None:
        ids = self.cluster.ids
        side = [n for i, n in enumerate(ids) if mask >> i & 1]
        rest = [n for n in ids if n not in side]
        if side and rest:
            self.cluster.partition([side, rest])

    @precondition(lambda self: "partition" in self.enabled)
    @rule(src=st.integers(0, 4), dst=st.integers(0, 4))
    def block(self, src: int, dst: int) -> None:
        if self._node(src) != self._node(dst):
            self.cluster.block(self._node(src), self._node(dst))

    @precondition(lambda self: "partition" in self.enabled and self.cluster.world.network.blocked)
    @rule()
    def heal(self) -> None:
        self.cluster.heal()

    @precondition(lambda self: "crash" in self.enabled)
    @rule(node=st.integers(0, 4))
    def crash(self, node: int) -> None:
        if self.cluster.world.up(self._node(node)):
            self.cluster.crash(self._node(node))

    @precondition(lambda self: "crash" in self.enabled)
    @rule(node=st.integers(0, 4))
    def bounce(self, node: int) -> None:
        """kill -9 and start again at once: only what was synced comes back."""
        if self.cluster.world.up(self._node(node)):
            self.cluster.crash(self._node(node))
            self.cluster.restart(self._node(node))

    @precondition(lambda self: "crash" in self.enabled and self._leader() is not None)
    @rule()
    def crash_leader(self) -> None:
        """Jepsen's favourite nemesis: kill the leader, often right after it sent something."""
        self.cluster.crash(self._leader())

    @precondition(lambda self: "crash" in self.enabled)
    @rule(node=st.integers(0, 4))
    def restart(self, node: int) -> None:
        if not self.cluster.world.up(self._node(node)):
            self.cluster.restart(self._node(node))

    # ----- liveness -----------------------------------------------------------------------

    def teardown(self) -> None:
        if self.cluster is not None and self.cluster.violation is None:
            aim_at_rare_states(self.cluster)
            self.cluster.converge()


def aim_at_rare_states(cluster: RaftCluster) -> None:
    """Hypothesis' targeted search (Löscher & Sagonas, ISSTA 2017): each score is maximized over
    the test cases, so the search keeps mutating the runs that went furthest into rare states,
    where the bugs random walks miss live: high terms, many elections, logs that disagree, and
    followers far behind."""
    logs = [node.log.all() for node in map(cluster.world.nodes.get, cluster.ids) if node is not None]
    if not logs:
        return
    target(float(max(node.term for node in map(cluster.world.nodes.get, cluster.ids) if node is not None)),
           label="highest term")
    target(float(sum(len(leaders) for leaders in cluster.history.leaders_by_term.values())), label="elections")
    target(float(max(_disagreement(a, b) for a in logs for b in logs)), label="log entries that disagree")
    target(float(max(map(len, logs)) - min(map(len, logs))), label="entries the furthest follower lacks")


def _disagreement(a: tuple, b: tuple) -> int:
    """Indexes where two logs hold different entries, one of them missing included."""
    shared = min(len(a), len(b))
    return sum(1 for i in range(shared) if a[i] != b[i]) + max(len(a), len(b)) - shared
