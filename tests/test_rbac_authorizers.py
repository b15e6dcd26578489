"""The Node, ABAC, webhook and trivial authorizers, and the union chain."""

import pytest

from checks.rbac.world import sample_world
from impl.apiserver.authz.abac import AbacAuthorizer, parse_abac
from impl.apiserver.authz.chain import AlwaysAllow, AlwaysDeny, PrivilegedGroups, UnionAuthorizer, allowed
from impl.apiserver.authz.node import NODES_GROUP, NodeAuthorizer, node_user
from impl.apiserver.authz.types import Decision, Request, UserInfo
from impl.apiserver.authz.webhook import WebhookAuthorizer, WebhookReply, WebhookUnavailable

WORLD = sample_world()


def node_request(node, resource, namespace, name, verb="get"):
    user = UserInfo.authenticated(node_user(node), (NODES_GROUP,))
    return Request(user=user, verb=verb, resource=resource, namespace=namespace, name=name)


@pytest.mark.parametrize("node, resource, namespace, name, expected", [
    ("node-1", "secrets", "team-a", "db-password", Decision.ALLOW),
    ("node-1", "secrets", "team-b", "db-password", Decision.NO_OPINION),  # same name, other pod's namespace
    ("node-2", "secrets", "team-b", "api-token", Decision.ALLOW),
    ("node-3", "secrets", "team-a", "db-password", Decision.NO_OPINION),
    ("node-1", "configmaps", "team-a", "app-config", Decision.ALLOW),
    ("node-1", "persistentvolumeclaims", "team-a", "data", Decision.ALLOW),
    ("node-1", "persistentvolumes", "", "pv-data", Decision.ALLOW),         # via the claim its pod uses
    ("node-2", "persistentvolumes", "", "pv-data", Decision.NO_OPINION),
    ("node-1", "secrets", "team-a", "", Decision.NO_OPINION),               # no listing secrets
])
def test_node_reads_only_what_its_pods_reference(node, resource, namespace, name, expected):
    assert NodeAuthorizer(WORLD.graph).authorize(node_request(node, resource, namespace, name)) is expected


def test_node_writes_and_non_nodes():
    node = NodeAuthorizer(WORLD.graph)
    assert node.authorize(node_request("node-1", "secrets", "team-a", "db-password", verb="update")) is Decision.NO_OPINION
    assert node.authorize(node_request("node-1", "pods", "team-a", "web", verb="get")) is Decision.ALLOW
    impostor = Request(user=UserInfo.authenticated("system:node:node-1"), verb="get", resource="secrets",
                       namespace="team-a", name="db-password")  # not in system:nodes
    assert node.authorize(impostor) is Decision.NO_OPINION


def test_abac_lines():
    policies = parse_abac(
        '{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", '
        '"spec": {"user": "alice", "namespace": "*", "resource": "*", "apiGroup": "*", "readonly": true}}\n'
        '{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", '
        '"spec": {"group": "system:authenticated", "nonResourcePath": "/healthz*", "readonly": true}}\n', "abac.jsonl")
    abac = AbacAuthorizer(policies)
    alice = UserInfo.authenticated("alice")
    assert abac.authorize(Request(user=alice, verb="get", resource="pods", namespace="x")) is Decision.ALLOW
    assert abac.authorize(Request(user=alice, verb="delete", resource="pods", namespace="x")) is Decision.NO_OPINION
    assert abac.authorize(Request(user=alice, verb="get", resource_request=False, path="/healthz/etcd")) is Decision.ALLOW
    with pytest.raises(ValueError, match="abac.jsonl:1: invalid ABAC policy line"):
        parse_abac("not json", "abac.jsonl")


def test_webhook_failure_modes():
    request = Request(user=UserInfo("u"), verb="get", resource="pods")

    def down(_):
        raise WebhookUnavailable("timeout")

    assert WebhookAuthorizer(down).authorize(request) is Decision.NO_OPINION
    assert WebhookAuthorizer(down, failure_policy="Deny").authorize(request) is Decision.DENY
    assert WebhookAuthorizer(lambda _: {"allowed": True}).authorize(request) is Decision.NO_OPINION  # garbage
    assert WebhookAuthorizer(lambda _: WebhookReply(allowed=True)).authorize(request) is Decision.ALLOW
    assert WebhookAuthorizer(lambda _: WebhookReply(denied=True)).authorize(request) is Decision.DENY
    with pytest.raises(ValueError):
        WebhookAuthorizer(down, failure_policy="Allow")


def test_webhook_caches_answers_but_not_failures():
    calls = []

    def flaky(request):
        calls.append(request)
        if len(calls) == 1:
            raise WebhookUnavailable("blip")
        return WebhookReply(allowed=True)

    webhook = WebhookAuthorizer(flaky)
    request = Request(user=UserInfo("u"), verb="get", resource="pods")
    assert [webhook.authorize(request) for _ in range(3)] == [Decision.NO_OPINION, Decision.ALLOW, Decision.ALLOW]
    assert len(calls) == 2


def test_union_first_decisive_wins():
    request = Request(user=UserInfo("u"), verb="get", resource="pods")
    assert UnionAuthorizer([AlwaysDeny(), AlwaysAllow()]).authorize(request) is Decision.DENY
    assert UnionAuthorizer([AlwaysAllow(), AlwaysDeny()]).authorize(request) is Decision.ALLOW
    assert UnionAuthorizer([]).authorize(request) is Decision.NO_OPINION
    assert not allowed(UnionAuthorizer([]).authorize(request))  # all NoOpinion means forbidden


def test_system_masters_is_allowed_before_any_mode():
    root = Request(user=UserInfo.authenticated("root", ("system:masters",)), verb="delete", resource="nodes")
    other = Request(user=UserInfo.authenticated("eve"), verb="delete", resource="nodes")
    chain = UnionAuthorizer([PrivilegedGroups(), AlwaysDeny()])
    assert chain.authorize(root) is Decision.ALLOW
    assert chain.authorize(other) is Decision.DENY
