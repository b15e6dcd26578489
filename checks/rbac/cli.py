"""``kinv rbac``: can-i, who-can, diff and escalations over policy read from YAML.

The verbs follow ``kubectl auth can-i`` (DESIGN.md, "The command line"):

    kinv rbac can-i VERB (TYPE[/NAME] | URL) [--subresource S] [-n NS] --as USER [--as-group G ...] -f PATH ...
    kinv rbac who-can VERB (TYPE[/NAME] | URL) [--subresource S] [-n NS] -f PATH ...
    kinv rbac diff -f OLD ... --to NEW ... [--limit N]
    kinv rbac escalations -f PATH ...

Every verb also takes ``--default-namespace NS`` (the namespace of Roles and RoleBindings that
name none, as ``kubectl apply -n NS``), ``--with-bootstrap`` (the default policy of a fresh
cluster loaded with the files) and ``--json``; ``-f`` may stand anywhere on the line. can-i
prints ``yes`` or ``no`` and exits 0 or 1; diff and escalations exit 1 when they report something;
bad input is one line and exit 2. Warnings (objects put in ``default``, bindings to roles not in
the input, verbs and types kubectl would not know) go to stderr, one line each.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import attrs
from rich.console import Console

from checks.area import InputError
from checks.rbac.request import (KNOWN_RESOURCE_VERBS, KNOWN_URL_VERBS, build_request, identity, is_builtin_type)
from checks.rbac.whocan import who_can
from impl.apiserver.authz.manifests import ManifestError, load_manifests, with_bootstrap
from impl.apiserver.authz.rbac import ALL, Policy, RBACAuthorizer
from impl.apiserver.authz.types import Request, UserInfo

__all__ = ["add_subcommands", "load", "rule_text", "paths_last", "Input"]

EXIT_YES, EXIT_NO = 0, 1
DEFAULT_NAMESPACE = "default"
PATH_OPTIONS = ("-f", "--filename", "--to")
WARNED_BINDINGS_MAX = 5  # dangling bindings named one by one; the rest are counted
DIFF_LIMIT = 100
_NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # an RFC 1123 label, as kubectl checks


def paths_last(args: list[str]) -> list[str]:
    """The arguments with each ``-f``/``--to`` group moved to the end, so that ``-f`` may stand
    anywhere on the line: a group is the option, its first value, and the values after it that
    name existing files or folders (``-f a.yaml get pods``: ``get`` is the verb, not a file)."""
    kept, moved, index = [], [], 0
    while index < len(args):
        if args[index] in PATH_OPTIONS and index + 1 < len(args):
            moved += args[index:index + 2]
            index += 2
            while index < len(args) and not args[index].startswith("-") and Path(args[index]).exists():
                moved.append(args[index])
                index += 1
        else:
            kept.append(args[index])
            index += 1
    return kept + moved


def _verb_parser_class(base: type) -> type:
    class VerbParser(base):
        def parse_known_args(self, args=None, namespace=None):
            return super().parse_known_args(paths_last(list(sys.argv[1:] if args is None else args)), namespace)

    return VerbParser


def add_subcommands(commands) -> None:
    rbac = commands.add_parser("rbac", help="ask questions about RBAC policy in YAML files")
    verbs = rbac.add_subparsers(dest="rbac_command", required=True, parser_class=_verb_parser_class(type(rbac)))

    can_i = verbs.add_parser("can-i", help="may USER do VERB on TYPE[/NAME] or URL? (yes: exit 0, no: exit 1)")
    _request_arguments(can_i)
    can_i.add_argument("--as", dest="as_user", required=True, metavar="USER",
                       help="the user asking (system:serviceaccount:NS:NAME for a service account)")
    can_i.add_argument("--as-group", dest="as_groups", action="append", default=[], metavar="G",
                       help="a group the user is in, besides system:authenticated (repeatable)")
    _common_arguments(can_i)
    can_i.set_defaults(func=_cmd_can_i)

    whocan = verbs.add_parser("who-can", help="every subject that may do VERB on TYPE[/NAME] or URL")
    _request_arguments(whocan)
    _common_arguments(whocan)
    whocan.set_defaults(func=_cmd_who_can)

    diff = verbs.add_parser("diff", help="every permission each subject lost or gained, and a z3 proof when none")
    _common_arguments(diff)
    diff.add_argument("--to", dest="new_paths", action="extend", nargs="+", required=True, metavar="NEW")
    diff.add_argument("--limit", type=_limit, default=DIFF_LIMIT, metavar="N",
                      help=f"print at most N changes (default {DIFF_LIMIT}; 0: all)")
    diff.set_defaults(func=_cmd_diff)

    escalations = verbs.add_parser("escalations", help="subjects with escalation paths, direct and transitive (exit 1 if any)")
    _common_arguments(escalations)
    escalations.set_defaults(func=_cmd_escalations)


def _limit(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0: {text!r}")
    return int(text)


def _request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verb", metavar="VERB", help="get, list, create, impersonate, bind, ...")
    parser.add_argument("target", metavar="TYPE[/NAME]|URL",
                        help="pods, deploy/web, leases.coordination.k8s.io, or a URL such as /healthz")
    parser.add_argument("--subresource", default="", metavar="S", help="log, exec, scale, status, ...")
    parser.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE, metavar="NS",
                        help="namespace (default: default; ignored for cluster-scoped types and URLs)")


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", dest="paths", action="extend", nargs="+", required=True, metavar="PATH",
                        help="YAML files or folders as kubectl get -o yaml writes them (anywhere on the line)")
    parser.add_argument("--default-namespace", metavar="NS",
                        help="namespace of Roles and RoleBindings that name none, as kubectl apply -n NS (default: default)")
    parser.add_argument("--with-bootstrap", action="store_true",
                        help="load the default policy of a fresh cluster (cluster-admin, admin, edit, view, system:*) too")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


@attrs.frozen
class Input:
    """The loaded policy, its authorizer and what the user should be told about the input."""

    policy: Policy
    authorizer: RBACAuthorizer
    warnings: tuple[str, ...]


def load(paths: list[str], default_namespace: str | None = None, bootstrap: bool = False) -> Input:
    if default_namespace is not None and not _NAMESPACE_NAME.match(default_namespace):
        raise InputError(f"--default-namespace: not a namespace name: {default_namespace!r}")
    try:
        loaded = load_manifests(paths, default_namespace)
    except ManifestError as error:
        raise InputError(str(error)) from None
    policy = with_bootstrap(loaded.policy) if bootstrap else loaded.policy
    authorizer = RBACAuthorizer(policy)
    warnings = []
    if loaded.defaulted and default_namespace is None:
        first = ", ".join(loaded.defaulted[:3]) + (", ..." if len(loaded.defaulted) > 3 else "")
        warnings.append(f"{len(loaded.defaulted)} Roles and RoleBindings name no namespace and were put in "
                        f"{DEFAULT_NAMESPACE} ({first}); --default-namespace NS puts them where kubectl apply -n NS would")
    warnings += _dangling(authorizer, bootstrap)
    return Input(policy, authorizer, tuple(warnings))


def _dangling(authorizer: RBACAuthorizer, bootstrap: bool) -> list[str]:
    """Bindings to a role the input does not define: they grant nothing here."""
    dangling = [b for b in authorizer.bindings if authorizer.role_for(b) is None]
    hint = "" if bootstrap else "; --with-bootstrap loads the default roles of a fresh cluster"
    found = [f"{b.describe()}: no such role in the input, so it grants nothing here{hint}"
             for b in dangling[:WARNED_BINDINGS_MAX]]
    if len(dangling) > WARNED_BINDINGS_MAX:
        found.append(f"and {len(dangling) - WARNED_BINDINGS_MAX} more bindings to roles not in the input")
    return found


def _loaded(args: argparse.Namespace, paths: list[str] | None = None) -> Input:
    return load(paths or args.paths, args.default_namespace, args.with_bootstrap)


def _warn(warnings) -> None:
    for warning in warnings:
        print(f"kinv: warning: {warning}", file=sys.stderr)


def _request(args: argparse.Namespace, user: UserInfo) -> Request:
    try:
        return build_request(user, args.verb, args.target, args.subresource, args.namespace)
    except ValueError as error:
        raise InputError(str(error)) from None


def _vocabulary_warnings(request: Request, policy: Policy, type_text: str) -> list[str]:
    """What kubectl would warn about: a verb it does not know, a type its discovery does not have.
    Verbs and types some rule of the input names are known too (custom verbs, custom resources)."""
    rules = [rule for role in policy.roles for rule in role.rules]
    warnings = []
    known_verbs = KNOWN_RESOURCE_VERBS if request.resource_request else KNOWN_URL_VERBS
    if request.verb not in known_verbs and not any(request.verb in rule.verbs for rule in rules):
        warnings.append(f"'{request.verb}' is not a known verb; no rule names it, so only a rule with verb * allows it")
    if request.resource_request and not is_builtin_type(type_text) and not any(
            request.resource in rule.resources and (request.api_group in rule.api_groups or ALL in rule.api_groups)
            for rule in rules):
        warnings.append(f"no resource type '{type_text}': not built in, and no rule of the input names it")
    return warnings


def rule_text(rule) -> str:
    """A rule the way ``kubectl describe role`` would summarise it."""
    if rule.non_resource_urls:
        what = "urls " + ",".join(rule.non_resource_urls)
    else:
        groups = ",".join(g or '""' for g in rule.api_groups)
        what = f"resources {','.join(rule.resources)} in groups {groups}"
        if rule.resource_names:
            what += f" named {','.join(rule.resource_names)}"
    return f"verbs {','.join(rule.verbs)} on {what}"


def _request_json(request: Request) -> dict:
    return {"verb": request.verb, "api_group": request.api_group, "resource": request.resource,
            "subresource": request.subresource, "name": request.name, "namespace": request.namespace,
            "path": request.path, "resource_request": request.resource_request}


def _print_json(value: dict) -> None:
    print(json.dumps(value), flush=True)


def _cmd_can_i(args: argparse.Namespace, console: Console) -> int:
    user = identity(args.as_user, args.as_groups)
    request = _request(args, user)
    loaded = _loaded(args)
    warnings = list(loaded.warnings) + _vocabulary_warnings(request, loaded.policy, args.target.partition("/")[0])
    grants = list(loaded.authorizer.grants(request))
    _warn(warnings)
    if args.json:
        _print_json({"allowed": bool(grants), "user": user.name, "groups": list(user.groups),
                     "request": _request_json(request), "warnings": warnings,
                     "granted_by": [f"{g.binding.describe()}, rule #{g.index}" for g in grants]})
    else:
        print("yes" if grants else "no")
    return EXIT_YES if grants else EXIT_NO


def _cmd_who_can(args: argparse.Namespace, console: Console) -> int:
    request = _request(args, UserInfo(name=""))
    loaded = _loaded(args)
    warnings = list(loaded.warnings) + _vocabulary_warnings(request, loaded.policy, args.target.partition("/")[0])
    holders = who_can(loaded.authorizer, request)
    _warn(warnings)
    if args.json:
        _print_json({"request": _request_json(request), "warnings": warnings, "subjects": [
            {"kind": h.subject.kind, "name": h.subject.name, "namespace": h.subject.namespace,
             "binding": h.binding.describe(), "rule": h.index, "rule_text": rule_text(h.rule)} for h in holders]})
        return 0
    if not holders:
        console.print(f"no subject may {request.describe()}", markup=False, soft_wrap=True)
        return 0
    console.print(f"who can {request.describe()}:", markup=False, soft_wrap=True)
    for holder in holders:
        console.print(f"  {holder.subject.describe()}  via {holder.binding.describe()}"
                      f"  rule #{holder.index}: {rule_text(holder.rule)}", soft_wrap=True, markup=False)
    return 0


def _change_json(change) -> dict:
    from checks.rbac.diff import permission_text

    subject = change.subject
    return {"subject": {"kind": subject.kind, "name": subject.name, "namespace": subject.namespace},
            "scope": change.scope, "permission": permission_text(change.permission)}


def _cmd_diff(args: argparse.Namespace, console: Console) -> int:
    from checks.rbac.diff import diff_policies, permission_changes, render_changes

    old, new = _loaded(args), _loaded(args, args.new_paths)
    result = diff_policies(old.policy, new.policy)
    lost, gained = permission_changes(old.policy, new.policy)
    _warn(old.warnings + new.warnings)
    if args.json:
        _print_json({"same": result.same, "lost": [_change_json(c) for c in lost],
                     "gained": [_change_json(c) for c in gained], "warnings": list(old.warnings + new.warnings)})
    elif result.same and not lost and not gained:
        console.print(f"no difference: z3 proved both policies allow the same of all {result.universe_size:,} "
                      "requests of the joint universe", markup=False, soft_wrap=True)
    else:
        console.print(f"{len(lost)} permissions lost, {len(gained)} gained, per subject:", markup=False, soft_wrap=True)
        render_changes(lost, gained, console, args.limit)
    return 0 if result.same and not lost and not gained else 1  # like diff(1): 1 when the policies differ


def _cmd_escalations(args: argparse.Namespace, console: Console) -> int:
    from checks.rbac.escalations import find_escalations, render_escalations

    loaded = _loaded(args)
    report = find_escalations(loaded.policy, loaded.authorizer)
    _warn(loaded.warnings)
    if args.json:
        _print_json({"warnings": list(loaded.warnings), "findings": [
            {"subject": attrs.asdict(f.subject), "risk": f.risk, "scope": f.scope, "detail": f.detail}
            for f in report.findings], "transitive": [
            {"subject": attrs.asdict(g.subject), "scope": g.scope, "what": g.what, "how": g.how} for g in report.gains]})
    else:
        render_escalations(report, console)
    return 1 if report.findings or report.gains else 0  # findings reported: exit 1 (DESIGN.md exit codes)
