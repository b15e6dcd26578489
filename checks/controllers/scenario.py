"""controllers scenario commands. A scenario starts with `area controllers`; every line is checked
before anything runs, so a malformed file changes nothing and answers `file:line: message`.

    area controllers
    cluster members=N apiservers=N managers=N nodes=N seed=S [controller=MODULE:CLASS] [delay=A..B drop=P]
    apply 'JSON'                          (create, or merge-patch onto the object of that name)
    delete RESOURCE [NS/]NAME [propagation=Background|Foreground|Orphan] [grace=SECONDS]
    scale deployment NS/NAME N | set-image deployment NS/NAME IMAGE | rollout-undo deployment NS/NAME
    pause deployment NS/NAME | resume deployment NS/NAME
    rollout-status deployment NS/NAME [within=K]   (tick until its rollout is complete)
    add-node kN | remove-node kN | power-off kN|aN  (gone for good; its Node object stays)
    tick [K] | crash X | restart X [via aN] | partition A B | C D | heal | lag aN
    crash-between-writes HOST [within=K] | hide-events HOST K | webhook-outage K [fail=P]
    converge                              (the fault-free phase: Eventually Stable Reconciliation)
    expect held | expect violated CTRL-CONVERGES
    repeat N COMMAND | maybe COMMAND

Nodes: store members ``n1..``, API server instances ``a1..``, kubectl ``u1``, controller managers
``cm1..``, the scheduler ``sched``, kubelets ``k1..`` (node-1...) and, with ``controller=``, the
user's controller ``op1``. checks/controllers/commands.py says what each command does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from checks.controllers.cluster import ControllersCluster, ControllersOptions
from checks.controllers.commands import CRASH_WITHIN_TICKS, PROPAGATIONS, ROLLOUT_WITHIN_TICKS
from checks.controllers.user import CONTROLLER_NAME, load_controller
from checks.scenario import (
    Command, ScenarioError, cluster_words, expectation_failure, integer_word, partition_groups, play, scenario_body,
)
from checks.violation import InvariantViolated
from impl.apiserver.resources import UnknownResource, resource_for_kind, resource_named
from impl.controllers.parts import ControllersParts

__all__ = ["ControllersScenario", "load", "run", "run_lines", "ScenarioOutcome", "execute",
           "new_cluster", "manifest_of"]

TICKS_PER_LINE_MAX = 100_000
HIDE_TICKS_MAX = 1_000
WEBHOOK_TICKS_MAX = 10_000  # a partial outage may last a whole test case
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DELETE_USAGE = "delete RESOURCE [NS/]NAME [propagation=Background|Foreground|Orphan] [grace=SECONDS]"
DEPLOYMENT_VERBS = ("scale", "set-image", "rollout-undo", "pause", "resume")


@attrs.frozen
class ControllersScenario:
    options: ControllersOptions
    steps: tuple[Command, ...]
    expect: tuple[str, ...] | None
    filename: str


@attrs.frozen
class ScenarioOutcome:
    cluster: ControllersCluster
    violation: InvariantViolated | None
    expectation_failure: str | None


# ----- loading -----------------------------------------------------------------------------------

def _options(command: Command, filename: str) -> ControllersOptions:
    if command.name != "cluster":
        raise ScenarioError(filename, command.line_no, "a controllers scenario starts with `cluster members=N "
                                                       "apiservers=N managers=N nodes=N seed=S`")

    def controller(word: str, values: dict[str, Any]) -> bool:
        key, _, value = word.partition("=")
        if key == "controller" and CONTROLLER_NAME.match(value):
            values["controller"] = value
            return True
        return False
    limits = {"members": (1, 5), "apiservers": (1, 5), "managers": (1, 3), "nodes": (1, 60), "seed": (0, 2**63)}
    values, faults = cluster_words(command, filename, limits, controller,
                                   "members= apiservers= managers= nodes= seed= controller=MODULE:CLASS")
    return ControllersOptions(**values, faults=faults)


class _Checker:
    def __init__(self, filename: str, options: ControllersOptions) -> None:
        self.filename = filename
        self.members = tuple(f"n{i}" for i in range(1, options.members + 1))
        self.instances = tuple(f"a{i}" for i in range(1, options.apiservers + 1))
        self.managers = tuple(f"cm{i}" for i in range(1, options.managers + 1))
        self.kubelets = tuple(f"k{i}" for i in range(1, options.nodes + 1))
        self.hosts = self.managers + ("sched",) + self.kubelets + (("op1",) if options.controller else ())
        self.everyone = self.members + self.instances + ("u1",) + self.hosts

    def fail(self, command: Command, message: str) -> ScenarioError:
        return ScenarioError(self.filename, command.line_no, message)

    def node(self, command: Command, word: str, allowed: tuple[str, ...]) -> str:
        if word not in allowed:
            raise self.fail(command, f"unknown node {word!r}; expected one of {', '.join(allowed)}")
        return word

    def usage(self, command: Command, ok: bool, usage: str) -> None:
        if not ok:
            raise self.fail(command, f"usage: {usage}")

    def check(self, command: Command) -> None:
        name, args = command.name, command.args
        handler = getattr(self, "check_" + name.replace("-", "_"), None)
        if name in DEPLOYMENT_VERBS:
            self.check_deployment_verb(command)
        elif handler is not None:
            handler(command)
        elif name in ("converge", "heal"):
            self.usage(command, not args, name)
        elif name in ("cluster", "area"):
            raise self.fail(command, f"`{name}` may only open the scenario")
        else:
            raise self.fail(command, f"unknown command {name!r}")

    def check_tick(self, command: Command) -> None:
        self.usage(command, len(command.args) <= 1, "tick [K]")
        if command.args:
            integer_word(self.filename, command, command.args[0], "ticks", 1, TICKS_PER_LINE_MAX)

    def check_crash(self, command: Command) -> None:
        self.usage(command, len(command.args) == 1, "crash NODE")
        self.node(command, command.args[0], self.everyone)

    def check_restart(self, command: Command) -> None:
        args = command.args
        self.usage(command, len(args) == 1 or (len(args) == 3 and args[1] == "via"), "restart NODE [via aN]")
        self.node(command, args[0], self.everyone)
        if len(args) == 3:
            self.node(command, args[0], self.hosts)
            self.node(command, args[2], self.instances)

    def check_lag(self, command: Command) -> None:
        self.usage(command, len(command.args) == 1, "lag aN")
        self.node(command, command.args[0], self.instances)

    def check_partition(self, command: Command) -> None:
        groups = partition_groups(command.args)
        named = [w for g in groups for w in g]
        self.usage(command, len(groups) >= 2 and all(groups) and len(set(named)) == len(named),
                   "partition a1 | n1 n2 (disjoint, non-empty groups)")
        for word in named:
            self.node(command, word, self.everyone)

    def check_crash_between_writes(self, command: Command) -> None:
        args = command.args
        self.usage(command, len(args) in (1, 2) and (len(args) == 1 or args[1].startswith("within=")),
                   "crash-between-writes HOST [within=K]")
        self.node(command, args[0], self.hosts)
        if len(args) == 2:
            integer_word(self.filename, command, args[1][len("within="):], "within", 1, TICKS_PER_LINE_MAX)

    def check_hide_events(self, command: Command) -> None:
        self.usage(command, len(command.args) == 2, "hide-events HOST K")
        self.node(command, command.args[0], self.hosts)
        integer_word(self.filename, command, command.args[1], "ticks", 1, HIDE_TICKS_MAX)

    def check_webhook_outage(self, command: Command) -> None:
        args = command.args
        self.usage(command, len(args) in (1, 2) and (len(args) == 1 or args[1].startswith("fail=")),
                   "webhook-outage K [fail=P]")
        integer_word(self.filename, command, args[0], "ticks", 1, WEBHOOK_TICKS_MAX)
        if len(args) == 2:
            integer_word(self.filename, command, args[1][len("fail="):], "fail", 1, 100)

    def check_rollout_status(self, command: Command) -> None:
        args = command.args
        usage = "rollout-status deployment NS/NAME [within=K]"
        self.usage(command, len(args) in (2, 3) and args[0] == "deployment" and "/" in args[1]
                   and bool(_KEY.match(args[1])) and (len(args) == 2 or args[2].startswith("within=")), usage)
        if len(args) == 3:
            integer_word(self.filename, command, args[2][len("within="):], "within", 1, TICKS_PER_LINE_MAX)

    def check_add_node(self, command: Command) -> None:
        self.usage(command, len(command.args) == 1, f"{command.name} kN")
        self.node(command, command.args[0], self.kubelets)

    check_remove_node = check_add_node

    def check_power_off(self, command: Command) -> None:
        self.usage(command, len(command.args) == 1, "power-off kN|aN")
        self.node(command, command.args[0], self.kubelets + self.instances)

    def check_apply(self, command: Command) -> None:
        self.usage(command, len(command.args) == 1, "apply 'JSON' (one object, quoted)")
        manifest_of(command, self.filename)

    def check_delete(self, command: Command) -> None:
        args = command.args
        self.usage(command, 2 <= len(args) <= 4, DELETE_USAGE)
        try:
            resource_named(args[0])
        except UnknownResource as error:
            raise self.fail(command, str(error)) from None
        if not _KEY.match(args[1]):
            raise self.fail(command, f"{args[1]!r} is not NAME or NAMESPACE/NAME")
        options = [word.partition("=") for word in args[2:]]
        self.usage(command, len({key for key, _, _ in options}) == len(options), DELETE_USAGE)
        for key, _, value in options:
            self.usage(command, key in ("propagation", "grace"), DELETE_USAGE)
            if key == "propagation":
                self.usage(command, value in PROPAGATIONS, DELETE_USAGE)
            else:
                integer_word(self.filename, command, value, "grace", 0, 3600)

    def check_deployment_verb(self, command: Command) -> None:
        args, name = command.args, command.name
        words = {"scale": 3, "set-image": 3}.get(name, 2)
        shown = {"scale": " N", "set-image": " IMAGE"}.get(name, "")
        self.usage(command, len(args) == words and args[0] == "deployment" and "/" in args[1]
                   and bool(_KEY.match(args[1])), f"{name} deployment NS/NAME{shown}")
        if name == "scale":
            integer_word(self.filename, command, args[2], "replicas", 0, 10_000)


def manifest_of(command: Command, filename: str) -> dict[str, Any]:
    """The object of an `apply 'JSON'` line."""
    try:
        obj = json.loads(command.args[0])
    except ValueError as error:
        raise ScenarioError(filename, command.line_no, f"apply: not JSON: {error}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
        raise ScenarioError(filename, command.line_no, "apply: an object needs apiVersion, kind and metadata.name")
    try:
        resource_for_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
    except UnknownResource as error:
        raise ScenarioError(filename, command.line_no, f"apply: {error}") from None
    return obj


def load(text: str, filename: str) -> ControllersScenario:
    def start(cluster: Command):
        options = _options(cluster, filename)
        return options, _Checker(filename, options).check
    options, steps, expect = scenario_body(text, filename, "controllers", start)
    return ControllersScenario(options, tuple(steps), expect, filename)


# ----- running -----------------------------------------------------------------------------------

def execute(cluster: ControllersCluster, command: Command) -> None:
    name, args = command.name, command.args
    if name == "apply":
        cluster.apply_object(manifest_of(command, "<scenario>"))
    elif name == "delete":
        options = dict(word.partition("=")[::2] for word in args[2:])
        grace = options.get("grace")
        cluster.delete_object(args[0], args[1], options.get("propagation", ""), None if grace is None else int(grace))
    elif name == "scale":
        cluster.scale(args[1], int(args[2]))
    elif name == "set-image":
        cluster.set_image(args[1], args[2])
    elif name == "rollout-undo":
        cluster.rollout_undo(args[1])
    elif name in ("pause", "resume"):
        cluster.pause(args[1], name == "pause")
    elif name == "rollout-status":
        cluster.rollout_status(args[1], int(args[2][len("within="):]) if len(args) == 3 else ROLLOUT_WITHIN_TICKS)
    elif name == "tick":
        cluster.tick(int(args[0]) if args else 1)
    elif name == "restart":
        cluster.restart(args[0], args[2] if len(args) == 3 else None)
    elif name in ("crash", "lag", "add-node", "remove-node", "power-off"):
        getattr(cluster, name.replace("-", "_"))(args[0])
    elif name == "crash-between-writes":
        cluster.crash_between_writes(args[0], int(args[1][len("within="):]) if len(args) == 2 else CRASH_WITHIN_TICKS)
    elif name == "hide-events":
        cluster.hide_events(args[0], int(args[1]))
    elif name == "webhook-outage":
        cluster.webhook_outage(int(args[0]), int(args[1][len("fail="):]) if len(args) == 2 else 100)
    elif name == "partition":
        cluster.partition(partition_groups(args))
    elif name in ("heal", "converge"):
        getattr(cluster, name)()


def new_cluster(options: ControllersOptions, parts: ControllersParts, twin: bool = True) -> ControllersCluster:
    """A cluster for these options, with the user's controller loaded when they name one, and
    (``twin``) a twin runner for CTRL-LEVEL-TRIGGERED."""
    operator = load_controller(options.controller) if options.controller else None
    cluster = ControllersCluster(options, parts, operator)
    if twin:
        cluster.twin = lambda lines: run_lines(lines, parts)
    return cluster


def run_lines(lines: list[str], parts: ControllersParts) -> ControllersCluster | None:
    """Run scenario lines (the first the cluster's) leniently, without a twin; None if they do
    not load."""
    try:
        scenario = load("\n".join(lines), "<twin>")
    except ScenarioError:
        return None
    cluster = new_cluster(scenario.options, parts, twin=False)
    play(cluster, list(scenario.steps), "<twin>", True, execute)
    return cluster


def run(scenario: ControllersScenario, parts: ControllersParts = ControllersParts(), lenient: bool = False,
        twin: bool = True) -> ScenarioOutcome:
    cluster = new_cluster(scenario.options, parts, twin)
    violation, failed = play(cluster, list(scenario.steps), scenario.filename, lenient, execute)
    broken = violation.invariant.id if violation is not None else None
    return ScenarioOutcome(cluster, violation, failed or expectation_failure(scenario.expect, broken))

