"""The example operator (examples/settings_copier.py) on the reference control plane, and its
buggy variant (examples/settings_copier_buggy.py): the correct one removes a namespace's copy
whatever it missed while it was down; the edge-triggered one leaks it."""

from __future__ import annotations

from examples.settings_copier import SettingsCopier
from examples.settings_copier_buggy import EdgeTriggeredSettingsCopier
from impl.controllers.host import ControllerHost
from tests.controllers_world import CONTROLLER, admin_write, hosted_cluster, run_hosted_until, stored


def _namespace(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _cluster(copier):
    cluster = hosted_cluster((copier,))
    for body in (_namespace("kinv-system"), _namespace("team-a", **{"kinv.dev/settings": "copy"}),
                 _namespace("team-b")):
        assert admin_write(cluster, "POST", "/api/v1/namespaces", body).code == 201
    source = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"level": "1"}}
    assert admin_write(cluster, "POST", "/api/v1/namespaces/kinv-system/configmaps", source).code == 201
    run_hosted_until(cluster, lambda: _copy(cluster, "team-a") is not None)
    return cluster


def _copy(cluster, namespace: str):
    return stored(cluster, "configmaps").get(f"{namespace}/settings")


def _opt_out(cluster, namespace: str) -> None:
    patch = {"metadata": {"labels": {"kinv.dev/settings": None}}}
    assert admin_write(cluster, "PATCH", f"/api/v1/namespaces/{namespace}", patch).code == 200


def _restart(cluster, copier) -> ControllerHost:
    """The operator's process starts again: a fresh reconciler, empty caches, the world's clock."""
    host = ControllerHost(CONTROLLER, cluster.instance_ids, cluster.api_log, cluster.credentials["admin"], (copier,),
                          disk=cluster.world.disks[CONTROLLER], clock=lambda: cluster.world.now)
    cluster.world.nodes[CONTROLLER] = host
    return host


def _quiet(cluster) -> bool:
    host = cluster.world.nodes[CONTROLLER]
    return host is not None and host.quiet()


def test_copies_follow_the_source_and_the_namespaces_that_ask():
    cluster = _cluster(SettingsCopier())
    assert _copy(cluster, "team-a")["data"] == {"level": "1"}
    assert _copy(cluster, "team-b") is None
    admin_write(cluster, "PATCH", "/api/v1/namespaces/kinv-system/configmaps/settings", {"data": {"level": "2"}})
    run_hosted_until(cluster, lambda: (_copy(cluster, "team-a") or {}).get("data") == {"level": "2"})
    _opt_out(cluster, "team-a")
    run_hosted_until(cluster, lambda: _copy(cluster, "team-a") is None)


def test_a_copy_is_removed_even_if_the_operator_was_down_when_the_namespace_opted_out():
    cluster = _cluster(SettingsCopier())
    cluster.world.crash(CONTROLLER)
    _opt_out(cluster, "team-a")
    _restart(cluster, SettingsCopier())
    run_hosted_until(cluster, lambda: _copy(cluster, "team-a") is None)


def test_the_edge_triggered_variant_leaks_the_copy_it_never_saw_go():
    cluster = _cluster(EdgeTriggeredSettingsCopier())
    assert admin_write(cluster, "POST", "/api/v1/namespaces", _namespace("team-c", **{"kinv.dev/settings": "copy"})).code == 201
    run_hosted_until(cluster, lambda: _copy(cluster, "team-c") is not None)
    _opt_out(cluster, "team-c")  # seen while running: this one it does remove
    run_hosted_until(cluster, lambda: _copy(cluster, "team-c") is None)
    cluster.world.crash(CONTROLLER)
    _opt_out(cluster, "team-a")
    _restart(cluster, EdgeTriggeredSettingsCopier())
    run_hosted_until(cluster, lambda: _quiet(cluster))
    for _ in range(100):
        cluster.world.tick()
    assert _copy(cluster, "team-a") is not None  # leaked: the namespace no longer asks for it
