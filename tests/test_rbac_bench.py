"""The bench's policy generator and figures, on a small size so that the bench cannot rot."""

from rich.console import Console

from bench.rbac import _measure, generated_policy
from impl.apiserver.authz.rbac import RBACAuthorizer


def test_generated_policy_has_the_asked_size_and_is_deterministic():
    policy = generated_policy(roles=80, bindings=200, namespaces=4)
    assert (len(policy.roles), len(policy.bindings)) == (80, 200)
    assert policy == generated_policy(roles=80, bindings=200, namespaces=4)
    RBACAuthorizer(policy)  # aggregation reaches its fixpoint


def test_measure_prints_every_figure():
    lines = _measure("small", generated_policy(roles=40, bindings=60, namespaces=3), Console())
    text = "\n".join(lines)
    for word in ("can-i", "who-can", "diff", "escalations", "ratio"):
        assert word in text


def test_install_manifest_has_the_size_and_the_rbac_objects(tmp_path):
    from bench.rbac import install_manifest
    from impl.apiserver.authz.manifests import load_manifests

    path = install_manifest(tmp_path, 300_000)
    assert path.stat().st_size >= 300_000
    assert len(load_manifests([path], "argocd").policy.roles) == 9
