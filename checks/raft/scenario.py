"""Raft scenario commands (DESIGN.md, "Scenario files"), in the style of etcd-raft's
interaction tests. Every line is validated before anything runs, so a malformed file changes
nothing and answers `file:line: message`.

    cluster 5 seed=7 [prevote] [checkquorum] [no-noop] [max-entries=K] [delay=A..B drop=P duplicate=P]
    campaign n1 | elect n1 (campaign; only its election's messages move) | propose n1 DATA
    timeout n1 (its election timeout elapses: a follower campaigns, a leader checks its quorum)
    tick [K] | stabilize | converge
    deliver [n1->n2 [nth=K]] | drop [n1->n2 [nth=K]] | duplicate n1->n2 [nth=K]
    hold n1->n2 [nth=K] | release n1->n2 [nth=K]   (a long delay: held until released)
    partition n1 n2 | n3 n4 n5 (replaces every cut) | isolate n1 | block n1->n2 (adds one) | heal
    crash n3 | restart n3
    expect held | expect violated RAFT-STATE-MACHINE-SAFETY
    expect leader n1 [term=T] | expect role|term|commit|applied|log NODE ...   (checks/raft/expect.py)
    repeat N COMMAND ({i} counts 1..N) | maybe COMMAND (may find nothing to do)
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from checks.raft.cluster import ClusterOptions, InvariantViolated, RaftCluster
from checks.raft.expect import check_assertion, validate_assertion
from checks.scenario import (
    Command, ScenarioError, expectation_failure, is_outcome_expect, parse, parse_expect, play,
)
from impl.raft.node import RaftNode
from impl.sim.network import NetworkFaults

__all__ = ["RaftScenario", "load", "run", "execute", "ScenarioOutcome"]

CLUSTER_SIZE_MAX = 9
TICKS_PER_LINE_MAX = 100_000
_LINK = re.compile(r"^(n\d+)->(n\d+)$")
_DELAY = re.compile(r"^(\d+)\.\.(\d+)$")


@attrs.frozen
class RaftScenario:
    options: ClusterOptions
    steps: tuple[Command, ...]
    expect: tuple[str, ...] | None  # ("held",) or ("violated", ID), from the last expect line
    filename: str


@attrs.frozen
class ScenarioOutcome:
    cluster: RaftCluster
    violation: InvariantViolated | None
    expectation_failure: str | None


class _Checker:
    """Validates one line against the cluster's node ids."""

    def __init__(self, filename: str, ids: tuple[str, ...]) -> None:
        self.filename, self.ids = filename, ids

    def fail(self, command: Command, message: str) -> ScenarioError:
        return ScenarioError(self.filename, command.line_no, message)

    def node(self, command: Command, word: str) -> str:
        if word not in self.ids:
            raise self.fail(command, f"unknown node {word!r}; nodes are {', '.join(self.ids)}")
        return word

    def count(self, command: Command, word: str, what: str, maximum: int) -> int:
        if not word.isdigit() or not 1 <= int(word) <= maximum:
            raise self.fail(command, f"{what} must be an integer from 1 to {maximum}, not {word!r}")
        return int(word)

    def link(self, command: Command, word: str) -> tuple[str, str]:
        match = _LINK.match(word)
        if not match:
            raise self.fail(command, f"expected a link like n1->n2, not {word!r}")
        src, dst = self.node(command, match[1]), self.node(command, match[2])
        if src == dst:
            raise self.fail(command, f"a link joins two different nodes, not {word!r}")
        return src, dst

    def nth(self, command: Command, words: tuple[str, ...]) -> int:
        if not words:
            return 1
        if len(words) > 1 or not words[0].startswith("nth="):
            raise self.fail(command, f"unexpected {' '.join(words)!r}; usage: {command.name} n1->n2 [nth=K]")
        return self.count(command, words[0][4:], "nth", 1_000_000)

    def arity(self, command: Command, low: int, high: int, usage: str) -> None:
        if not low <= len(command.args) <= high:
            raise self.fail(command, f"usage: {usage}")


def _parse_cluster(command: Command, filename: str) -> ClusterOptions:
    if command.name != "cluster":
        raise ScenarioError(filename, command.line_no, "a raft scenario starts with `cluster N`")
    if not command.args or not command.args[0].isdigit() or not 1 <= int(command.args[0]) <= CLUSTER_SIZE_MAX:
        raise ScenarioError(filename, command.line_no, f"cluster size must be 1..{CLUSTER_SIZE_MAX}")
    fields: dict = {"size": int(command.args[0])}
    faults: dict = {}
    for word in command.args[1:]:
        try:
            _cluster_option(word, fields, faults)
        except ValueError as error:
            raise ScenarioError(filename, command.line_no, str(error)) from None
    try:
        return ClusterOptions(**fields, faults=NetworkFaults(**faults))
    except AssertionError as error:
        raise ScenarioError(filename, command.line_no, f"bad network faults: {error}") from None


def _number(text: str, kind: type, key: str):
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{key} must be a number, not {text!r}") from None


def _cluster_option(word: str, fields: dict, faults: dict) -> None:
    flags = {"prevote": ("pre_vote", True), "checkquorum": ("check_quorum", True), "no-noop": ("noop", False)}
    if word in flags:
        fields[flags[word][0]] = flags[word][1]
        return
    key, _, value = word.partition("=")
    if key == "seed":
        fields["seed"] = _number(value, int, key)
    elif key == "max-entries":
        fields["max_entries"] = _number(value, int, key)
        if fields["max_entries"] < 1:
            raise ValueError("max-entries must be at least 1")
    elif key == "delay":
        match = _DELAY.match(value)
        if not match:
            raise ValueError(f"delay must look like 1..3, not {value!r}")
        faults["delay_min_ticks"], faults["delay_max_ticks"] = int(match[1]), int(match[2])
    elif key in ("drop", "duplicate"):
        rate = _number(value, float, key)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{key} is a probability from 0 to 1, not {value}")
        faults[f"{key}_rate"] = rate
    else:
        raise ValueError(f"unknown cluster option {word!r}")


def _validate_step(check: _Checker, command: Command) -> None:
    name, args = command.name, command.args
    if name in ("campaign", "elect", "timeout", "crash", "restart", "isolate"):
        check.arity(command, 1, 1, f"{name} NODE")
        check.node(command, args[0])
    elif name == "propose":
        check.arity(command, 2, 2, "propose NODE DATA")
        check.node(command, args[0])
    elif name == "tick":
        check.arity(command, 0, 1, "tick [K]")
        if args:
            check.count(command, args[0], "tick count", TICKS_PER_LINE_MAX)
    elif name in ("deliver", "drop", "duplicate", "hold", "release"):
        if not args and name in ("deliver", "drop"):
            return
        check.arity(command, 1, 2, f"{name} n1->n2 [nth=K]")
        check.link(command, args[0])
        check.nth(command, args[1:])
    elif name == "block":
        check.arity(command, 1, 1, "block n1->n2")
        check.link(command, args[0])
    elif name == "partition":
        _partition_groups(check, command)
    elif name in ("heal", "stabilize", "converge"):
        check.arity(command, 0, 0, name)
    else:
        raise check.fail(command, f"unknown command {name!r}")


def _partition_groups(check: _Checker, command: Command) -> list[list[str]]:
    groups = [[]]
    for word in command.args:
        if word == "|":
            groups.append([])
        else:
            groups[-1].append(check.node(command, word))
    named = [n for g in groups for n in g]
    if len(groups) < 2 or not all(groups) or len(set(named)) != len(named):
        raise check.fail(command, "usage: partition n1 n2 | n3 n4 n5 (disjoint, non-empty groups)")
    return groups


def load(text: str, filename: str) -> RaftScenario:
    commands = parse(text, filename)
    if commands[0].name == "area":
        commands = commands[1:]
        if not commands:
            raise ScenarioError(filename, 1, "a raft scenario needs `cluster N`")
    options = _parse_cluster(commands[0], filename)
    check = _Checker(filename, tuple(f"n{i}" for i in range(1, options.size + 1)))
    steps, expect = [], None
    for command in commands[1:]:
        if is_outcome_expect(command):
            expect = parse_expect(command, filename, "raft")
        elif command.name == "expect":
            validate_assertion(command, filename, check.ids)
            steps.append(command)
        elif command.name in ("cluster", "area"):
            raise check.fail(command, f"`{command.name}` may only open the scenario")
        else:
            _validate_step(check, command)
            steps.append(command)
    return RaftScenario(options, tuple(steps), expect, filename)


def execute(cluster: RaftCluster, command: Command) -> None:
    name, args = command.name, command.args
    link = _LINK.match(args[0]) if args else None
    nth = int(args[1][4:]) if link and len(args) > 1 else 1
    actions: dict[str, Callable[[], object]] = {
        "campaign": lambda: cluster.campaign(args[0]),
        "elect": lambda: cluster.elect(args[0]),
        "timeout": lambda: cluster.timeout(args[0]),
        "propose": lambda: cluster.propose(args[0], args[1]),
        "tick": lambda: cluster.tick(int(args[0]) if args else 1),
        "deliver": lambda: cluster.on_link(name, link[1], link[2], nth) if link else cluster.deliver_round(),
        "drop": lambda: cluster.on_link(name, link[1], link[2], nth) if link else cluster.drop_all(),
        "duplicate": lambda: cluster.on_link(name, link[1], link[2], nth),
        "hold": lambda: cluster.on_link(name, link[1], link[2], nth),
        "release": lambda: cluster.on_link(name, link[1], link[2], nth),
        "block": lambda: cluster.block(link[1], link[2]),
        "partition": lambda: cluster.partition(_partition_groups(_Checker("", cluster.ids), command)),
        "isolate": lambda: cluster.partition([[args[0]], [n for n in cluster.ids if n != args[0]]]),
        "heal": cluster.heal,
        "crash": lambda: cluster.crash(args[0]),
        "restart": lambda: cluster.restart(args[0]),
        "stabilize": cluster.stabilize,
        "converge": cluster.converge,
        "expect": lambda: check_assertion(command, cluster.world.nodes[args[1]]),
    }
    actions[name]()


def run(scenario: RaftScenario, node_class: type[RaftNode] = RaftNode, lenient: bool = False) -> ScenarioOutcome:
    """Run every line. ``lenient`` (searches, shrinking): a line that finds nothing to do is
    recorded `maybe` instead of being an error."""
    cluster = RaftCluster(scenario.options, node_class)
    violation, failed_assertion = play(cluster, scenario.steps, scenario.filename, lenient, execute)
    broken = violation.invariant.id if violation is not None else None
    return ScenarioOutcome(cluster, violation, failed_assertion or expectation_failure(scenario.expect, broken))

