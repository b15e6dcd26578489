"""The report folder of an rbac violation: ``report.md`` and the policy as ``policy.yaml``.

Everything in it follows from the bug and the seed, so the same run writes the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from checks.rbac.request import can_i_command
from impl.apiserver.authz.manifests import policy_to_yaml
from impl.catalog import Bug
from spec.invariant import invariant_by_id

__all__ = ["write_report", "render_report"]

POLICY_FILE = "policy.yaml"


def render_report(found, bug: Bug | None) -> str:
    invariant = invariant_by_id(found.invariant)
    lines = [f"# {invariant.id} violated", ""]
    if bug is not None:
        lines += [f"Bug: `{bug.name}`: {bug.summary}. Source: {bug.source}.", ""]
    lines += ["## The invariant", "", invariant.statement, "", f"Why it matters: {invariant.why}", "",
              f"Source: {invariant.source}", "", "## What happened", ""]
    if found.mismatch is not None:
        request = found.mismatch.request
        lines += [f"- {found.mismatch.describe()}", "", "Ask the reference the same question:", "", "```",
                  can_i_command(request, POLICY_FILE), "```"]
    else:
        lines += [f"- {message}" for message in found.violation.messages[:10]]
    lines += ["", f"The policy is in `{POLICY_FILE}` ({len(found.policy.roles)} roles, "
              f"{len(found.policy.bindings)} bindings).", ""]
    return "\n".join(lines)


def write_report(folder: Path, found, bug: Bug | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(render_report(found, bug))
    (folder / POLICY_FILE).write_text(policy_to_yaml(found.policy))
