"""The linearizability search: Wing & Gong's algorithm with Lowe's memoization, and pruning.

A history is linearizable (Herlihy & Wing 1990) when each call can be given one instant between
its invocation and its completion such that, taken in the order of those instants, the calls get
exactly the answers of the sequential model. Wing & Gong (1993) search for that order depth
first: repeatedly pick a *minimal* call (one invoked before any pending call completed), apply
it to the model, and backtrack when the model disagrees. Lowe ("Testing for linearizability",
2017) made it practical with two ideas used here, as in porcupine and Knossos:

- **Just-in-time linearization.** Walk the calls and completions in history order as a doubly
  linked list. At an invocation, try to linearize that call now; at a completion whose call is
  not linearized yet, the current choice is wrong: it must have taken effect before it returned,
  so backtrack. Linearized calls are unlinked (dancing links), and the walk restarts.
- **Memoization.** Two search paths that linearized the same *set* of calls and reached the same
  model state have the same future, so ``(set, state)`` pairs already explored are skipped.

More prunings, each exact (none changes an answer), decide histories the plain search gives up
on:

- **Reads go first.** A read (a call of one of the model's ``read_only`` functions) that is
  available, fits the current state and leaves it as it is is linearized at once, with no
  alternative tried at that point: a linearization that places it later stays one when it is
  moved here (it changes no state, and every call still open was invoked before it).
  Backtracking over it goes past it. (A read from ``UNKNOWN`` is a choice: it pins the value.)
- **Identical unknown calls in order.** Calls whose outcome is unknown (``:info``) never complete,
  so two with the same function, key and value differ only in when they were invoked. The search
  only linearizes the earliest-invoked open one of such a class (swap the two in a linearization
  to get one that does), so the linearized calls of a class are a prefix of it. An unknown call
  that would leave the state as it is is not applied at all (applying it only uses it up), nor
  one whose observers (``history.observers``: the reads of what it writes) are all linearized:
  it could only lead nowhere. Unknown calls are offered after the known ones, so that one is
  applied only where no known call can go on without it.
- **Fewer unknown calls applied is better.** A configuration like an explored one (same known
  calls linearized, same state) but with more unknown calls applied has fewer choices left, so
  nothing new can come of it: it is skipped (compared with the latest ``DOMINANCE_SCAN_MAX``).
- **States nobody can tell apart are one.** A model may map each state to a representative of
  the states the history's calls cannot distinguish (``Model.canonical``): for kv-append, every
  string no get starts with, so that the orders of appends a put erases unread count once.
- **A compact memo.** The linearized set is kept as the first known call not yet linearized, a
  small bitmask of the known calls after it that are (they were invoked while it was still
  open), and a bitmask of the unknown calls applied (few, once those nobody observed are
  dropped). An entry does not grow with the history's length, so memory grows with the
  configurations explored, not with their product by the length.

Calls whose outcome is unknown may be linearized at any point after their invocation, or not at
all, so the search succeeds as soon as every *known* call is linearized. A history whose calls
each touch one key is split per key first: each key is an object of its own, and
linearizability is *local* (Herlihy & Wing 1990: a history is linearizable iff each object's
sub-history is; Horn & Kroening 2015 call the general idea P-compositionality), which turns one
search exponential in the history into many small ones. The keys' searches take turns in slices
of ``SLICE_STEPS``, so a key that fails quickly decides the history even when another key would
search for long (porcupine races them on threads; turns keep the answer deterministic).

Every search is bounded: past ``configurations_max`` attempted steps it answers ``UNKNOWN``
("search too large") instead of running on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import attrs

from checks.lincheck.history import Call, observers
from spec.kv.model import Model

__all__ = ["Verdict", "LINEARIZABLE", "NOT_LINEARIZABLE", "UNKNOWN", "CONFIGURATIONS_MAX", "check_calls",
           "check_partitioned", "partition_by_key", "sorted_keys", "part_model", "Search",
           "SLICE_STEPS"]

LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN = "linearizable", "not linearizable", "unknown"
CONFIGURATIONS_MAX = 2_000_000  # model steps tried before a search gives up as too large
DOMINANCE_SCAN_MAX = 32  # memo masks compared for dominance per configuration (the latest ones)
SLICE_STEPS = 20_000  # steps one key's search takes before the next key's search has its turn


@attrs.frozen
class Verdict:
    """The search's answer for some calls: ``result`` is one of LINEARIZABLE, NOT_LINEARIZABLE,
    UNKNOWN; ``configurations`` counts model steps tried; ``key`` names the failing partition;
    ``frontier`` is the latest completion at which the search had to backtrack: where a failing
    history's trouble most likely is (a hint for the window, not a proof)."""

    result: str
    configurations: int
    key: Hashable = None
    frontier: float = 0


class _Links:
    """The calls' invocations and completions as a doubly linked list in history order.

    Entry 0 is the head sentinel; entry ``2*i+1`` invokes call ``i`` and ``2*i+2`` completes it.
    Unlinking a call removes both of its entries; relinking in reverse order restores them.
    """

    def __init__(self, calls: Sequence[Call]) -> None:
        events = sorted([(call.invoked, 0, 2 * number + 1) for number, call in enumerate(calls)]
                        + [(call.completed, 1, 2 * number + 2) for number, call in enumerate(calls)])
        size = 2 * len(calls) + 1
        self.next, self.previous = [0] * size, [0] * size
        order = [0] + [entry for _, _, entry in events]
        for position in range(len(order) - 1):
            self.next[order[position]] = order[position + 1]
            self.previous[order[position + 1]] = order[position]
        self.next[order[-1]] = -1

    def unlink(self, entry: int) -> None:
        for item in (entry, entry + 1):
            before, after = self.previous[item], self.next[item]
            self.next[before] = after
            if after != -1:
                self.previous[after] = before

    def relink(self, entry: int) -> None:
        for item in (entry + 1, entry):
            before, after = self.previous[item], self.next[item]
            self.next[before] = item
            if after != -1:
                self.previous[after] = item


class _Plan:
    """What the search needs per call, computed once: ``rank`` is a known call's position among
    the known calls (invocation order), -1 for an unknown one; an unknown call's ``kind`` is its
    class (same function, key and value), ``order`` its place in the class, ``bit`` its bit in
    the memo's mask of linearized unknown calls; ``reads`` marks the known reads (linearized
    without a choice when they fit and leave the state as it is). ``watching`` lists, for a known
    call, the classes of unknown calls whose effect it could observe, and ``watchers`` counts per
    class those observers (plus one for ever when an unknown call or an unknown function could
    observe it): a class whose count is 0 is retired, applying it could only lead nowhere."""

    def __init__(self, calls: Sequence[Call], model: Model) -> None:
        self.rank, self.kind, self.order, self.bit, self.reads = [], [], [], [], []
        classes: dict[Hashable, int] = {}
        sizes: list[int] = []
        known = unknown = 0
        for call in calls:
            is_known = call.known
            kind = -1 if is_known else classes.setdefault((call.f, call.key, call.value), len(classes))
            if kind == len(sizes):
                sizes.append(0)
            self.rank.append(known if is_known else -1)
            self.kind.append(kind)
            self.order.append(sizes[kind] if kind >= 0 else 0)
            self.bit.append(0 if is_known else 1 << unknown)
            self.reads.append(is_known and call.f in model.read_only)
            if kind >= 0:
                sizes[kind] += 1
            known, unknown = known + is_known, unknown + (not is_known)
        self.known, self.classes = known, len(sizes)
        self._watch(calls)

    def _watch(self, calls: Sequence[Call]) -> None:
        self.watching: list[tuple[int, ...]] = [()] * len(calls)
        self.watchers = [0] * self.classes
        if not self.classes:
            return  # no unknown calls: nothing to watch
        watched: list[set[int]] = [set() for _ in calls]
        for number, seen in enumerate(observers(calls)):
            kind = self.kind[number]
            if kind < 0:
                continue
            if seen is None or any(not calls[observer].known for observer in seen):
                self.watchers[kind] = 1  # never retired
            for observer in seen or ():
                if calls[observer].known:
                    watched[observer].add(kind)
        for observer, kinds in enumerate(watched):
            self.watching[observer] = tuple(sorted(kinds))
            for kind in kinds:
                self.watchers[kind] += 1


def _lowest_zero(bits: int) -> int:
    """How many low bits of ``bits`` are ones."""
    return ((bits + 1) & -(bits + 1)).bit_length() - 1


def check_calls(calls: Sequence[Call], model: Model, initial: Hashable | None = None,
                configurations_max: int = CONFIGURATIONS_MAX) -> Verdict:
    """Is this set of calls linearizable from ``initial`` (default: the model's initial state)?
    The calls are numbered by position (``call.id`` is not read)."""
    search = Search(calls, model, initial)
    return search.run(configurations_max) or search.verdict(UNKNOWN)


class Search:
    """One depth-first search that can be run in slices: ``run(steps)`` goes on from where the
    last slice stopped and answers a Verdict, or None when the slice ran out first. The checker
    interleaves the searches of a history's keys this way, so that one key that fails quickly
    decides the history while another would search for long (porcupine runs them in parallel).

    At each configuration the walk offers the known calls available first, then the unknown
    ones (a second pass over the same entries): an unknown call is applied only when no known
    call can go on without it, so the configurations with fewer unknown calls applied come
    first, and those with more are then skipped as covered by them.

    A frame of the stack holds what undoing a step restores: (invocation entry, state, first
    open known call, bitmask after it, mask of unknown calls) and whether the step was a forced
    read. The loop is one function for speed: Python calls would double its cost."""

    def __init__(self, calls: Sequence[Call], model: Model, initial: Hashable | None = None) -> None:
        self.calls, self.model = list(calls), model
        self.links, self.plan = _Links(self.calls), _Plan(self.calls, model)
        self.canonical = model.canonical(self.calls) if model.canonical is not None else None
        self.state = model.initial if initial is None else initial
        if self.canonical is not None:
            self.state = self.canonical(self.state)
        self.first, self.after_first, self.unknowns = 0, 0, 0
        self.taken = [0] * self.plan.classes  # per class of unknown calls: how many are linearized
        self.watchers = list(self.plan.watchers)  # per class: observers not yet linearized
        self.stack: list[tuple] = []
        self.seen: set[tuple] = set()  # ((known part, state), mask of unknown calls) explored
        self.recent: dict[tuple, list[int]] = {}  # (known part, state) -> latest masks seen with it
        self.tried, self.frontier = 0, 0
        self.entry, self.unknown_pass = self.links.next[0], False

    def verdict(self, result: str) -> Verdict:
        return Verdict(result, self.tried, frontier=self.frontier)

    def run(self, steps: int) -> Verdict | None:  # noqa: C901 - one loop, see the class
        calls, step, plan, links, taken, stack = self.calls, self.model.step, self.plan, self.links, self.taken, self.stack
        following, rank, kind, order, bit, reads = links.next, plan.rank, plan.kind, plan.order, plan.bit, plan.reads
        watching, watchers = plan.watching, self.watchers
        canonical, explored = self.canonical, self._explored
        state, first, after_first, unknowns, entry, unknown_pass = (self.state, self.first, self.after_first,
                                                                    self.unknowns, self.entry, self.unknown_pass)
        tried_max = self.tried + steps
        while first < plan.known:  # bounded: each pass tries a step (counted) or backtracks one
            number = (entry - 1) >> 1
            if entry & 1:
                position = rank[number]
                if (position < 0) != unknown_pass or (position < 0 and (
                        taken[kind[number]] != order[number] or not watchers[kind[number]])):
                    entry = following[entry]  # not this pass's; an identical one is open; nobody left to see it
                    continue
                if self.tried >= tried_max:
                    self.state, self.first, self.after_first, self.unknowns, self.entry, self.unknown_pass = (
                        state, first, after_first, unknowns, entry, unknown_pass)
                    return None
                self.tried += 1
                ok, new_state = step(state, calls[number])
                if ok and canonical is not None:
                    new_state = canonical(new_state)
                if ok and position < 0 and new_state == state:
                    ok = False  # an unknown call that changes nothing may as well not happen
                forced = ok and reads[number] and new_state == state  # not a read that pins UNKNOWN
                if ok:
                    if position < 0:
                        key, new_unknowns = (first, after_first, new_state), unknowns | bit[number]
                    elif position == first:
                        shift = _lowest_zero(after_first >> 1) + 1
                        key, new_unknowns = (first + shift, after_first >> shift, new_state), unknowns
                    else:
                        key, new_unknowns = (first, after_first | (1 << (position - first)), new_state), unknowns
                    if not explored(key, new_unknowns):
                        stack.append((entry, state, first, after_first, unknowns, forced))
                        first, after_first, state = key
                        unknowns = new_unknowns
                        if position < 0:
                            taken[kind[number]] += 1
                        for watched in watching[number]:
                            watchers[watched] -= 1
                        links.unlink(entry)
                        entry, unknown_pass = following[0], False
                        continue
                if not forced:
                    entry = following[entry]
                    continue
                # a read that fits leads only to failed configurations: so does this one
            elif not unknown_pass:  # the known calls available are tried: now the unknown ones
                entry, unknown_pass = following[0], True
                continue
            else:
                self.frontier = max(self.frontier, calls[number].completed)
            entry = self._backtrack()
            if entry < 0:
                return self.verdict(NOT_LINEARIZABLE)
            undone, state, first, after_first, unknowns, _ = stack.pop()
            unknown_pass = rank[(undone - 1) >> 1] < 0
        return self.verdict(LINEARIZABLE)

    def _explored(self, key: tuple, unknowns: int) -> bool:
        """Was a configuration with these known calls and this state reached before with at most
        these unknown calls linearized? Then it failed, or is being explored, with at least the
        choices this one has: nothing new can come of this one. Exact for equal sets; for
        smaller ones the latest DOMINANCE_SCAN_MAX per known part and state are compared."""
        if (key, unknowns) in self.seen:
            return True
        recent = self.recent.setdefault(key, [])
        for mask in recent:
            if mask & ~unknowns == 0:
                return True
        self.seen.add((key, unknowns))
        recent.append(unknowns)
        if len(recent) > DOMINANCE_SCAN_MAX:
            del recent[0]
        return False

    def _backtrack(self) -> int:
        """Undo steps up to and including the last one that was a choice (not a forced read);
        leave its frame on top and answer the entry to try next, or -1 when nothing is left."""
        links, plan, stack = self.links, self.plan, self.stack
        while stack:
            entry = stack[-1][0]
            number = (entry - 1) >> 1
            links.relink(entry)
            if plan.rank[number] < 0:
                self.taken[plan.kind[number]] -= 1
            for watched in plan.watching[number]:
                self.watchers[watched] += 1
            if not stack[-1][5]:
                return links.next[entry]
            stack.pop()
        return -1


def partition_by_key(calls: Sequence[Call]) -> dict[Hashable, list[Call]]:
    """The calls of each key, in invocation order (the search numbers calls by position)."""
    parts: dict[Hashable, list[Call]] = {}
    for call in calls:
        parts.setdefault(call.key, []).append(call)
    return parts


def sorted_keys(keys) -> list:
    """Keys in a deterministic order, whatever their types."""
    return sorted(keys, key=lambda key: (type(key).__name__, repr(key)))


def part_model(model: Model) -> Model:
    """The model one part of a split history is checked with: one key's value when the model
    has it (a keyed model's ``single_key``), else the model itself."""
    return model.single_key if model.keyed and model.single_key is not None else model


def check_partitioned(calls: Sequence[Call], model: Model,
                      configurations_max: int = CONFIGURATIONS_MAX) -> Verdict:
    """Check each key's calls alone (keyed models) or all calls together. The keys' searches
    take turns (in sorted key order) until one fails, which decides; else UNKNOWN (on the first
    key in sorted order whose search ran past ``configurations_max``) if any did, else
    LINEARIZABLE. ``configurations`` counts the steps of all the searches."""
    parts = partition_by_key(calls) if model.keyed else {None: list(calls)}
    each = part_model(model)
    turns: dict[Hashable, Search | None] = dict.fromkeys(sorted_keys(parts))
    total, undecided = 0, []
    while turns:
        for key in list(turns):
            search = turns[key] or Search(parts[key], each)
            verdict = search.run(min(SLICE_STEPS, configurations_max - search.tried))
            if verdict is None and search.tried < configurations_max:
                turns[key] = search
                continue
            del turns[key]
            total += search.tried
            if verdict is None:
                undecided.append(key)
            elif verdict.result == NOT_LINEARIZABLE:
                total += sum(other.tried for other in turns.values() if other is not None)
                return Verdict(NOT_LINEARIZABLE, total, key, verdict.frontier)
    if undecided:
        return Verdict(UNKNOWN, total, sorted_keys(undecided)[0])
    return Verdict(LINEARIZABLE, total)

