"""etcd scenario commands. A scenario starts with `area etcd`; every line is validated before
anything runs, so a malformed file changes nothing and answers `file:line: message`.

    area etcd
    cluster 3 clients=2 seed=7 [no-checkquorum] [delay=A..B drop=P]
    tick [K] | settle | campaign n1
    expire-leases       (nobody keeps a lease alive: past every TTL and the bound, none may be left)
    partition n1 c1 | n2 n3 c2 | isolate n1 | heal | crash n1 | restart n1
    c1 get KEY [prefix | end=END | from-key] [rev=R] [limit=N] [count-only] [keys-only] [serializable]
    c1 put KEY VALUE [prev-kv] [ignore-lease] | c1 put KEY ignore-value [prev-kv] [ignore-lease]
    c1 delete KEY [prefix | end=END | from-key] [prev-kv]
    c1 cas KEY OLD NEW                                      (OLD `-`: the key is absent)
    c1 txn K1=V1 K2=V2 ...                                  (one txn of puts, one revision)
    c1 txn [if COMPARE ...] then OP ... [else OP ...]       (a txn over ranges)
       COMPARE: KEY.version=N KEY.create<N KEY.mod>N KEY.value!=V  OP: get:KEY put:KEY=V del:KEY
       (KEY* is every key with that prefix, KEY..END the range [KEY, END))
    c1 compact REVISION | c1 lease-grant TTL [id=ID] | c1 lease-put KEY VALUE [prev-kv] [ignore-value] [ignore-lease]
    c1 keep-alive | c1 time-to-live [keys] | c1 revoke      (of the client's last granted lease)
    c1 watch KEY [prefix | end=END | from-key] [from=REVISION] [prev-kv] | c1 progress
    expect get c1 KEY VALUE|- | expect revision N [nX] | expect leader nX [term=T]  (checks/etcd/expect.py)
    expect held | expect violated WATCH-RELIABLE
    repeat N COMMAND ({i} counts 1..N) | maybe COMMAND (may find nothing to do)

Every client command takes `via=nX` last: the member to send it to (else the client's guess
of the leader). checks/etcd/requests.py says what each request line sends.

A command that finds nothing to do is an error at its line unless marked `maybe`: `crash` of a
member that is down, `restart` of one that is up, `campaign` of the leader or of a member that
is down, `heal` with no link cut, `expire-leases` with no leader, a request to a busy client (it
has one request at a time and would drop it), `progress` with no watch stream open. A search and
the shrinker run leniently and mark such lines `maybe` as they record them, so what they write
replays.
"""

from __future__ import annotations

import re

import attrs

from checks.etcd.cluster import EtcdCluster, EtcdOptions, InvariantViolated
from checks.etcd.expect import check_assertion, validate_assertion
from checks.etcd.requests import REVISION_MAX, VERBS, RequestError, build
from checks.scenario import (
    Command, ScenarioError, expectation_failure, partition_groups, play, scenario_body,
)
from impl.etcd.parts import EtcdParts
from impl.sim.network import NetworkFaults

__all__ = ["EtcdScenario", "load", "run", "ScenarioOutcome", "CLIENT_VERBS"]

MEMBERS_MAX = 9
CLIENTS_MAX = 9
TICKS_PER_LINE_MAX = 100_000
_DELAY = re.compile(r"^(\d+)\.\.(\d+)$")
_WATCH_WORD = re.compile(r"^[A-Za-z0-9_./:=-]+$")
CLIENT_VERBS: tuple[str, ...] = VERBS + ("watch", "progress")


@attrs.frozen
class EtcdScenario:
    options: EtcdOptions
    steps: tuple[Command, ...]
    expect: tuple[str, ...] | None
    filename: str


@attrs.frozen
class ScenarioOutcome:
    cluster: EtcdCluster
    violation: InvariantViolated | None
    expectation_failure: str | None


class _Lines:
    def __init__(self, filename: str, options: EtcdOptions) -> None:
        self.filename = filename
        self.members = tuple(f"n{i}" for i in range(1, options.members + 1))
        self.clients = tuple(f"c{i}" for i in range(1, options.clients + 1))

    def fail(self, command: Command, message: str) -> ScenarioError:
        return ScenarioError(self.filename, command.line_no, message)

    def member(self, command: Command, word: str) -> str:
        if word not in self.members:
            raise self.fail(command, f"unknown member {word!r}; members are {', '.join(self.members)}")
        return word

    def node(self, command: Command, word: str) -> str:
        if word not in self.members + self.clients:
            raise self.fail(command, f"unknown node {word!r}; nodes are "
                                     f"{', '.join(self.members + self.clients)}")
        return word

    def number(self, command: Command, word: str, what: str, low: int, high: int) -> int:
        if not word.isdigit() or not low <= int(word) <= high:
            raise self.fail(command, f"{what} must be an integer from {low} to {high}, not {word!r}")
        return int(word)


def _faults(command: Command, words: list[str], filename: str) -> NetworkFaults:
    values = {"delay": (1, 1), "drop": 0.0}
    for word in words:
        name, _, value = word.partition("=")
        if name == "delay" and _DELAY.match(value):
            low, high = map(int, _DELAY.match(value).groups())
            if low > high or high > 1000:
                raise ScenarioError(filename, command.line_no, f"bad delay range {value!r}")
            values["delay"] = (low, high)
        elif name == "drop":
            try:
                values["drop"] = float(value)
            except ValueError:
                raise ScenarioError(filename, command.line_no, f"drop must be a rate, not {value!r}") from None
            if not 0.0 <= values["drop"] <= 1.0:
                raise ScenarioError(filename, command.line_no, "drop must be between 0 and 1")
        elif name != "duplicate" or value not in ("0", "0.0"):
            raise ScenarioError(filename, command.line_no,
                                f"unknown cluster option {word!r}; options are clients=N seed=N "
                                f"no-checkquorum delay=A..B drop=P (clients talk over TCP: no duplicates)")
    return NetworkFaults(*values["delay"], drop_rate=values["drop"])


def _options(command: Command, filename: str) -> EtcdOptions:
    if command.name != "cluster" or not command.args:
        raise ScenarioError(filename, command.line_no,
                            "an etcd scenario starts with `cluster N [clients=K] [seed=S]`")
    lines = _Lines(filename, EtcdOptions())
    members = lines.number(command, command.args[0], "cluster size", 1, MEMBERS_MAX)
    clients, seed, check_quorum, rest = 2, 0, True, []
    for word in command.args[1:]:
        if word == "no-checkquorum":
            check_quorum = False
        elif word.startswith("clients="):
            clients = lines.number(command, word[8:], "clients", 1, CLIENTS_MAX)
        elif word.startswith("seed="):
            seed = lines.number(command, word[5:], "seed", 0, 2**63)
        else:
            rest.append(word)
    return EtcdOptions(members, clients, seed, _faults(command, rest, filename), check_quorum)


def _check_watch(lines: _Lines, command: Command, words: list[str]) -> None:
    flags = ("prefix", "from-key", "prev-kv")
    usage = f"usage: {command.name} watch KEY [prefix | end=END | from-key] [from=REVISION] [prev-kv]"
    if not words or words[0] in flags or words[0].startswith(("from=", "end=")):
        raise lines.fail(command, usage)
    for word in words[1:]:
        if word.startswith("from="):
            lines.number(command, word[5:], "from", 0, REVISION_MAX)
        elif not (word in flags or word.startswith("end=")):
            raise lines.fail(command, usage)
    if sum(1 for word in words[1:] if word in ("prefix", "from-key") or word.startswith("end=")) > 1:
        raise lines.fail(command, "choose one of prefix, end=END, from-key")
    for word in words:
        if not _WATCH_WORD.match(word):
            raise lines.fail(command, f"keys are letters, digits and ._/:=- only, not {word!r}")


def _check_client(lines: _Lines, command: Command) -> None:
    if len(command.args) < 1 or command.args[0] not in CLIENT_VERBS:
        raise lines.fail(command, f"unknown request {' '.join(command.args[:1])!r}; requests are "
                                  f"{', '.join(CLIENT_VERBS)}")
    verb, words = command.args[0], list(command.args[1:])
    if words and words[-1].startswith("via="):
        lines.member(command, words.pop()[4:])
    if verb == "watch":
        _check_watch(lines, command, words)
    elif verb == "progress":
        if words:
            raise lines.fail(command, "usage: progress (no arguments)")
    else:
        try:
            build(command.name, verb, tuple(words))
        except RequestError as error:
            message = str(error)
            if message.startswith("usage: "):  # name the client, as the line does
                message = f"usage: {command.name} {message[len('usage: '):]}"
            raise lines.fail(command, message) from None


def _check(lines: _Lines, command: Command) -> None:
    name, args = command.name, command.args
    if name in lines.clients:
        _check_client(lines, command)
    elif name == "tick":
        if len(args) > 1:
            raise lines.fail(command, "usage: tick [K]")
        if args:
            lines.number(command, args[0], "ticks", 1, TICKS_PER_LINE_MAX)
    elif name in ("settle", "heal", "expire-leases"):
        if args:
            raise lines.fail(command, f"usage: {name}")
    elif name in ("campaign", "crash", "restart", "isolate"):
        if len(args) != 1:
            raise lines.fail(command, f"usage: {name} n1")
        lines.member(command, args[0])
    elif name == "partition":
        groups = partition_groups(args)
        named = [word for group in groups for word in group]
        if len(groups) < 2 or any(not g for g in groups) or len(set(named)) != len(named):
            raise lines.fail(command, "usage: partition n1 c1 | n2 n3 c2 (disjoint, non-empty groups)")
        for word in named:
            lines.node(command, word)
    elif re.match(r"^c\d+$", name):
        raise lines.fail(command, f"unknown client {name!r}; clients are {', '.join(lines.clients)}")
    elif name == "expect":
        validate_assertion(command, lines.filename, lines.members, lines.clients)
    elif name in ("cluster", "area"):
        raise lines.fail(command, f"`{name}` may only open the scenario")
    else:
        raise lines.fail(command, f"unknown command {name!r}")


def load(text: str, filename: str) -> EtcdScenario:
    def start(cluster: Command):
        options = _options(cluster, filename)
        lines = _Lines(filename, options)
        return options, lambda command: _check(lines, command)
    options, steps, expect = scenario_body(text, filename, "etcd", start)
    return EtcdScenario(options, tuple(steps), expect, filename)


def _apply(cluster: EtcdCluster, command: Command) -> None:
    name, args = command.name, command.args
    if name in cluster.client_ids:
        words = list(args[1:])
        via = words.pop()[4:] if words and words[-1].startswith("via=") else None
        cluster.request(name, args[0], tuple(words), via)
    elif name == "tick":
        cluster.tick(int(args[0]) if args else 1)
    elif name == "settle":
        cluster.settle()
    elif name == "expire-leases":
        cluster.expire_leases()
    elif name == "heal":
        cluster.heal()
    elif name == "campaign":
        cluster.campaign(args[0])
    elif name == "crash":
        cluster.crash(args[0])
    elif name == "restart":
        cluster.restart(args[0])
    elif name == "isolate":
        cluster.partition([[args[0]], [n for n in cluster.ids if n != args[0]]])
    elif name == "partition":
        cluster.partition(partition_groups(args))
    elif name == "expect":
        check_assertion(command, cluster)


def run(scenario: EtcdScenario, parts: EtcdParts = EtcdParts(), lenient: bool = False) -> ScenarioOutcome:
    """Run every line. ``lenient`` (shrinking): a line that finds nothing to do is recorded
    `maybe` instead of being an error. A failed state assertion stops the run and is the
    outcome's ``expectation_failure``, naming its line."""
    cluster = EtcdCluster(scenario.options, parts)
    violation, failed_assertion = play(cluster, scenario.steps, scenario.filename, lenient, _apply)
    broken = violation.invariant.id if violation is not None else None
    return ScenarioOutcome(cluster, violation, failed_assertion or expectation_failure(scenario.expect, broken))

