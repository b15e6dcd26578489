"""The etcd cluster harness: members (a Raft node and a store each) and clients in one
simulated world, driven by scenario commands, with every invariant of spec/kv checked.

Revisions, and how long a member without a leader keeps its watch streams, are checked after
every change of state (each applied entry, on each member). The client-side invariants (watch
guarantees, linearizability, every answer against the etcd model) are checked after every
command, on everything the clients have seen so far. Every command records its scenario line.

A command that finds nothing to do (crash a member that is down, a request to a busy client) is
recorded `maybe` by default, as a search needs; a scenario file makes it an error unless its line
is marked `maybe` (checks/scenario.py, ``Strictness``).
"""

from __future__ import annotations

import attrs

from checks.etcd.observe import Observation
from checks.etcd.requests import build
from checks.scenario import Strictness
from checks.world_commands import WorldCommands
from checks.violation import InvariantViolated, RecordsFindings
from impl.etcd.client import EtcdClient
from impl.etcd.client_log import ClientLog
from impl.etcd.keyspace import ALL_KEYS, prefix_end
from impl.etcd.member import EtcdMember
from impl.etcd.parts import EtcdParts
from impl.raft.config import RaftConfig
from impl.sim.network import NetworkFaults
from impl.sim.world import World
from spec.kv.invariants import (
    INVARIANTS, KV_REVISIONS, LEASE_EXPIRES, LEASE_EXPIRY_TIMEOUTS, LEASE_REVOKE_COMPLETE, LINEARIZABLE, RESPONSES,
    WATCH_NO_LEADER, EtcdView, LeaseLeft,
)
from spec.kv.responses import Judgement, revoke_problems
from spec.kv.watch import History

__all__ = ["EtcdOptions", "EtcdParts", "EtcdCluster", "InvariantViolated", "SETTLE_TICKS_MAX"]

SETTLE_TICKS_MAX = 150
# Checked after every command, in this order; the other two after every change of state.
# Judged as clients see answers; KV_REVISIONS and WATCH_NO_LEADER as members change, LEASE_EXPIRES
# by the `expire-leases` command.
_CLIENT_INVARIANTS = tuple(inv for inv in INVARIANTS if inv not in (KV_REVISIONS, WATCH_NO_LEADER, LEASE_EXPIRES))


@attrs.frozen
class EtcdOptions:
    members: int = 3
    clients: int = 2
    seed: int = 0
    faults: NetworkFaults = NetworkFaults()
    # etcd runs Raft with CheckQuorum (an isolated leader steps down within an election
    # timeout) and PreVote (--pre-vote defaults to true since 3.5). Without CheckQuorum a
    # deposed leader believes it leads for as long as it is cut off; `no-checkquorum` turns
    # both off, as in etcd before 3.0.
    check_quorum: bool = True

    def raft_config(self) -> RaftConfig:
        return RaftConfig(pre_vote=self.check_quorum, check_quorum=self.check_quorum)

    def line(self) -> str:
        words = [f"cluster {self.members}", f"clients={self.clients}", f"seed={self.seed}"]
        if not self.check_quorum:
            words.append("no-checkquorum")
        if self.faults != NetworkFaults():
            words.append(self.faults.describe())
        return " ".join(words)


class EtcdCluster(WorldCommands, RecordsFindings, Strictness):
    def __init__(self, options: EtcdOptions, parts: EtcdParts = EtcdParts()) -> None:
        self.options = options
        self.parts = parts
        self.member_ids = tuple(f"n{i}" for i in range(1, options.members + 1))
        self.client_ids = tuple(f"c{i}" for i in range(1, options.clients + 1))
        self.log = ClientLog()
        self.world = World(self.member_ids + self.client_ids, self._build, options.seed, options.faults)
        self.observation = Observation(self.member_ids)
        self.lines: list[str] = [options.line()]
        self.violation: InvariantViolated | None = None
        self._values = 0
        self._revokes_checked = 0  # log entries LEASE-REVOKE-COMPLETE has looked at
        self.world.observers.append(self._observe)

    def _build(self, node_id: str, ids: tuple[str, ...], disk, rng):
        if node_id.startswith("c"):
            return self.parts.client(node_id, self.member_ids, self.log)
        return self.parts.member(node_id, self.member_ids, disk, rng, raft_config=self.options.raft_config())

    @property
    def ids(self) -> tuple[str, ...]:
        return self.member_ids + self.client_ids

    def member(self, node_id: str) -> EtcdMember | None:
        return self.world.nodes[node_id]

    def client(self, client_id: str) -> EtcdClient:
        return self.world.nodes[client_id]

    # ----- checking -----------------------------------------------------------------------

    def _observe(self) -> None:
        if self.violation is not None:
            return
        leaderless = self.observation.leaderless(self.world)
        if leaderless:
            problems = WATCH_NO_LEADER.predicate(EtcdView(History(()), leaderless=leaderless))
            if problems:
                self.fail(WATCH_NO_LEADER, problems[0])
        steps = self.observation.collect_applied(self.world, len(self.log.history))
        if not steps:
            return  # called after every change of state: most apply nothing
        problems = KV_REVISIONS.predicate(EtcdView(History(()), applied=steps))
        if problems:
            self.fail(KV_REVISIONS, problems[0])

    def check_clients(self) -> None:
        """Every client-side invariant, on what the clients have seen so far."""
        if self.violation is not None:
            return
        view = self.observation.view(self.log)
        if view is None:
            return  # nothing new since the last check
        judgement: list[Judgement] = []  # computed once, for the two invariants that use it
        for invariant in _CLIENT_INVARIANTS:
            problems = self._problems(invariant, view, judgement)
            if problems:
                self.fail(invariant, problems[0])

    def _problems(self, invariant, view: EtcdView, judgement: list[Judgement]) -> list[str]:
        """The invariants over the whole history share the observation's incremental model
        replay; the others are their predicates."""
        if (invariant is LINEARIZABLE or invariant is RESPONSES) and not judgement:
            judgement.append(self.observation.judgement(self.log))
        if invariant is LINEARIZABLE:
            return self.observation.linearizability(self.log) + judgement[0].stale
        if invariant is RESPONSES:
            return judgement[0].mismatches
        if invariant is LEASE_REVOKE_COMPLETE:
            entries, since = tuple(self.observation.entries), self._revokes_checked
            self._revokes_checked = len(entries)
            return revoke_problems(entries, self.observation.judge.replay, since)
        return invariant.predicate(view)

    def _run(self, line: str, action) -> None:
        self._record(line)
        action()
        self.check_clients()

    # ----- cluster commands ---------------------------------------------------------------

    def settle(self) -> None:
        """Tick until every client has its answer and every watch has caught up (bounded)."""
        def run() -> None:
            for _ in range(SETTLE_TICKS_MAX):
                if self._settled():
                    return
                self.world.tick()
        self._run("settle", run)

    def expire_leases(self) -> None:
        """`expire-leases`: with nobody keeping leases alive, tick past every TTL plus the bound
        of LEASE-EXPIRES, then demand that the leader holds no lease any more. The count starts
        once nothing is pending: no client waits for an answer and every member's log ends at
        the leader's commit. A grant still in some log (a deposed leader's, say) may commit
        later, and its lease's TTL runs from then, not from when this command began."""
        def run() -> None:
            if self._leader() is not None:
                self._quiesce()
            leader = self._leader()
            if leader is None:  # the liveness of leases is judged on a healthy cluster only
                self.no_effect("no member leads: leases expire on a healthy cluster only")
                return
            timeout = leader.raft.config.election_timeout_ticks
            leases = leader.store.leases().ids
            ttl = max((leader.store.lease_time_to_live(i).granted_ttl for i in leases), default=0)
            ticks = ttl + LEASE_EXPIRY_TIMEOUTS * timeout
            for _ in range(ticks):
                self.world.tick()
            left = self._leases_left(ticks)
            problems = LEASE_EXPIRES.predicate(left)
            if problems:
                self.fail(LEASE_EXPIRES, problems[0])
        self._run("expire-leases", run)

    def _quiesce(self) -> None:
        """Tick (bounded) until no client waits and no member holds an entry the leader has not
        committed: then nothing already sent can still change the leases. A leader change on
        the way is waited through."""
        for _ in range(SETTLE_TICKS_MAX):
            leader = self._leader()
            members = [m for m in map(self.member, self.member_ids) if m is not None]
            if leader is not None and all(self.client(c).idle for c in self.client_ids) and all(
                    m.raft.log.last_index <= leader.raft.commit_index for m in members):
                return
            self.world.tick()

    def _leader(self) -> EtcdMember | None:
        leaders = [m for m in map(self.member, self.member_ids) if m is not None and m.is_leader]
        return leaders[-1] if leaders else None

    def _leases_left(self, ticks: int) -> tuple[LeaseLeft, ...]:
        """The leases no revoke reached: alive in the model of the committed log (granted and
        not revoked since). This invariant is about the revoke being proposed and committed; a
        store that keeps a lease its log revoked answers wrongly when asked, which is
        KV-RESPONSE-MATCHES-MODEL's to report."""
        if self._leader() is None:
            return ()
        replay = self.observation.judge.replay
        replay.extend(tuple(self.observation.entries))
        state = replay.states[-1]
        return tuple(LeaseLeft(lease_id, ttl, ticks, len(state.attached(lease_id))) for lease_id, ttl in state.leases)

    def _settled(self) -> bool:
        if not all(self.client(c).idle for c in self.client_ids):
            return False
        revision = max((m.store.revision for m in map(self.member, self.member_ids) if m is not None), default=0)
        return all(w.ended or (w.physical is not None and w.caught_up_to >= revision)
                   for c in self.client_ids for w in self.client(c).watches.values())

    # ----- client commands ----------------------------------------------------------------

    def next_value(self, client_id: str) -> str:
        self._values += 1
        return f"{client_id}v{self._values}"

    def request(self, client_id: str, verb: str, args: tuple[str, ...], via: str | None = None) -> None:
        """``C VERB ARGS [via=nX]``: the client starts a request. It has one request at a time
        (as EtcdClient does): one to a busy client finds nothing to do, and so does `progress`
        with no watch stream open to ask on."""
        line = " ".join([client_id, verb, *args] + ([f"via={via}"] if via else []))

        def run() -> None:
            client = self.client(client_id)
            if verb == "watch":
                self.world.apply(client_id, _watch(client, args, via))
            elif verb == "progress":
                self._progress(client)
            elif not client.idle:
                call = client.current
                self.no_effect(f"{client_id} is busy: its request #{call.request_id} to {call.target} "
                               f"has no answer yet (one request at a time)")
            else:
                self.world.trace.record(self.world.now, "invoke", client_id, " ".join([verb, *args]))
                self.world.apply(client_id, _operation(client, verb, args, via))
        self._run(line, run)

    def _progress(self, client: EtcdClient) -> None:
        if not any(w.physical is not None for w in client.watches.values()):
            self.no_effect(f"{client.id} has no watch stream open to ask for progress")
            return
        self.world.apply(client.id, client.request_progress())


def _b(text: str) -> bytes:
    return text.encode()


def _operation(client: EtcdClient, verb: str, args: tuple[str, ...], via: str | None):
    built = build(client.id, verb, args, client.lease_id)
    return client.send(built.op, built.parts, built.checked, member=via)


def _watch(client: EtcdClient, args: tuple[str, ...], via: str | None):
    """``watch KEY [prefix | end=END | from-key] [from=R] [prev-kv]``"""
    key = _b(args[0])
    end = next((_b(w[4:]) for w in args[1:] if w.startswith("end=")), b"")
    range_end = prefix_end(key) if "prefix" in args[1:] else ALL_KEYS if "from-key" in args[1:] else end
    start = next((int(w[5:]) for w in args[1:] if w.startswith("from=")), 0)
    return client.watch(key, range_end, start, "prev-kv" in args[1:], member=via)
