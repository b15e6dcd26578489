"""The fault-free phase of a Raft run (TigerBeetle's VOPR: a safety phase full of faults, then a
liveness phase that heals and demands convergence within a bound). The `converge` command:

1. every fault stops (links healed, crashed servers restarted, no loss); within a bound that grows
   with the work to repair, a leader accepts a proposal and every server applies it (RAFT-LIVENESS);
2. the network stays fault-free for a window: once every server heard from the leader, nobody
   campaigns and the leader stays (RAFT-LEADER-STABLE); then a minority of followers crash and
   the rest must still commit and apply (RAFT-LIVENESS again);
3. with PreVote on, one follower is cut off while the others commit an entry, and comes back:
   the leader must stay (RAFT-PREVOTE-NO-DISRUPTION); with CheckQuorum too, again with a follower
   that missed nothing (only the leader lease stops it then);
4. with CheckQuorum on, the leader is cut off: it must step down in time (RAFT-CHECKQUORUM-STEPDOWN).

The harness runs each step; spec/raft judges what it saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from impl.raft.messages import Entry, Kind
from impl.raft.node import RaftNode
from impl.sim.network import NetworkFaults
from spec.raft import (
    CHECKQUORUM_STEPDOWN, LEADER_STABLE, LIVENESS, PREVOTE_ISOLATION_TIMEOUTS, PREVOTE_NO_DISRUPTION,
    STABLE_WINDOW_TIMEOUTS, STEPDOWN_TIMEOUTS, LeaderWatch, LivenessOutcome, StepDown, liveness_bound_ticks,
)

if TYPE_CHECKING:
    from checks.raft.cluster import RaftCluster

__all__ = ["converge", "CONVERGE_MARKER"]

CONVERGE_MARKER = "converge"
PREVOTE_PROBE_MARKER = "prevote-probe"  # an entry the cut-off follower misses
MINORITY_MARKER = "minority-down"  # an entry committed while a minority is down
_CAMPAIGNING = ("pre-candidate", "candidate")


def converge(cluster: RaftCluster) -> LivenessOutcome:
    """Heal everything, then run the checks above in order; the first that fails raises."""
    _stop_faults(cluster)
    elections = _Elections(cluster)
    try:
        outcome = _progress(cluster, elections)
        _judge(cluster, LIVENESS, outcome)
        _judge(cluster, LEADER_STABLE, _watch_leader(cluster, outcome.leader, elections))
        _judge(cluster, LIVENESS, _minority_down(cluster, outcome.leader))
    finally:
        elections.stop()
    options = cluster.options
    if options.pre_vote:
        _judge(cluster, PREVOTE_NO_DISRUPTION, _rejoin_follower(cluster, outcome.leader, misses_entry=True))
    if options.pre_vote and options.check_quorum:  # the leader lease: its log no longer matters
        _judge(cluster, PREVOTE_NO_DISRUPTION, _rejoin_follower(cluster, outcome.leader, misses_entry=False))
    if options.check_quorum:
        _judge(cluster, CHECKQUORUM_STEPDOWN, _cut_off_leader(cluster, outcome.leader))
    return outcome


class _Elections:
    """What the fault-free phase saw of elections, tick by tick: which server heard from which
    leader (an AppendEntries of the leader's own term delivered to it), and when each server
    started an election (its term rose, or it turned pre-candidate or candidate)."""

    def __init__(self, cluster: RaftCluster) -> None:
        self.cluster = cluster
        self.heard: dict[tuple[str, int], set[str]] = {}  # (leader, term) -> servers that heard from it
        self.heard_by_all_at: dict[tuple[str, int], int] = {}  # (leader, term) -> tick every live server had
        self.started: list[tuple[int, str]] = []  # (tick, server) of each election started
        self._terms = {n: self._term(n) for n in cluster.ids}
        cluster.world.delivery_observers.append(self._delivered)

    def stop(self) -> None:
        self.cluster.world.delivery_observers.remove(self._delivered)

    def _term(self, node_id: str) -> int:
        node = self.cluster.world.nodes[node_id]
        return node.term if node is not None else 0

    def _delivered(self, envelope) -> None:
        receiver = self.cluster.world.nodes[envelope.dst]
        message = envelope.message
        if message.kind == Kind.APPEND and receiver is not None and receiver.term == message.term:
            self.heard.setdefault((envelope.src, message.term), set()).add(envelope.dst)

    def sample(self) -> None:
        """After a tick: record elections started, and whether the leader is now heard by all."""
        world, now = self.cluster.world, self.cluster.world.now
        for node_id in self.cluster.ids:
            term, node = self._term(node_id), world.nodes[node_id]
            if node is not None and (term > self._terms[node_id] or node.role in _CAMPAIGNING):
                self.started.append((now, node_id))
            self._terms[node_id] = max(term, self._terms[node_id])
        leader = _current_leader(self.cluster)
        if leader is not None:
            key = (leader, world.nodes[leader].term)
            live_others = {n for n in self.cluster.ids if n != leader and world.up(n)}
            if key not in self.heard_by_all_at and live_others <= self.heard.get(key, set()):
                self.heard_by_all_at[key] = now

    def started_since(self, leader: str, term: int) -> tuple[str, ...]:
        """Servers that started an election after every live server heard from ``leader``."""
        since = self.heard_by_all_at.get((leader, term))
        if since is None:
            return ()
        return tuple(sorted({node for tick, node in self.started if tick > since}))


def _judge(cluster: RaftCluster, invariant, observed) -> None:
    problems = invariant.predicate(observed)
    if problems:
        cluster.fail(invariant, problems[0])


def _timeout(cluster: RaftCluster) -> int:
    return cluster.options.raft_config().election_timeout_ticks


def _stop_faults(cluster: RaftCluster) -> None:
    world = cluster.world
    world.network.heal()
    world.network.faults = NetworkFaults()
    for node_id in cluster.ids:
        if not world.up(node_id):
            world.restart(node_id)
    world.trace.record(world.now, "heal", None, "faults stop: links healed, nodes restarted, no loss")


# ----- 1. progress (RAFT-LIVENESS) ------------------------------------------------------------

def _bound(cluster: RaftCluster) -> tuple[int, str]:
    logs = [cluster.world.nodes[n].log.all() for n in cluster.ids if cluster.world.up(n)]
    longest = max(len(log) for log in logs)
    terms = len({entry.term for log in logs for entry in log})
    per_message = cluster.options.max_entries
    ticks = liveness_bound_ticks(_timeout(cluster), longest, terms, per_message)
    return ticks, (f"20 election timeouts + 2 x (ceil({longest + 1} entries / {per_message} a message) + "
                   f"{terms} terms)")


def _progress(cluster: RaftCluster, elections: _Elections | None = None, marker: str = CONVERGE_MARKER
              ) -> LivenessOutcome:
    """Tick until a leader has a new entry applied on every live server, within the bound."""
    bound, formula = _bound(cluster)
    world = cluster.world
    leader, index, term = None, None, None
    for _ in range(bound):
        world.tick()
        if elections is not None:
            elections.sample()
        current = _current_leader(cluster)
        if current is not None and (index is None or world.nodes[current].term != term):
            node = world.nodes[current]
            output, accepted = node.propose(marker)
            world.apply(current, output)
            if accepted is not None:
                leader, index, term = current, accepted, node.term
        if index is not None and not _missing(cluster, index, term, marker):
            return LivenessOutcome(bound, leader, index, (), formula)
    missing = _missing(cluster, index, term, marker) if index else tuple(cluster.ids)
    return LivenessOutcome(bound, leader, index, missing, formula)


def _current_leader(cluster: RaftCluster) -> str | None:
    live = [cluster.world.nodes[n] for n in cluster.ids if cluster.world.up(n)]
    top_term = max(node.term for node in live)
    leaders = [node.id for node in live if node.role == "leader" and node.term == top_term]
    return leaders[0] if leaders else None


def _missing(cluster: RaftCluster, index: int, term: int, marker: str) -> tuple[str, ...]:
    """Live servers that have not applied ``marker`` at ``index``."""
    entry = Entry(term, marker)
    return tuple(node_id for node_id in cluster.ids if cluster.world.up(node_id)
                 and not _has_applied(cluster.world.nodes[node_id], index, entry))


def _has_applied(node: RaftNode, index: int, entry: Entry) -> bool:
    return node.applied_index >= index and node.log.last_index >= index and node.log.entry(index) == entry


# ----- 2. and 3. a leader that must stay (RAFT-LEADER-STABLE, RAFT-PREVOTE-NO-DISRUPTION) -------

def _watch_leader(cluster: RaftCluster, leader: str, elections: _Elections | None = None,
                  isolated: str | None = None) -> LeaderWatch:
    """Tick a window of STABLE_WINDOW_TIMEOUTS timeouts; who led at the end, and (with
    ``elections``) who started an election after every server had heard from ``leader``."""
    world = cluster.world
    term, ticks = world.nodes[leader].term, STABLE_WINDOW_TIMEOUTS * _timeout(cluster)
    for _ in range(ticks):
        world.tick()
        if elections is not None:
            elections.sample()
    after = _current_leader(cluster)
    top_term = max(world.nodes[n].term for n in cluster.ids)
    campaigners = elections.started_since(leader, term) if elections is not None else ()
    return LeaderWatch(leader, term, ticks, after, top_term, campaigners, isolated)


# ----- 2b. a minority down (RAFT-LIVENESS) ------------------------------------------------------

def _minority_down(cluster: RaftCluster, leader: str) -> LivenessOutcome:
    """Crash as many followers as a majority can spare: the rest must still commit and apply a new
    entry in time. Then bring them back (they catch up in the probes that follow)."""
    world = cluster.world
    followers = [n for n in cluster.ids if n != leader]
    down = followers[len(followers) - (len(cluster.ids) - 1) // 2:]
    for node_id in down:
        world.crash(node_id)
    world.trace.record(world.now, "crash", None, f"availability probe: {', '.join(down)} down, a majority up")
    outcome = _progress(cluster, marker=MINORITY_MARKER)
    for node_id in down:
        world.restart(node_id)
    return outcome


def _rejoin_follower(cluster: RaftCluster, leader: str, misses_entry: bool) -> LeaderWatch:
    """Cut the last follower off long enough to time out, heal, and watch the leader. With
    ``misses_entry`` the others commit an entry it lacks, so no vote, pre-vote or not, can go its
    way; without, its log is as good as theirs and only the leader lease (CheckQuorum: a server
    that heard from the leader within an election timeout ignores a campaign) stops it."""
    follower = [n for n in cluster.ids if n != leader][-1]
    world = cluster.world
    term = world.nodes[leader].term
    _cut(cluster, follower, "PreVote probe: a follower cut off" + ("" if misses_entry else ", missing nothing"))
    if misses_entry:
        output, _ = world.nodes[leader].propose(PREVOTE_PROBE_MARKER)
        world.apply(leader, output)
    for _ in range(PREVOTE_ISOLATION_TIMEOUTS * _timeout(cluster)):
        world.tick()
    world.network.heal()
    world.trace.record(world.now, "heal", None, f"PreVote probe: {follower} rejoins, its timer firing at once")
    world.apply(follower, world.nodes[follower].campaign())  # the worst moment for it to time out
    watch = _watch_leader(cluster, leader, isolated=follower)
    return LeaderWatch(leader, term, watch.window_ticks, watch.leader_after, watch.term_after, (), follower)


# ----- 4. a leader that must go (RAFT-CHECKQUORUM-STEPDOWN) ---------------------------------

def _cut_off_leader(cluster: RaftCluster, leader: str) -> StepDown:
    """The steps before kept ``leader`` leading (or failed): cut it off and count the ticks."""
    world = cluster.world
    term = world.nodes[leader].term
    bound = STEPDOWN_TIMEOUTS * _timeout(cluster)
    _cut(cluster, leader, "CheckQuorum probe: the leader cut off")
    stepped_down_after = None
    for tick in range(1, bound + 1):
        world.tick()
        if world.nodes[leader].role != "leader" or world.nodes[leader].term != term:
            stepped_down_after = tick
            break
    world.network.heal()
    world.trace.record(world.now, "heal", None, "CheckQuorum probe over")
    return StepDown(leader, term, bound, stepped_down_after)


def _cut(cluster: RaftCluster, node_id: str, why: str) -> None:
    world = cluster.world
    world.network.partition([[node_id], [n for n in cluster.ids if n != node_id]])
    world.trace.record(world.now, "partition", None, f"{why}: {node_id} | the rest")
