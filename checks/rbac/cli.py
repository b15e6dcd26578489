"""``kinv rbac``: can-i, who-can, diff and escalations over policy read from YAML.

The verbs follow ``kubectl auth can-i`` (DESIGN.md, "The command line"):

    kinv rbac can-i VERB (TYPE[/NAME] | URL) [--subresource S] [-n NS] --as USER [--as-group G ...] -f PATH ...
    kinv rbac who-can VERB (TYPE[/NAME] | URL) [--subresource S] [-n NS] -f PATH ...
    kinv rbac diff -f OLD ... --to NEW ...
    kinv rbac escalations -f PATH ...

can-i prints ``yes`` or ``no`` and exits 0 or 1; bad input is one line and exit 2.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from checks.area import InputError
from checks.rbac.request import build_request, identity
from checks.rbac.whocan import who_can
from impl.apiserver.authz.manifests import ManifestError, load_policy
from impl.apiserver.authz.rbac import Policy, RBACAuthorizer
from impl.apiserver.authz.types import Request, UserInfo

__all__ = ["add_subcommands", "load", "rule_text"]

EXIT_YES, EXIT_NO = 0, 1
DEFAULT_NAMESPACE = "default"


def add_subcommands(commands) -> None:
    rbac = commands.add_parser("rbac", help="ask questions about RBAC policy in YAML files")
    verbs = rbac.add_subparsers(dest="rbac_command", required=True, parser_class=type(rbac))

    can_i = verbs.add_parser("can-i", help="may USER do VERB on TYPE[/NAME] or URL? (yes: exit 0, no: exit 1)")
    _request_arguments(can_i)
    can_i.add_argument("--as", dest="as_user", required=True, metavar="USER",
                       help="the user asking (system:serviceaccount:NS:NAME for a service account)")
    can_i.add_argument("--as-group", dest="as_groups", action="append", default=[], metavar="G",
                       help="a group the user is in, besides system:authenticated (repeatable)")
    _policy_argument(can_i)
    can_i.set_defaults(func=_cmd_can_i)

    whocan = verbs.add_parser("who-can", help="every subject that may do VERB on TYPE[/NAME] or URL")
    _request_arguments(whocan)
    _policy_argument(whocan)
    whocan.set_defaults(func=_cmd_who_can)

    diff = verbs.add_parser("diff", help="requests one policy allows and the other does not, with examples")
    _policy_argument(diff)
    diff.add_argument("--to", dest="new_paths", action="extend", nargs="+", required=True, metavar="NEW")
    diff.set_defaults(func=_cmd_diff)

    escalations = verbs.add_parser("escalations", help="subjects with escalation paths, direct and transitive")
    _policy_argument(escalations)
    escalations.set_defaults(func=_cmd_escalations)


def _request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verb", metavar="VERB", help="get, list, create, impersonate, bind, ...")
    parser.add_argument("target", metavar="TYPE[/NAME]|URL",
                        help="pods, deploy/web, leases.coordination.k8s.io, or a URL such as /healthz")
    parser.add_argument("--subresource", default="", metavar="S", help="log, exec, scale, status, ...")
    parser.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE, metavar="NS",
                        help="namespace (default: default; ignored for cluster-scoped types and URLs)")


def _policy_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", dest="paths", action="extend", nargs="+", required=True, metavar="PATH",
                        help="YAML files or folders as kubectl get -o yaml writes them")


def load(paths: list[str]) -> Policy:
    try:
        return load_policy(paths)
    except ManifestError as error:
        raise InputError(str(error)) from None


def _request(args: argparse.Namespace, user: UserInfo) -> Request:
    try:
        return build_request(user, args.verb, args.target, args.subresource, args.namespace)
    except ValueError as error:
        raise InputError(str(error)) from None


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


def _cmd_can_i(args: argparse.Namespace, console: Console) -> int:
    user = identity(args.as_user, args.as_groups)
    request = _request(args, user)
    allowed = any(True for _ in RBACAuthorizer(load(args.paths)).grants(request))
    print("yes" if allowed else "no")
    return EXIT_YES if allowed else EXIT_NO


def _cmd_who_can(args: argparse.Namespace, console: Console) -> int:
    request = _request(args, UserInfo(name=""))
    holders = who_can(RBACAuthorizer(load(args.paths)), request)
    if not holders:
        console.print(f"no subject may {request.describe()}")
        return 0
    console.print(f"who can {request.describe()}:")
    for holder in holders:
        console.print(f"  {holder.subject.describe()}  via {holder.binding.describe()}"
                      f"  rule #{holder.index}: {rule_text(holder.rule)}", soft_wrap=True)
    return 0


def _cmd_diff(args: argparse.Namespace, console: Console) -> int:
    from checks.rbac.diff import diff_policies, render_diff

    result = diff_policies(load(args.paths), load(args.new_paths))
    render_diff(result, console)
    return 0 if result.same else 1  # like diff(1): 1 when the policies differ


def _cmd_escalations(args: argparse.Namespace, console: Console) -> int:
    from checks.rbac.escalations import find_escalations, render_escalations

    findings = find_escalations(load(args.paths))
    render_escalations(findings, console)
    return 0
