"""`kinv rbac` can-i, who-can, diff and escalations, through the real entry point."""

from pathlib import Path

import pytest

from checks.cli import main

HERE = Path(__file__).parent / "rbac"
SHAPE = str(HERE / "default-shape")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, answer", [
    (["get", "pods", "-n", "shop", "--as", "carol"], "yes"),
    (["get", "secrets", "-n", "shop", "--as", "carol"], "no"),
    (["create", "pods", "--subresource", "exec", "-n", "shop", "--as", "dave", "--as-group", "developers"], "yes"),
    (["patch", "deploy", "-n", "shop", "--as", "system:serviceaccount:shop:deployer"], "yes"),
    (["get", "configmaps/release", "-n", "shop", "--as", "system:serviceaccount:ci:release-bot"], "yes"),
    (["list", "configmaps", "-n", "shop", "--as", "system:serviceaccount:ci:release-bot"], "no"),
    (["get", "/healthz", "--as", "anyone"], "yes"),
    (["get", "/healthz", "--as", "system:anonymous"], "no"),  # anonymous is not system:authenticated
    (["delete", "nodes/n1", "--as", "root", "--as-group", "system:masters"], "yes"),
])
def test_can_i(capsys, argv, answer):
    code, out, err = run(capsys, "rbac", "can-i", *argv, "-f", SHAPE)
    assert out.strip() == answer and err == ""
    assert code == (0 if answer == "yes" else 1)


def test_who_can_lists_subject_binding_and_rule(capsys):
    code, out, _ = run(capsys, "rbac", "who-can", "get", "secrets", "-n", "shop", "-f", SHAPE)
    assert code == 0
    assert "Group developers  via RoleBinding shop/developers -> ClusterRole edit  rule #" in out
    assert "ServiceAccount shop/deployer" in out and "Group system:masters" in out
    assert "carol" not in out


@pytest.mark.parametrize("argv, message", [
    (["rbac", "can-i", "get", "pods", "--as", "a", "-f", "missing-dir"], "kinv: missing-dir: no such file or folder"),
    (["rbac", "can-i", "get", "pods", "-f", SHAPE], "the following arguments are required: --as"),
    (["rbac", "can-i", "get", "pods/a/b", "--as", "a", "-f", SHAPE], "expected TYPE[/NAME] or a URL"),
    (["rbac", "can-i", "get", "/x", "--subresource", "s", "--as", "a", "-f", SHAPE], "--subresource does not apply"),
    (["rbac", "who-can", "get", "pods", "-f", str(HERE / "invalid")], "bad-yaml.yaml:"),
    (["rbac", "escalations", "-f", str(HERE / "invalid" / "no-verbs.yaml")],
     "no-verbs.yaml: Role shop/broken: rules[0].verbs: required"),
    (["rbac", "diff", "-f", SHAPE], "the following arguments are required: --to"),
    (["rbac", "frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_diff_lists_every_change_per_subject(capsys):
    code, out, _ = run(capsys, "rbac", "diff", "-f", SHAPE, "--to", str(HERE / "default-shape-changed"))
    assert code == 1
    assert "User carol:" in out and "  gained shop: get secrets" in out
    assert "gained shop: get configmaps named release-next" in out
    assert "lost   cluster-wide: get /healthz" in out or "lost   cluster-wide: get /api" in out


def test_diff_of_a_policy_with_itself_is_a_proof(capsys):
    code, out, _ = run(capsys, "rbac", "diff", "-f", SHAPE, "--to", SHAPE)
    assert code == 0
    assert "no difference: z3 proved both policies allow the same of all" in out


def test_escalations(capsys):
    code, out, _ = run(capsys, "rbac", "escalations", "-f", SHAPE, str(HERE / "escalation-paths.yaml"))
    assert code == 1, "findings reported: exit 1"
    assert "[transitive] shop: can grant itself ClusterRole edit: may create bindings and holds bind on it" in out
    assert "[workload-runs-as-stronger-account] shop: can create workloads in shop running as ServiceAccount shop/robot" in out
    assert "[secrets-cluster-wide] cluster-wide" in out
