"""The etcd state machine: clients issue puts, gets, deletes, txns and watches against any
member while Hypothesis interleaves partitions (of members and clients), crashes, restarts,
compaction and lease expiry. Every request shape of the store is drawn (request_draws.py):
ranged gets and deletes, limit, count-only and keys-only, reads at past and future revisions,
puts with prev_kv, ignore_value and ignore_lease, txns over ranges, compaction at and beyond the
current revision, deletes followed by re-creation, leases granted with an ID of the client's
choosing (also one in use: ErrLeaseExist), keep-alive and time-to-live (with the lease's keys)
of leases alive, expired or revoked, watches of a key, a range, a prefix or from a key on
(tests/test_etcd_request_shapes.py checks that a short search sends every one). The harness
checks revisions after every applied entry and every watch stream and the whole client history
after every step (every answer against the etcd model); the last step heals everything and lets
the clients finish, so that a watch that fell behind must catch up.

Swarm testing, as in the Raft machine: each test case enables a random subset of the fault and
feature kinds, so some cases go deep into watches under crashes and others into reads under
partitions. And, as there, Hypothesis' targeted phase is aimed at rare states
(``aim_at_rare_states``).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis import target
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from checks.etcd.cluster import EtcdCluster, EtcdOptions
from checks.etcd.request_draws import (
    KEYS, LEASE_KEYS, compact_revision, delete_words, lease_grant_words, put_option_words, range_words, txn_words,
)
from checks.search import MachineCounter
from impl.etcd.messages import CompactionRequest, LeaseRevokeRequest
from impl.etcd.parts import EtcdParts
from impl.sim.network import NetworkFaults

__all__ = ["EtcdMachine", "SWARM_KINDS", "KEYS", "aim_at_rare_states"]

SWARM_KINDS = ("partition", "crash", "watch", "progress", "compact", "lease", "serializable")
REQUEST_TICKS = 4  # enough for a request to commit and come back on a healthy network
LEASE_TTL = 20  # a lease's life: five requests
SHORT_LEASE_TTL = 5
FAILOVER_TICKS_MAX = 60  # for a write's answer, or for a new leader after a crash
ANSWER_TICKS_MAX = 40  # past a client's request timeout (30 ticks): it has its answer or gave up
ANY_MEMBER = 9  # a `via` choice beyond the members: the client picks (its leader guess)

network_faults = st.sampled_from([
    NetworkFaults(),
    NetworkFaults(1, 3),
    NetworkFaults(1, 4, drop_rate=0.03),
])


class EtcdMachine(RuleBasedStateMachine):
    parts: EtcdParts = EtcdParts()
    counter: MachineCounter | None = None

    def __init__(self) -> None:
        super().__init__()
        self.cluster: EtcdCluster | None = None
        self.enabled: frozenset[str] = frozenset()
        if self.counter is not None:
            self.counter.saw(self)

    @initialize(members=st.sampled_from([3, 3, 5]), clients=st.integers(2, 3), seed=st.integers(0, 2**16),
                faults=network_faults, kinds=st.frozensets(st.sampled_from(SWARM_KINDS), min_size=1),
                check_quorum=st.booleans())
    def setup(self, members, clients, seed, faults, kinds, check_quorum) -> None:
        self.cluster = EtcdCluster(EtcdOptions(members, clients, seed, faults, check_quorum), self.parts)
        self.enabled = kinds
        self.cluster.tick(25)  # a leader, usually
        # Some keys to start from, in one txn: ranges, limits, compares and past revisions
        # have something to show from the first step on.
        name = self.cluster.client_ids[0]
        self.cluster.request(name, "txn", tuple(f"{key}={self.cluster.next_value(name)}" for key in KEYS))

    # ----- helpers ------------------------------------------------------------------------

    def _client(self, choice: int) -> str:
        """The chosen client, or the next one that is idle (a busy client ignores a request)."""
        ids = self.cluster.client_ids
        order = [ids[(choice + i) % len(ids)] for i in range(len(ids))]
        return next((c for c in order if self.cluster.client(c).idle), order[0])

    def _idle_client(self, choice: int = 0) -> str:
        """The chosen client or the next idle one, ticking until one is idle (bounded): a
        recipe is a sequence, and its first request to a busy client would be dropped. (The
        lease recipes used to start with the first client, busy in nine runs of ten.)"""
        for _ in range(ANSWER_TICKS_MAX):
            name = self._client(choice)
            if self.cluster.client(name).idle:
                return name
            self.cluster.tick(1)
        return self._client(choice)

    def _await_answer(self, name: str) -> None:
        """A request's usual time, then more ticks until the client has its answer or gave up
        (bounded), so that the recipe's next request is sent."""
        self.cluster.tick(REQUEST_TICKS)
        for _ in range(ANSWER_TICKS_MAX):
            if self.cluster.client(name).idle:
                return
            self.cluster.tick(1)

    def _member(self, choice: int) -> str:
        return self.cluster.member_ids[choice % len(self.cluster.member_ids)]

    def _via(self, choice: int) -> str | None:
        return None if choice >= ANY_MEMBER else self._member(choice)

    def _revision(self) -> int:
        members = [self.cluster.member(m) for m in self.cluster.member_ids]
        return max((m.store.revision for m in members if m is not None), default=1)

    def _leader(self) -> str | None:
        leaders = [m for m in self.cluster.member_ids
                   if self.cluster.member(m) is not None and self.cluster.member(m).is_leader]
        return leaders[-1] if leaders else None

    def _value(self, key: str) -> str | None:
        """The key's value on the leader now (None if absent or no leader)."""
        leader = self._leader()
        if leader is None:
            return None
        found = self.cluster.member(leader).store.range(key.encode()).kvs
        return found[0].value.decode() if found else None

    def _values(self) -> tuple[str, ...]:
        return tuple(v for v in (self._value(k) for k in KEYS) if v is not None)

    def _leases_in_use(self) -> tuple[int, ...]:
        """The IDs of the leases the leader holds now (none without a leader)."""
        leader = self._leader()
        return tuple(sorted(self.cluster.member(leader).store.leases().ids)) if leader is not None else ()

    # ----- time ---------------------------------------------------------------------------

    @rule(count=st.sampled_from([1, 2, 3, 5, 10, 20, 40]))  # 20 and 40: long enough for an election
    def tick(self, count: int) -> None:
        self.cluster.tick(count)

    @rule()
    def settle(self) -> None:
        self.cluster.settle()

    # ----- requests -----------------------------------------------------------------------

    @rule(client=st.integers(0, 2), key=st.sampled_from(KEYS), via=st.integers(0, ANY_MEMBER), data=st.data())
    def get(self, client: int, key: str, via: int, data) -> None:
        """A get of one key at the current revision, or (half the time) a range, maybe with a
        limit, count-only or keys-only, maybe at a past or future revision."""
        words = data.draw(range_words(self._revision())) if data.draw(st.booleans()) else [key]
        self.cluster.request(self._client(client), "get", tuple(words), self._via(via))

    @precondition(lambda self: "serializable" in self.enabled)
    @rule(client=st.integers(0, 2), key=st.sampled_from(KEYS), via=st.integers(0, 4))
    def get_serializable(self, client: int, key: str, via: int) -> None:
        self.cluster.request(self._client(client), "get", (key, "serializable"), self._member(via))

    @rule(client=st.integers(0, 2), key=st.sampled_from(KEYS), via=st.integers(0, ANY_MEMBER), data=st.data())
    def put(self, client: int, key: str, via: int, data) -> None:
        """A put of a new value, or (half the time) a put or lease-put with prev_kv,
        ignore_value or ignore_lease."""
        name = self._client(client)
        verb, words = "put", [key, self.cluster.next_value(name)]
        if data.draw(st.booleans()):
            verb, words = data.draw(put_option_words(self.cluster.next_value(name)))
        self.cluster.request(name, verb, tuple(words), self._via(via))

    @rule(client=st.integers(0, 2), key=st.sampled_from(KEYS), via=st.integers(0, ANY_MEMBER), data=st.data(),
          shape=st.sampled_from(["key", "key", "range", "recreate"]))
    def delete(self, client: int, key: str, via: int, data, shape: str) -> None:
        """A delete of one key, of a range (maybe with prev_kv), or of a key then written
        again and read: its version must start over at 1 and its create_revision move on
        (maybe read as of before the delete too)."""
        if shape == "recreate":
            self._delete_and_recreate(self._idle_client(client), key, data.draw(st.booleans()))
            return
        words = data.draw(delete_words()) if shape == "range" else [key]
        self.cluster.request(self._client(client), "delete", tuple(words), self._via(via))

    def _delete_and_recreate(self, name: str, key: str, read_before: bool) -> None:
        self.cluster.request(name, "delete", (key,))
        self._await_answer(name)
        before = self._revision() - 1
        self.cluster.request(name, "put", (key, self.cluster.next_value(name)))
        self._await_answer(name)
        self.cluster.request(name, "get", (key, f"rev={max(1, before)}") if read_before else (key,))

    @rule(client=st.integers(0, 2), key=st.sampled_from(KEYS), via=st.integers(0, ANY_MEMBER))
    def cas(self, client: int, key: str, via: int) -> None:
        """Compare-and-set from the value the leader holds now: usually succeeds, unless a
        concurrent write got in first."""
        name = self._client(client)
        current = self._value(key)
        self.cluster.request(name, "cas", (key, current or "-", self.cluster.next_value(name)), self._via(via))

    @rule(client=st.integers(0, 2), keys=st.lists(st.sampled_from(KEYS), min_size=2, max_size=3, unique=True),
          via=st.integers(0, ANY_MEMBER), data=st.data())
    def txn(self, client: int, keys: list[str], via: int, data) -> None:
        """Puts of several keys in one txn, or a txn over ranges: compares on keys or a
        prefix, gets, puts and deletes in either branch."""
        name = self._client(client)
        if data.draw(st.integers(0, 2)) > 0:
            words = data.draw(txn_words(self._revision(), self._values(), self.cluster.next_value(name)))
            self.cluster.request(name, "txn", tuple(words), self._via(via))
        else:
            self.cluster.request(name, "txn", tuple(f"{k}={self.cluster.next_value(name)}" for k in keys))

    # ----- watches, compaction, leases ----------------------------------------------------

    @precondition(lambda self: "watch" in self.enabled)
    @rule(client=st.integers(0, 2), span=st.sampled_from(["prefix", "prefix", "key", "from-key"]),
          key=st.sampled_from(KEYS), back=st.sampled_from([None, 0, 1, 3, 100]), prev_kv=st.booleans(),
          via=st.integers(0, ANY_MEMBER), progress_after=st.sampled_from([None, 1, 2]))
    def watch(self, client: int, span: str, key: str, back: int | None, prev_kv: bool, via: int,
              progress_after: int | None) -> None:
        """A watch of the prefix, of a key (of [k/a, k/c) for k/c) or of every key from one on
        (range_end "\\0"), maybe from the past; maybe followed at once by a progress request, as
        the API server's watch cache asks for one to serve a consistent list from its cache."""
        words = _watch_span(span, key)
        if back is not None:
            words.append(f"from={max(1, self._revision() - back)}")
        if prev_kv:
            words.append("prev-kv")
        name = self._client(client)
        self.cluster.request(name, "watch", tuple(words), self._via(via))
        if progress_after is not None and "progress" in self.enabled:
            self.cluster.tick(progress_after)
            self.cluster.request(name, "progress", ())

    @precondition(lambda self: "progress" in self.enabled)
    @rule(client=st.integers(0, 2))
    def progress(self, client: int) -> None:
        self.cluster.request(self._client(client), "progress", ())

    @precondition(lambda self: "compact" in self.enabled)
    @rule(client=st.integers(0, 2), data=st.data())
    def compact(self, client: int, data) -> None:
        """At the current revision or behind it, at or below the last compaction
        (ErrCompacted), or beyond the current revision (ErrFutureRev)."""
        revision = compact_revision(data.draw, self._revision())
        self.cluster.request(self._client(client), "compact", (str(revision),))

    @precondition(lambda self: "compact" in self.enabled and "watch" in self.enabled)
    @rule(client=st.integers(0, 2), via=st.integers(0, ANY_MEMBER))
    def relist_after_compaction(self, client: int, via: int) -> None:
        """What an informer does after its watch broke: watch again from an old revision, here
        one the store has just compacted (the API server answers 410 Gone; etcd cancels)."""
        name = self._client(client)
        self.cluster.request(name, "compact", (str(self._revision()),))
        self.cluster.settle()
        self.cluster.request(name, "watch", ("k/", "prefix", "from=1"), self._via(via))

    @precondition(lambda self: "lease" in self.enabled)
    @rule(client=st.integers(0, 2), key=st.sampled_from(LEASE_KEYS), data=st.data(),
          action=st.sampled_from(["lease-grant", "lease-put", "keep-alive", "revoke", "time-to-live", "life", "life"]))
    def lease(self, client: int, action: str, key: str, data) -> None:
        """One lease request of the client's lease, or (two times in seven) a lease's whole life.
        A grant names its ID half the time (maybe one in use); time-to-live asks for the
        attached keys half the time."""
        if action == "life":
            self._lease_life(self._idle_client(client), key, data)
            return
        name = self._client(client)
        if action == "lease-grant":
            args = tuple(data.draw(lease_grant_words(LEASE_TTL, self._leases_in_use())))
        elif action == "lease-put":
            args = (key, self.cluster.next_value(name))
        else:
            args = ("keys",) if action == "time-to-live" and data.draw(st.booleans()) else ()
        self.cluster.request(name, action, args)

    def _lease_life(self, name: str, key: str, data) -> None:
        """Grant (half the time naming the ID, and then granting it again, as a client that
        names its leases retries a grant whose answer it lost: ErrLeaseExist), attach a key
        (maybe write it again under the lease, as a registration is refreshed, or keep its lease
        or value while writing it), ask about the live lease, let it expire (or revoke it), then
        keep it alive or ask its time to live again: "lease not found" or TTL -1, and the key is
        gone. (Which keys a lease holds is judged where it matters, when it ends:
        LEASE-REVOKE-COMPLETE. Asked here, after the refresh, time-to-live with keys would report
        the catalog's lease-attach-skipped-on-update first, and that invariant would have no bug
        the search proves it finds; the lease rule's own time-to-live asks for the keys.)"""
        refresh = data.draw(st.sampled_from([None, ("put", "ignore-lease"), ("lease-put", "ignore-value"),
                                             ("delete", "recreate")]))
        grant = ("lease-grant", tuple(data.draw(lease_grant_words(LEASE_TTL, self._leases_in_use()))))
        steps = [grant, grant] if len(grant[1]) > 1 else [grant]
        steps += [("lease-put", (key, self.cluster.next_value(name))) for _ in range(data.draw(st.integers(1, 2)))]
        if refresh == ("delete", "recreate"):  # deleted and written again without the lease: no longer its key
            steps += [("delete", (key,)), ("put", (key, self.cluster.next_value(name)))]
        elif refresh is not None:
            verb, flag = refresh
            steps.append((verb, (key, flag) if flag == "ignore-value" else (key, self.cluster.next_value(name), flag)))
        steps.append((data.draw(st.sampled_from(["keep-alive", "time-to-live"])), ()))
        revoke = data.draw(st.sampled_from([True, True, False]))
        for verb, args in steps + ([("revoke", ())] if revoke else []):
            self.cluster.request(name, verb, args)
            self._await_answer(name)
        if not revoke:  # past the deadline the last keep-alive set, and the revoke's commit
            self.cluster.tick(LEASE_TTL + 2 * REQUEST_TICKS)
        self.cluster.request(name, data.draw(st.sampled_from(["keep-alive", "time-to-live"])), ())
        self._await_answer(name)
        self.cluster.request(name, "get", (key,))

    # ----- faults -------------------------------------------------------------------------

    @precondition(lambda self: "partition" in self.enabled)
    @rule(mask=st.integers(1, 254))
    def partition(self, mask: int) -> None:
        ids = self.cluster.ids
        side = [n for i, n in enumerate(ids) if mask >> i & 1]
        rest = [n for n in ids if n not in side]
        if side and rest:
            self.cluster.partition([side, rest])

    @precondition(lambda self: "partition" in self.enabled and self._leader() is not None)
    @rule(clients_with_it=st.integers(0, 7))
    def isolate_leader(self, clients_with_it: int) -> None:
        """Cut the leader off with some clients: it keeps believing it leads for a while."""
        leader = self._leader()
        side = [leader] + [c for i, c in enumerate(self.cluster.client_ids) if clients_with_it >> i & 1]
        self.cluster.partition([side, [n for n in self.cluster.ids if n not in side]])

    @precondition(lambda self: "partition" in self.enabled and self._leader() is not None)
    @rule(key=st.sampled_from(KEYS), wait=st.sampled_from([10, 20, 30]),
          ask=st.sampled_from(["get", "get", "get", "keep-alive", "time-to-live"]))
    def read_from_deposed_leader(self, key: str, wait: int, ask: str) -> None:
        """Jepsen's stale-read recipe: cut the leader off with the first client, let the
        majority elect a new leader and take a write, then read through the old leader. Or
        etcd issue #15247's, for a lease: the client's lease, the majority's new leader lets it
        expire, then the client asks the old leader about it."""
        reader = self._idle_client()
        old = self._leader()
        if old is None:  # lost while the client finished its last request
            return
        if ask != "get":
            self.cluster.request(reader, "lease-grant", (str(SHORT_LEASE_TTL),), old)
            self.cluster.tick(REQUEST_TICKS)
            wait = SHORT_LEASE_TTL + 30  # an election, its extension of deadlines, the expiry
        self.cluster.partition([[old, reader], [n for n in self.cluster.ids if n not in (old, reader)]])
        self.cluster.tick(wait)
        new = next((m for m in self.cluster.member_ids if m != old and self.cluster.member(m) is not None
                    and self.cluster.member(m).is_leader), None)
        writer = next(c for c in self.cluster.client_ids if c != reader)
        self.cluster.request(writer, "put", (key, self.cluster.next_value(writer)), new)
        self.cluster.tick(5)
        self.cluster.request(reader, ask, (key,) if ask == "get" else (), old)

    @precondition(lambda self: "crash" in self.enabled and self._leader() is not None)
    @rule(key=st.sampled_from(KEYS))
    def read_after_failover(self, key: str) -> None:
        """etcd #7331's recipe: a write is acknowledged, its leader dies before the others learn
        it was committed, and a client reads at once from the member that takes over: a new leader
        must commit an entry of its own term before it serves a read, or it answers from before
        the write."""
        writer = self._idle_client(1)
        old, reader = self._leader(), next(c for c in self.cluster.client_ids if c != writer)
        if old is None:
            return
        self.cluster.request(writer, "put", (key, self.cluster.next_value(writer)), old)
        for _ in range(FAILOVER_TICKS_MAX):
            if self.cluster.client(writer).idle:
                break
            self.cluster.tick(1)
        self.cluster.crash(old)
        self.cluster.request(reader, "get", (key,), self._wait_for_leader())

    @precondition(lambda self: {"partition", "crash"} <= self.enabled and self._leader() is not None)
    @rule()
    def lease_expires_while_leadership_bounces(self) -> None:
        """etcd #9935 and #10686's recipe: a lease expires while its leader is cut off, so the
        revoke it proposes cannot commit; the majority elects another leader; the old leader
        rejoins and, when the new one dies, leads again. It must propose the revoke again (its
        first one was lost with its term), or the lease and its keys outlive their TTL for good:
        LEASE-EXPIRES, judged at the end of the run."""
        client = self._idle_client()
        old = self._leader()
        if old is None:
            return
        self.cluster.request(client, "lease-grant", (str(SHORT_LEASE_TTL),), old)
        self.cluster.tick(REQUEST_TICKS)
        self.cluster.partition([[old], [n for n in self.cluster.ids if n != old]])
        self.cluster.tick(SHORT_LEASE_TTL + 1)  # past the deadline: the cut-off leader proposes the revoke
        new = self._wait_for_leader(other_than=old)
        self.cluster.heal()
        self.cluster.tick(REQUEST_TICKS)  # the old leader learns the new term and catches up
        if new is None:
            return
        self.cluster.crash(new)
        self.cluster.tick(self.cluster.member(old).raft.config.election_timeout_ticks)  # leases of the dead leader lapse
        self.cluster.campaign(old)
        self._wait_for_leader()
        self.cluster.restart(new)
        # Past the deadline a new leader sets (TTL and an election timeout), the client asks:
        # "lease not found" (a revoke that left the lease is a wrong answer here, at once).
        self.cluster.tick(SHORT_LEASE_TTL + 2 * self.cluster.member(old).raft.config.election_timeout_ticks)
        self.cluster.request(client, "time-to-live", ())

    def _wait_for_leader(self, other_than: str | None = None) -> str | None:
        """Tick until a member (not ``other_than``, which may still believe it leads) leads."""
        for _ in range(FAILOVER_TICKS_MAX):
            leader = next((m for m in reversed(self.cluster.member_ids) if m != other_than
                           and self.cluster.member(m) is not None and self.cluster.member(m).is_leader), None)
            if leader is not None:
                return leader
            self.cluster.tick(1)
        return None

    @precondition(lambda self: "partition" in self.enabled and self.cluster.world.network.blocked)
    @rule()
    def heal(self) -> None:
        self.cluster.heal()

    @precondition(lambda self: "crash" in self.enabled)
    @rule(member=st.integers(0, 4))
    def crash(self, member: int) -> None:
        self.cluster.crash(self._member(member))

    @precondition(lambda self: "crash" in self.enabled)
    @rule(member=st.integers(0, 4))
    def restart(self, member: int) -> None:
        self.cluster.restart(self._member(member))

    # ----- the end: everything heals and the clients catch up -----------------------------

    def teardown(self) -> None:
        if self.cluster is None or self.cluster.violation is not None:
            return
        aim_at_rare_states(self.cluster)  # the run as drawn, before the healing end adds to it
        self.cluster.heal()
        for member in self.cluster.member_ids:
            self.cluster.restart(member)
        self.cluster.settle()
        for client in self.cluster.client_ids:
            self.cluster.request(client, "progress", ())
        self.cluster.settle()
        self.cluster.expire_leases()


def _watch_span(span: str, key: str) -> list[str]:
    if span == "prefix":
        return ["k/", "prefix"]
    if span == "from-key":
        return [key, "from-key"]
    return [key] if key != "k/c" else ["k/a", "end=k/c"]


def aim_at_rare_states(cluster: EtcdCluster) -> None:
    """Hypothesis' targeted search, as in the Raft machine (checks/raft/machine.py): each score
    is maximized over the test cases, so the search keeps mutating the runs that went furthest
    into states random walks rarely reach, where the store's bugs live: many terms and leader
    changes (leases promoted, proposals replaced), reads a follower forwarded to the leader for
    a read index, watches resumed on another member, compactions, and leases the lessor expired.
    Each is read off what the run already keeps (counters, the trace, the client log, the
    committed log), once per test case."""
    members = [m for m in map(cluster.member, cluster.member_ids) if m is not None]
    target(float(max((m.raft.term for m in members), default=0)), label="highest term")
    target(float(_leaders_elected(cluster)), label="leader changes")
    target(float(cluster.world.counts.by_outcome["sent"]["ReadIndexRequest"]), label="reads sent for a read index")
    target(float(_watches_moved(cluster)), label="watch streams resumed on another member")
    entries = cluster.observation.entries
    target(float(sum(1 for e in entries if isinstance(e.request, CompactionRequest) and "error" not in e.answer)),
           label="compactions")
    target(float(sum(1 for e in entries if isinstance(e.request, LeaseRevokeRequest) and e.origin is None)),
           label="leases expired by the lessor")


def _watches_moved(cluster: EtcdCluster) -> int:
    """Members each logical watch moved to after its first, summed. Not the number of streams:
    without a leader a client reopens its watch every few ticks, and the search would chase
    long outages rather than resumptions."""
    members: dict[tuple[str, int], set[str]] = {}
    for record in cluster.log.streams:
        members.setdefault((record.client, record.logical), set()).add(record.member)
    return sum(len(used) - 1 for used in members.values())


def _leaders_elected(cluster: EtcdCluster) -> int:
    """Role changes to leader in the trace (Raft notes each one)."""
    return sum(1 for event in cluster.world.trace.events if event.kind == "role" and "-> leader t" in event.detail)
