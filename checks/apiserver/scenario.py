"""apiserver scenario commands. A scenario starts with `area apiserver`; every line is checked
before anything runs, so a malformed file changes nothing and answers `file:line: message`.

    area apiserver
    cluster members=1|3 apiservers=N clients=N seed=S [webhooks] [delay=A..B drop=P]
    tick [K] | settle | crash nX|aX | restart nX|aX | campaign nX | heal
    partition a1 | n1 n2 n3          (disjoint groups of members, instances and clients)
    webhook up|down|slow|wrong       (the admission webhook service)
    compact                           (the store, at its current revision)
    as IDENTITY [via aN] [by uN] VERB KIND [NAME] [-n NS] [WORD ...]   (checks/apiserver/requests.py)
    as IDENTITY [via aN] [by uN] apply -f FILE   (each object of a YAML file, relative to the scenario)
    stop-watches uN
    expect code uN CODE               (the last request of uN was answered CODE; 0: no answer)
    expect held | expect violated NAMESPACE-TERMINATING
    repeat N COMMAND | maybe COMMAND

IDENTITY is one of the cast (checks/apiserver/seed.py): admin, alice, bob, carol, sa:ns1:builder,
anonymous. Without `by`, a request goes from u1; without `via`, to the instance the client used
last. A request to a busy client (one request at a time) finds nothing to do: an error unless
the line is marked `maybe`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import yaml

from checks.apiserver.cluster import ApiCluster, ApiOptions, ApiParts, InvariantViolated
from checks.apiserver.requests import (
    RequestError, build_body, delete_options, impersonation_headers, parse_request, path_of, query_of,
)
from checks.apiserver.seed import IDENTITIES
from checks.scenario import (
    AssertionFailed, Command, ScenarioError, cluster_words, expectation_failure, integer_word, partition_groups, play,
    scenario_body,
)
from impl.apiserver.resources import UnknownResource, resource_for_kind
from impl.apiserver.storage import key_of
from impl.apiserver.webhook_service import MODES

__all__ = ["ApiScenario", "load", "run", "ScenarioOutcome"]

TICKS_PER_LINE_MAX = 100_000
_IDENTITIES = tuple(i.name for i in IDENTITIES)


@attrs.frozen
class ApiScenario:
    options: ApiOptions
    steps: tuple[Command, ...]
    expect: tuple[str, ...] | None
    filename: str
    files: dict = attrs.field(factory=dict, eq=False)  # apply -f FILE: the objects read at load


@attrs.frozen
class ScenarioOutcome:
    cluster: ApiCluster
    violation: InvariantViolated | None
    expectation_failure: str | None


def _options(command: Command, filename: str) -> ApiOptions:
    if command.name != "cluster":
        raise ScenarioError(filename, command.line_no, "an apiserver scenario starts with `cluster members=N "
                                                       "apiservers=N clients=N seed=S [webhooks]`")

    def webhooks(word: str, values: dict[str, Any]) -> bool:
        values["webhooks"] = word == "webhooks"
        return values["webhooks"]
    limits = {"members": (1, 5), "apiservers": (1, 5), "clients": (1, 9), "seed": (0, 2**63)}
    values, faults = cluster_words(command, filename, limits, webhooks,
                                   "members= apiservers= clients= seed= webhooks")
    return ApiOptions(**values, faults=faults)


@attrs.frozen
class _As:
    identity: str
    instance: str | None
    client: str
    words: tuple[str, ...]


class _Checker:
    def __init__(self, filename: str, options: ApiOptions) -> None:
        self.filename = filename
        self.members = tuple(f"n{i}" for i in range(1, options.members + 1))
        self.instances = tuple(f"a{i}" for i in range(1, options.apiservers + 1))
        self.clients = tuple(f"u{i}" for i in range(1, options.clients + 1))
        self.files: dict[str, list[dict[str, Any]]] = {}

    def fail(self, command: Command, message: str) -> ScenarioError:
        return ScenarioError(self.filename, command.line_no, message)

    def node(self, command: Command, word: str, allowed: tuple[str, ...]) -> str:
        if word not in allowed:
            raise self.fail(command, f"unknown node {word!r}; expected one of {', '.join(allowed)}")
        return word

    def check(self, command: Command) -> None:
        name, args = command.name, command.args
        if name == "as":
            self.check_request(command, split_as(command, self.filename))
        elif name == "tick":
            if len(args) > 1:
                raise self.fail(command, "usage: tick [K]")
            if args:
                integer_word(self.filename, command, args[0], "ticks", 1, TICKS_PER_LINE_MAX)
        elif name in ("settle", "heal", "compact"):
            if args:
                raise self.fail(command, f"usage: {name}")
        elif name in ("crash", "restart"):
            if len(args) != 1:
                raise self.fail(command, f"usage: {name} nX|aX")
            self.node(command, args[0], self.members + self.instances)
        elif name == "campaign":
            if len(args) != 1:
                raise self.fail(command, "usage: campaign nX")
            self.node(command, args[0], self.members)
        elif name == "webhook":
            if len(args) != 1 or args[0] not in MODES:
                raise self.fail(command, f"usage: webhook {'|'.join(MODES)}")
        elif name == "stop-watches":
            if len(args) != 1:
                raise self.fail(command, "usage: stop-watches uN")
            self.node(command, args[0], self.clients)
        elif name == "partition":
            self.check_partition(command)
        elif name == "expect":
            self.check_expect(command)
        elif name in ("cluster", "area"):
            raise self.fail(command, f"`{name}` may only open the scenario")
        else:
            raise self.fail(command, f"unknown command {name!r}")

    def check_request(self, command: Command, request: _As) -> None:
        if request.instance is not None:
            self.node(command, request.instance, self.instances)
        self.node(command, request.client, self.clients)
        if request.words[:1] == ("apply",):
            if len(request.words) != 3 or request.words[1] != "-f":
                raise self.fail(command, "usage: as IDENTITY apply -f FILE")
            self.files[request.words[2]] = self.read_file(command, request.words[2])
            return
        try:
            parse_request(list(request.words))
        except RequestError as error:
            raise self.fail(command, str(error)) from None

    def read_file(self, command: Command, name: str) -> list[dict[str, Any]]:
        path = Path(self.filename).parent / name
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise self.fail(command, f"cannot read {name}: {str(error).splitlines()[0]}") from None
        objects = []
        for doc in documents:
            items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
            for obj in items or []:
                if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
                    raise self.fail(command, f"{name}: every object needs apiVersion, kind and metadata")
                try:
                    resource_for_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
                except UnknownResource as error:
                    raise self.fail(command, f"{name}: {error}") from None
                objects.append(obj)
        return objects

    def check_partition(self, command: Command) -> None:
        groups = partition_groups(command.args)
        named = [w for g in groups for w in g]
        if len(groups) < 2 or any(not g for g in groups) or len(set(named)) != len(named):
            raise self.fail(command, "usage: partition a1 | n1 n2 n3 (disjoint, non-empty groups)")
        for word in named:
            self.node(command, word, self.members + self.instances + self.clients)

    def check_expect(self, command: Command) -> None:
        args = command.args
        if len(args) != 3 or args[0] != "code" or not args[2].isdigit():
            raise self.fail(command, "usage: expect code uN CODE | expect held | expect violated ID")
        self.node(command, args[1], self.clients)


def split_as(command: Command, filename: str) -> _As:
    """`as IDENTITY [via aN] [by uN] WORDS...`"""
    words = list(command.args)
    if not words or words[0] not in _IDENTITIES:
        raise ScenarioError(filename, command.line_no, f"usage: as IDENTITY [via aN] [by uN] VERB ...; identities "
                                                       f"are {', '.join(_IDENTITIES)}")
    identity, words = words[0], words[1:]
    instance, client = None, "u1"
    while len(words) >= 2 and words[0] in ("via", "by"):
        if words[0] == "via":
            instance = words[1]
        else:
            client = words[1]
        words = words[2:]
    if not words:
        raise ScenarioError(filename, command.line_no, "a request needs a verb")
    return _As(identity, instance, client, tuple(words))


def load(text: str, filename: str) -> ApiScenario:
    checkers: list[_Checker] = []

    def start(cluster: Command):
        options = _options(cluster, filename)
        checkers.append(_Checker(filename, options))
        return options, checkers[0].check
    options, steps, expect = scenario_body(text, filename, "apiserver", start)
    return ApiScenario(options, tuple(steps), expect, filename, checkers[0].files)


# ----- running ---------------------------------------------------------------------------------

def send(cluster: ApiCluster, line: str, request: _As) -> None:
    """One request line (not apply): build it from the words and the store's latest state."""
    parsed = parse_request(list(request.words)).resolved(cluster.observer.revision())
    identity, client, instance = request.identity, request.client, request.instance
    if parsed.verb == "watch":
        cluster.watch(line, client, identity, path_of(parsed), parsed.number("from"),
                      query=query_of(parsed), instance=instance)
        return
    method = {"create": "POST", "get": "GET", "list": "GET", "update": "PUT", "patch": "PATCH", "delete": "DELETE",
              "deletecollection": "DELETE"}[parsed.verb]
    body = delete_options(parsed)
    if parsed.verb in ("create", "update", "patch"):
        key = key_of(parsed.resource, parsed.namespace, parsed.name).decode() if parsed.name else ""
        body = build_body(parsed, cluster.observer.objects.get(key))
    query = query_of(parsed)
    if parsed.has("continue"):  # the next page of this client's last list
        query = tuple(q for q in query if q[0] != "limit") + (("continue", cluster.last_continue(client, path_of(parsed))),) + tuple(
            q for q in query if q[0] == "limit")
    content_type = "application/merge-patch+json" if parsed.verb == "patch" else ""
    cluster.request(line, client, identity, method, path_of(parsed), query=query, body=body,
                    content_type=content_type, instance=instance, headers=impersonation_headers(parsed))


def apply_file(cluster: ApiCluster, line: str, request: _As, objects: list[dict[str, Any]]) -> None:
    """Create each object of the file in turn, waiting for each answer."""
    for obj in objects:
        resource = resource_for_kind(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace", "default") if resource.namespaced else None
        cluster.request(line, request.client, request.identity, "POST", resource.path(namespace), body=obj,
                        instance=request.instance)
        cluster.settle()


def _execute(files: dict[str, list[dict[str, Any]]]):
    def execute(cluster: ApiCluster, command: Command) -> None:
        name, args = command.name, command.args
        if name == "as":
            request = split_as(command, "<scenario>")
            line = command.text
            if request.words[:1] == ("apply",):
                apply_file(cluster, line, request, files[request.words[2]])
            else:
                send(cluster, line, request)
        elif name == "tick":
            cluster.tick(int(args[0]) if args else 1)
        elif name == "settle":
            cluster.settle()
        elif name in ("crash", "restart", "campaign", "webhook", "stop-watches"):
            getattr(cluster, name.replace("-", "_"))(args[0])
        elif name == "heal":
            cluster.heal()
        elif name == "compact":
            cluster.compact()
        elif name == "partition":
            cluster.partition(partition_groups(args))
        elif name == "expect":
            expect_code(cluster, args[1], int(args[2]))
    return execute


def expect_code(cluster: ApiCluster, client_id: str, code: int) -> None:
    cluster._record(f"expect code {client_id} {code}")
    calls = [c for c in cluster.api_log.calls if c.client == client_id]
    if not calls:
        raise AssertionFailed(f"{client_id} made no request")
    got = calls[-1].response.code if calls[-1].response is not None else 0
    if got != code:
        body = calls[-1].response.body if calls[-1].response is not None else None
        why = f": {body.get('message')}" if isinstance(body, dict) and body.get("message") else ""
        raise AssertionFailed(f"the last request of {client_id} was answered {got}{why}")


def run(scenario: ApiScenario, parts: ApiParts = ApiParts(), lenient: bool = False) -> ScenarioOutcome:
    cluster = ApiCluster(scenario.options, parts)
    violation, failed = play(cluster, list(scenario.steps), scenario.filename, lenient, _execute(scenario.files))
    broken = violation.invariant.id if violation is not None else None
    return ScenarioOutcome(cluster, violation, failed or expectation_failure(scenario.expect, broken))
