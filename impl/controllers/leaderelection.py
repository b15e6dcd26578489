"""client-go's leader election over a coordination.k8s.io/v1 Lease, as a sans-I/O state machine.

Sources: k8s.io/client-go ``tools/leaderelection/leaderelection.go`` (``tryAcquireOrRenew``,
``acquire``, ``renew``, ``release``, ``isLeaseValid``) and ``resourcelock/leaselock.go``;
kube-controller-manager's defaults (``--leader-elect-lease-duration=15s``,
``--leader-elect-renew-deadline=10s``, ``--leader-elect-retry-period=2s``). The facts kept:

- A candidate tries every retry period: it reads the Lease (creating it if there is none) and
  writes itself in as holder, with the Lease's resourceVersion as precondition, unless another
  holder's lease is still valid. Valid means: the record has not changed for less than
  ``leaseDurationSeconds`` *as measured on the candidate's own clock* since it first saw that
  record (``observedTime``). The times written in the Lease are never compared with the reader's
  clock, so skewed clocks do no harm; only clocks running at different rates do.
- Taking the Lease over from another holder adds one to ``leaseTransitions`` and sets
  ``acquireTime``; renewing keeps both and moves ``renewTime``. An empty ``holderIdentity`` (a
  released Lease) may be taken at once.
- A leader renews every retry period. It first writes optimistically from what it last saw; if
  that fails it falls back to reading the Lease. A renew round that has not succeeded within the
  renew deadline ends the leadership: the round starts when leadership begins and then
  ``retry_period`` after each successful renew, so a leader whose last renew succeeded at tick
  ``t`` leads until ``t + retry_period + renew_deadline`` (12 with the defaults).
  kube-controller-manager then exits; here the elector stops for good (``stopped``) and a restart
  is a new elector with a new identity (kube-controller-manager appends a fresh UUID to the host
  name), which waits out the lease like anyone else.
- On stop, a leader configured with ``release_on_cancel`` writes the Lease empty with a duration of
  1 s so that a successor need not wait (kube-controller-manager does not release).

No fencing. Nothing stops an old leader's writes once another has taken over: the API server does
not know who leads. The design keeps the two apart only by timing: a leader stops at most
``retry_period + renew_deadline`` after its last successful renew, a successor takes over no
earlier than ``lease_duration`` after it saw that renew, and the 3 ticks between them are the
margin. Two instances both believe they lead when the margin is eaten: the leader learns of its
renew's success more than 3 ticks after the write landed (a slow response), its clock runs slower
than the successor's, or its process pauses and then acts on what it decided before the pause (a
write already in flight). Besides, a stepped-down leader's requests still in the network land
whenever they land. The tests show the first case tick by tick.

Sans-I/O: ``tick(now)`` answers the one API request the elector wants next (``LeaseAction``:
get, create, or update with the observed resourceVersion as precondition), or ``None``. The owner
performs it and answers with ``on_lease(lease or None, now)`` for a get (``None``: 404) or
``on_write_result(OK | CONFLICT | UNKNOWN, now, lease)`` for a write (``lease``: the object the
server returned on success). ``UNKNOWN`` also answers a get that failed or timed out. Then the
owner calls ``tick(now)`` again: one try may take several requests. ``is_leader(now)`` says
whether the elector's controllers may run. One tick is one second; ``now`` is the elector's own
clock. Deterministic: client-go's retry jitter is random and left out (the world may add it by
when it calls ``tick``).

Times in the Lease are ``MicroTime``: RFC 3339 with six fractional digits
(``2026-01-01T00:00:05.000000Z``), so they are ``objectmeta.timestamp`` with the microseconds
added; ``timestamp`` itself writes ``metav1.Time``, whole seconds.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs

from impl.apiserver.objectmeta import timestamp

__all__ = ["LeaderElector", "ElectionConfig", "LeaseAction", "micro_timestamp",
           "GET", "CREATE", "UPDATE", "OK", "CONFLICT", "UNKNOWN", "LEASE_API_VERSION", "JITTER_FACTOR_TENTHS"]

GET, CREATE, UPDATE = "get", "create", "update"
OK, CONFLICT, UNKNOWN = "ok", "conflict", "unknown"
LEASE_API_VERSION = "coordination.k8s.io/v1"
JITTER_FACTOR_TENTHS = 12  # client-go's JitterFactor 1.2: renew deadline must exceed 1.2 retry periods


def micro_timestamp(tick: int) -> str:
    """A tick as a ``metav1.MicroTime``: one tick is one second after ``objectmeta.EPOCH``."""
    return timestamp(tick)[:-1] + ".000000Z"


@attrs.frozen
class ElectionConfig:
    lease_duration_ticks: int = 15
    renew_deadline_ticks: int = 10
    retry_period_ticks: int = 2
    release_on_cancel: bool = False

    def __attrs_post_init__(self) -> None:
        # NewLeaderElector refuses the same configurations.
        if min(self.lease_duration_ticks, self.renew_deadline_ticks, self.retry_period_ticks) < 1:
            raise ValueError("lease duration, renew deadline and retry period must be at least 1 tick")
        if self.lease_duration_ticks <= self.renew_deadline_ticks:
            raise ValueError("leaseDuration must be greater than renewDeadline")
        if self.renew_deadline_ticks * 10 <= self.retry_period_ticks * JITTER_FACTOR_TENTHS:
            raise ValueError("renewDeadline must be greater than retryPeriod*JitterFactor")


@attrs.frozen
class LeaseAction:
    """One request the elector wants: ``body`` is the whole Lease for create and update; an
    update's ``metadata.resourceVersion`` is its precondition."""

    verb: str
    namespace: str
    name: str
    body: dict[str, Any] | None = None

    @property
    def resource_version(self) -> str | None:
        return (self.body or {}).get("metadata", {}).get("resourceVersion")

    def describe(self) -> str:
        spec = (self.body or {}).get("spec", {})
        holder = f" holder={spec.get('holderIdentity')!r}" if self.body else ""
        precondition = f" rv={self.resource_version}" if self.verb == UPDATE else ""
        return f"{self.verb} lease {self.namespace}/{self.name}{holder}{precondition}"


class LeaderElector:
    """One candidate (a kube-controller-manager instance) for one Lease."""

    def __init__(self, identity: str, config: ElectionConfig = ElectionConfig(), *,
                 namespace: str = "kube-system", name: str = "kube-controller-manager") -> None:
        assert identity, "the lock identity must not be empty"
        self.identity = identity
        self.config = config
        self.namespace, self.name = namespace, name
        self.events: list[tuple[int, str]] = []  # (tick, "became leader" | "stopped leading" | ...)
        # What was last seen or written, and when (our clock) the record last changed: the only
        # time the elector trusts.
        self._observed_spec: dict[str, Any] | None = None
        self._observed_tick = 0
        self._lease: dict[str, Any] | None = None  # the object last read or written: its resourceVersion
        self._in_flight: LeaseAction | None = None
        self._abandoned = False  # the in-flight request belongs to a renew round that has ended
        self._next: LeaseAction | None = None  # the next request of a try already under way
        self._optimistic = False  # the in-flight update is the leader's fast path
        self._next_try_tick: int | None = None  # None: at once
        self._leading = False
        self._round_start = 0
        self._stopped = False
        self._releasing = False
        self._release_deadline = 0

    # ----- what the owner reads -------------------------------------------------------------

    def is_leader(self, now: int) -> bool:
        """Whether this instance's controllers run: from acquiring until a renew round misses
        its deadline (or ``stop``), whatever the Lease now says."""
        return self._leading and now < self.deadline_tick

    @property
    def deadline_tick(self) -> int:
        """The tick at which the current renew round gives up."""
        return self._round_start + self.config.renew_deadline_ticks

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def observed_holder(self) -> str:
        """The holder in the record last seen (client-go's ``GetLeader``)."""
        return (self._observed_spec or {}).get("holderIdentity") or ""

    @property
    def in_flight(self) -> LeaseAction | None:
        return self._in_flight

    # ----- ticks and requests ---------------------------------------------------------------

    def tick(self, now: int) -> LeaseAction | None:
        self._check_deadline(now)
        if self._in_flight is not None:
            return None  # one request at a time
        if self._next is not None:
            action, self._next = self._next, None
            return self._send(action)
        if self._stopped or (self._next_try_tick is not None and now < self._next_try_tick):
            return None
        return self._send(self._start_try(now))

    def _send(self, action: LeaseAction) -> LeaseAction:
        self._in_flight = action
        return action

    def _start_try(self, now: int) -> LeaseAction:
        if self._is_holder() and self._lease_valid(now) and self._lease is not None:
            self._optimistic = True  # the fast path: write from what we saw, skip the read
            return self._update(self._record(now, renewing=True, old=self._observed_spec))
        return LeaseAction(GET, self.namespace, self.name)

    def on_lease(self, lease: dict[str, Any] | None, now: int) -> None:
        """The answer to a get: the Lease, or ``None`` when there is none (404)."""
        self._take_answer(GET)
        if self._abandoned:
            self._abandoned = False
        elif self._releasing:
            self._release_with(lease, now)
        elif lease is None:
            self._next = self._create(self._record(now, renewing=False, old=None))
        else:
            self._decide(lease, now)

    def _decide(self, lease: dict[str, Any], now: int) -> None:
        self._lease = lease
        spec = lease.get("spec") or {}
        if spec != self._observed_spec:  # client-go compares the records' JSON
            self._observe(spec, now)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity and self._lease_valid(now):
            self._end_try(False, now)
            return
        self._next = self._update(self._record(now, renewing=holder == self.identity, old=spec))

    def on_write_result(self, outcome: str, now: int, lease: dict[str, Any] | None = None) -> None:
        """The outcome of the request in flight: ``OK`` (with the Lease the server returned),
        ``CONFLICT`` (resourceVersion precondition failed, or AlreadyExists on create) or
        ``UNKNOWN`` (an error, or no answer: the write may or may not have happened)."""
        assert outcome in (OK, CONFLICT, UNKNOWN), f"unknown outcome {outcome!r}"
        action = self._take_answer(None)
        assert outcome == UNKNOWN or action.verb != GET, "a get is answered with on_lease"
        if self._abandoned:
            self._abandoned = False
        elif self._releasing:
            self._release_answered(action, outcome, now)
        elif outcome == OK:
            self._lease = lease
            self._observe(action.body["spec"], now)
            self._end_try(True, now)
        elif self._optimistic and action.verb == UPDATE:
            self._next = LeaseAction(GET, self.namespace, self.name)  # fall back to reading
        else:
            self._end_try(False, now)
        self._optimistic = False

    def _take_answer(self, verb: str | None) -> LeaseAction:
        action = self._in_flight
        assert action is not None, "an answer with no request in flight"
        assert verb is None or action.verb == verb, f"a {verb} answer to a {action.verb} request"
        self._in_flight = None
        return action

    def _end_try(self, success: bool, now: int) -> None:
        retry = self.config.retry_period_ticks
        if success and not self._leading:
            self._leading = True
            self._round_start = self._next_try_tick = now  # renew() starts its first round at once
            self.events.append((now, "became leader"))
        elif success:
            self._round_start = self._next_try_tick = now + retry
        else:
            self._next_try_tick = now + retry

    def _check_deadline(self, now: int) -> None:
        if self._leading and now >= self.deadline_tick:
            self._step_down(now, "stopped leading: renew deadline passed")

    def _step_down(self, now: int, why: str) -> None:
        self._leading = False
        self._stopped = True
        self._next = None
        self._abandoned = self._in_flight is not None  # the round's context is cancelled
        self.events.append((now, why))
        if self.config.release_on_cancel:
            self._releasing = True
            self._release_deadline = now + self.config.renew_deadline_ticks
            self._next = LeaseAction(GET, self.namespace, self.name)

    # ----- the record -----------------------------------------------------------------------

    def _is_holder(self) -> bool:
        return self.observed_holder == self.identity

    def _lease_valid(self, now: int) -> bool:
        duration = int((self._observed_spec or {}).get("leaseDurationSeconds") or 0)
        return self._observed_tick + duration > now

    def _observe(self, spec: dict[str, Any], now: int) -> None:
        self._observed_spec = copy.deepcopy(spec)
        self._observed_tick = now

    def _record(self, now: int, *, renewing: bool, old: dict[str, Any] | None) -> dict[str, Any]:
        """The spec this try writes: a renew keeps acquireTime and leaseTransitions, a takeover
        counts one more transition."""
        stamp = micro_timestamp(now)
        if old is None:  # a new Lease
            return {"holderIdentity": self.identity, "leaseDurationSeconds": self.config.lease_duration_ticks,
                    "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}
        transitions = int(old.get("leaseTransitions") or 0)
        return {"holderIdentity": self.identity, "leaseDurationSeconds": self.config.lease_duration_ticks,
                "acquireTime": old.get("acquireTime", stamp) if renewing else stamp, "renewTime": stamp,
                "leaseTransitions": transitions if renewing else transitions + 1}

    def _create(self, spec: dict[str, Any]) -> LeaseAction:
        body = {"apiVersion": LEASE_API_VERSION, "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
        return LeaseAction(CREATE, self.namespace, self.name, body)

    def _update(self, spec: dict[str, Any]) -> LeaseAction:
        assert self._lease is not None, "an update needs a Lease read or written before"
        body = copy.deepcopy(self._lease)
        body["spec"] = spec
        return LeaseAction(UPDATE, self.namespace, self.name, body)

    # ----- stopping and releasing -------------------------------------------------------------

    def stop(self, now: int) -> None:
        """The owner cancels (shutdown). A leader stops leading; with ``release_on_cancel`` it
        then releases the Lease (the owner keeps calling ``tick`` for that)."""
        if self._stopped:
            return
        if self._leading:
            self._step_down(now, "stopped leading: cancelled")
        else:
            self._stopped = True
            self._next = None
            self._abandoned = self._in_flight is not None

    def _release_with(self, lease: dict[str, Any] | None, now: int) -> None:
        # As client-go's tryRelease: whether we hold it is judged from our own observed record,
        # not from the Lease just read; the write carries the fresh resourceVersion.
        if lease is None or not self._is_holder() or now >= self._release_deadline:
            self._releasing = False
            return
        self._lease = lease
        spec = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": micro_timestamp(now),
                "renewTime": micro_timestamp(now),
                "leaseTransitions": int((lease.get("spec") or {}).get("leaseTransitions") or 0)}
        self._next = self._update(spec)

    def _release_answered(self, action: LeaseAction, outcome: str, now: int) -> None:
        if outcome == OK and action.verb == UPDATE:
            self._observe(action.body["spec"], now)
            self.events.append((now, "released"))
            self._releasing = False
        elif outcome == CONFLICT and now < self._release_deadline:
            self._next = LeaseAction(GET, self.namespace, self.name)  # read again and retry
        else:
            self._releasing = False
