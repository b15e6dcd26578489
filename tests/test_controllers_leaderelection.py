"""Leader election (client-go tools/leaderelection) between two or three electors over an
in-memory Lease store that checks resourceVersion preconditions as the API server does."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, note, strategies as st

from impl.controllers.leaderelection import (CONFLICT, CREATE, GET, OK, UNKNOWN, UPDATE, ElectionConfig,
                                             LeaderElector, micro_timestamp)

ACTIONS_PER_TICK_MAX = 6  # a try is at most get, then update or create; the first renew follows at once


class LeaseStore:
    """One Lease as the API server keeps it: a create of an existing Lease and an update whose
    resourceVersion is not the stored one are conflicts (409)."""

    def __init__(self) -> None:
        self.lease: dict | None = None
        self.revision = 0
        self.writes: list[tuple[int, str, str]] = []  # (tick, writer, holderIdentity written)

    def perform(self, action, now: int, writer: str):
        if action.verb == GET:
            return GET, copy.deepcopy(self.lease)
        if (action.verb == CREATE) != (self.lease is None):
            return CONFLICT, None
        if action.verb == UPDATE and action.resource_version != self.lease["metadata"]["resourceVersion"]:
            return CONFLICT, None
        self.revision += 1
        self.lease = copy.deepcopy(action.body)
        self.lease["metadata"]["resourceVersion"] = str(self.revision)
        self.writes.append((now, writer, action.body["spec"]["holderIdentity"]))
        return OK, copy.deepcopy(self.lease)


class Election:
    """The world around the electors: one global tick; each elector reads its own clock (the
    global tick plus an offset); an elector may be partitioned (its requests do not reach the
    store, or reach it and the answer is lost), paused (not ticked), or slow to hear answers."""

    def __init__(self, names, config: ElectionConfig = ElectionConfig(), offsets=None) -> None:
        self.config = config
        self.store = LeaseStore()
        self.electors = {name: LeaderElector(name, config) for name in names}
        self.offsets = dict(offsets or {})
        self.cut: dict[str, str] = {}  # name -> "requests" | "answers": what the partition loses
        self.paused: set[str] = set()
        self.answer_delay: dict[str, int] = {}
        self.pending: dict[str, tuple[int, str, dict | None]] = {}
        self.leaders: list[list[str]] = []  # per global tick, who believes it leads
        self.now = 0

    def clock(self, name: str) -> int:
        return self.now + self.offsets.get(name, 0)

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            self.step()

    def step(self) -> None:
        for name in sorted(self.electors):
            if name not in self.paused:
                self._turn(name)
        self.leaders.append(self.believed_leaders())
        self.now += 1

    def believed_leaders(self) -> list[str]:
        return sorted(name for name, elector in self.electors.items() if elector.is_leader(self.clock(name)))

    def _turn(self, name: str) -> None:
        elector = self.electors[name]
        if name in self.pending and self.pending[name][0] <= self.now:
            _, outcome, lease = self.pending.pop(name)
            self._answer(elector, outcome, lease, self.clock(name))
        for _ in range(ACTIONS_PER_TICK_MAX):
            action = elector.tick(self.clock(name))
            if action is None:
                return
            outcome, lease = self._perform(name, action)
            if self.answer_delay.get(name, 0):
                self.pending[name] = (self.now + self.answer_delay[name], outcome, lease)
                return
            self._answer(elector, outcome, lease, self.clock(name))

    def _perform(self, name: str, action):
        if self.cut.get(name) == "requests":
            return UNKNOWN, None
        outcome, lease = self.store.perform(action, self.clock(name), name)
        return (UNKNOWN, None) if self.cut.get(name) == "answers" else (outcome, lease)

    @staticmethod
    def _answer(elector: LeaderElector, outcome: str, lease, now: int) -> None:
        if outcome == GET:
            elector.on_lease(lease, now)
        else:
            elector.on_write_result(outcome, now, lease)

    def first_tick_led_by(self, name: str) -> int:
        return next(tick for tick, leaders in enumerate(self.leaders) if name in leaders)


def answer(elector: LeaderElector, store: LeaseStore, action, now: int) -> None:
    """Perform ``action`` on ``store`` and hand the elector the answer at once."""
    outcome, lease = store.perform(action, now, elector.identity)
    Election._answer(elector, outcome, lease, now)


def overlaps(leaders: list[list[str]]) -> list[int]:
    return [tick for tick, names in enumerate(leaders) if len(names) > 1]


# ----- acquiring and renewing -------------------------------------------------------------------

def test_the_first_candidate_creates_the_lease_and_leads_at_once():
    election = Election(["kcm-a"])
    election.run(1)
    assert election.leaders == [["kcm-a"]]
    lease = election.store.lease
    assert lease["apiVersion"] == "coordination.k8s.io/v1" and lease["kind"] == "Lease"
    assert lease["metadata"] == {"name": "kube-controller-manager", "namespace": "kube-system",
                                 "resourceVersion": "2"}
    assert lease["spec"] == {"holderIdentity": "kcm-a", "leaseDurationSeconds": 15,
                             "acquireTime": "2026-01-01T00:00:00.000000Z",
                             "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 0}
    assert election.electors["kcm-a"].events == [(0, "became leader")]


def test_a_leader_renews_every_retry_period_keeping_acquire_time_and_transitions():
    election = Election(["kcm-a"])
    election.run(21)
    # The create, then renew() starts its first round at once; then a round every 2 ticks.
    assert [tick for tick, _, _ in election.store.writes] == [0, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    spec = election.store.lease["spec"]
    assert spec["renewTime"] == micro_timestamp(20)
    assert spec["acquireTime"] == micro_timestamp(0) and spec["leaseTransitions"] == 0


def test_a_renewed_lease_is_never_taken_over():
    election = Election(["kcm-a", "kcm-b", "kcm-c"])
    election.run(200)
    assert election.leaders == [["kcm-a"]] * 200
    assert {writer for _, writer, _ in election.store.writes} == {"kcm-a"}


def test_a_create_race_is_won_by_one_candidate():
    store = LeaseStore()
    a, b = LeaderElector("kcm-a"), LeaderElector("kcm-b")
    gets = [a.tick(0), b.tick(0)]
    a.on_lease(store.perform(gets[0], 0, "kcm-a")[1], 0)
    b.on_lease(store.perform(gets[1], 0, "kcm-b")[1], 0)
    creates = [a.tick(0), b.tick(0)]
    assert [action.verb for action in creates] == [CREATE, CREATE]
    outcome_a, lease_a = store.perform(creates[0], 0, "kcm-a")
    outcome_b, _ = store.perform(creates[1], 0, "kcm-b")
    assert (outcome_a, outcome_b) == (OK, CONFLICT)  # AlreadyExists
    a.on_write_result(outcome_a, 0, lease_a)
    b.on_write_result(outcome_b, 0)
    assert a.is_leader(0) and not b.is_leader(0)


def test_two_candidates_updating_an_expired_lease_with_one_resource_version_one_wins():
    store = LeaseStore()
    old = LeaderElector("kcm-old")
    answer(old, store, old.tick(0), 0)
    answer(old, store, old.tick(0), 0)
    a, b = LeaderElector("kcm-a"), LeaderElector("kcm-b")
    for now in (1, 16):  # first sight of the record at 1; by 16 it has not changed for 15 ticks
        gets = [a.tick(now), b.tick(now)]
        assert [action.verb for action in gets] == [GET, GET]
        a.on_lease(store.perform(gets[0], now, "kcm-a")[1], now)
        b.on_lease(store.perform(gets[1], now, "kcm-b")[1], now)
    updates = [a.tick(16), b.tick(16)]
    assert updates[0].resource_version == updates[1].resource_version == "1"
    answer(a, store, updates[0], 16)
    answer(b, store, updates[1], 16)
    assert a.is_leader(16) and not b.is_leader(16)
    assert store.lease["spec"]["holderIdentity"] == "kcm-a" and store.lease["spec"]["leaseTransitions"] == 1


# ----- takeover and the renew deadline ----------------------------------------------------------

def test_takeover_waits_the_lease_duration_on_the_takers_own_clock():
    # kcm-b's clock is 5000 ticks ahead: had it compared the Lease's renewTime (written on
    # kcm-a's clock) with its own, the lease would look long expired and it would take it at once.
    election = Election(["kcm-a", "kcm-b"], offsets={"kcm-b": 5000})
    election.run(9)  # kcm-a writes at 0, 2, 4, 6, 8; kcm-b reads after it in each of those ticks
    election.paused.add("kcm-a")  # kcm-a's process freezes (or crashes)
    election.run(30)
    # kcm-b last saw the record change at 8; it may take over from 8 + 15 = 23, and it tries on
    # even ticks, so at 24.
    assert election.first_tick_led_by("kcm-b") == 24
    spec = election.store.lease["spec"]
    assert spec["holderIdentity"] == "kcm-b" and spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == micro_timestamp(24 + 5000), "written on the taker's clock"
    assert overlaps(election.leaders) == []


def test_a_leader_that_cannot_renew_stops_at_the_renew_deadline():
    election = Election(["kcm-a", "kcm-b"])
    election.run(20)  # kcm-a's last renew at 18: its next round starts at 20
    election.cut["kcm-a"] = "requests"
    election.run(20)
    a = election.electors["kcm-a"]
    assert a.events == [(0, "became leader"), (30, "stopped leading: renew deadline passed")]
    assert all("kcm-a" in election.leaders[tick] for tick in range(30)) and "kcm-a" not in election.leaders[30]
    assert a.stopped
    # kcm-b saw the last renew at 18, so takes over at its first try from 33: 34. Nobody leads
    # between 30 and 33: the margin that keeps two leaders apart.
    assert election.first_tick_led_by("kcm-b") == 34
    assert election.leaders[30:34] == [[]] * 4
    assert overlaps(election.leaders) == []


def test_a_leader_whose_renew_answer_was_lost_reads_the_lease_and_renews_again():
    election = Election(["kcm-a"])
    election.run(4)
    election.cut["kcm-a"] = "answers"  # the renew at 4 lands; kcm-a hears nothing back
    election.step()
    del election.cut["kcm-a"]
    election.run(30)
    # At 6 the optimistic update carries a stale resourceVersion and conflicts; kcm-a falls
    # back to reading the Lease and renews in the same try.
    assert [(tick, holder) for tick, _, holder in election.store.writes][3:6] == [(4, "kcm-a"), (6, "kcm-a"),
                                                                                   (8, "kcm-a")]
    assert election.leaders == [["kcm-a"]] * 35


def test_a_stopped_leader_stays_stopped_even_when_the_network_heals():
    election = Election(["kcm-a"])
    election.run(4)
    election.cut["kcm-a"] = "requests"
    election.run(20)
    del election.cut["kcm-a"]
    election.run(40)
    assert election.electors["kcm-a"].stopped and election.leaders[-1] == []


def test_no_fencing_two_instances_believe_they_lead_when_a_renew_answer_comes_late():
    election = Election(["kcm-a", "kcm-b"])
    election.run(20)
    election.answer_delay["kcm-a"] = 6  # kcm-a's renew at 20 lands at once; it hears OK at 26
    election.step()
    election.cut["kcm-a"] = "requests"  # and renews no more after that
    election.run(30)
    # kcm-a: renew OK heard at 26, so its next round starts at 28 and gives up at 38.
    # kcm-b: saw that renew land at 20, so takes over at its first try from 35: 36.
    assert election.first_tick_led_by("kcm-b") == 36
    assert election.electors["kcm-a"].events[-1] == (38, "stopped leading: renew deadline passed")
    assert overlaps(election.leaders) == [36, 37]
    assert election.leaders[36] == ["kcm-a", "kcm-b"]


# ----- releasing and configuration --------------------------------------------------------------

def test_release_on_cancel_lets_a_successor_take_over_without_waiting():
    election = Election(["kcm-a", "kcm-b"], ElectionConfig(release_on_cancel=True))
    election.run(10)
    election.electors["kcm-a"].stop(10)
    election.run(5)
    a = election.electors["kcm-a"]
    assert a.events == [(0, "became leader"), (10, "stopped leading: cancelled"), (10, "released")]
    assert election.first_tick_led_by("kcm-b") == 10  # kcm-b tries on even ticks, after kcm-a
    spec = election.store.lease["spec"]
    assert spec["holderIdentity"] == "kcm-b" and spec["leaseTransitions"] == 1
    assert ("kcm-a", "") in [(writer, holder) for _, writer, holder in election.store.writes]
    assert overlaps(election.leaders) == []


def test_without_release_a_successor_waits_out_the_lease():
    election = Election(["kcm-a", "kcm-b"])
    election.run(10)
    election.electors["kcm-a"].stop(10)
    election.run(20)
    assert election.first_tick_led_by("kcm-b") == 24  # last renew seen at 8


@pytest.mark.parametrize("lease, renew, retry", [(10, 10, 2), (15, 12, 10), (15, 10, 0), (0, 0, 0)])
def test_configurations_client_go_refuses_are_refused(lease, renew, retry):
    with pytest.raises(ValueError):
        ElectionConfig(lease, renew, retry)


def test_an_answer_must_match_the_request_in_flight():
    elector = LeaderElector("kcm-a")
    assert elector.tick(0).verb == GET
    with pytest.raises(AssertionError):
        elector.on_write_result(OK, 0, {})


# ----- faults at random: the margin holds with prompt answers and equal clock rates ------------

FAULT_TICKS = 60
SETTLE_TICKS = 25  # lease duration plus a retry period for the taker to read, plus its next try
NAMES = ("kcm-a", "kcm-b", "kcm-c")
FAULTS = st.lists(st.tuples(st.integers(0, FAULT_TICKS - 1), st.sampled_from(NAMES),
                            st.sampled_from(["lose requests", "lose answers", "heal", "pause", "resume", "stop"])),
                  max_size=14)


def apply_fault(election: Election, name: str, fault: str) -> None:
    current = next(key for key in sorted(election.electors) if key.split("#")[0] == name)
    if fault.startswith("lose"):
        election.cut[current] = fault.split()[1]
    elif fault == "heal":
        election.cut.pop(current, None)
    elif fault == "pause":
        election.paused.add(current)
    elif fault == "resume":
        election.paused.discard(current)
    else:
        election.electors[current].stop(election.clock(current))


def restart_stopped(election: Election) -> None:
    """kube-controller-manager exits when it stops leading; it comes back with a new identity."""
    for name in sorted(election.electors):
        if election.electors[name].stopped and name not in election.paused:
            base, _, generation = name.partition("#")
            renamed = f"{base}#{int(generation or 1) + 1}"
            del election.electors[name]
            election.electors[renamed] = LeaderElector(renamed, election.config)
            election.offsets[renamed] = election.offsets.pop(name, 0)
            if name in election.cut:
                election.cut[renamed] = election.cut.pop(name)


@given(faults=FAULTS, offsets=st.lists(st.integers(-1000, 1000), min_size=3, max_size=3))
def test_with_prompt_answers_and_equal_clock_rates_one_leader_at_most_and_one_after_healing(faults, offsets):
    election = Election(NAMES, offsets=dict(zip(NAMES, offsets)))
    for tick in range(FAULT_TICKS):
        for _, name, fault in [f for f in faults if f[0] == tick]:
            apply_fault(election, name, fault)
        restart_stopped(election)
        election.step()
    election.cut.clear()
    election.paused.clear()
    for _ in range(SETTLE_TICKS + 20):
        restart_stopped(election)
        election.step()
    note(f"leaders by tick: {election.leaders}")
    assert overlaps(election.leaders) == []
    assert all(len(names) == 1 for names in election.leaders[-20:]), "someone leads after healing"
    assert len({tuple(names) for names in election.leaders[-20:]}) == 1, "and stays leader"
