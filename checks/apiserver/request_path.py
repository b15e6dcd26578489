"""The seed's request path, drawn from a real run: one `kubectl create deployment` through one
API server instance to the store and back out to a watcher, as a Mermaid sequence diagram.

The diagram is built from what the run recorded: the messages the world delivered (client ->
instance -> store member -> instance -> watcher) and the audit event's steps, drawn as notes
on the instance where they happened (authentication, authorization, each admission plugin that
acted, validation, persist).
"""

from __future__ import annotations

import re

from checks.apiserver.cluster import ApiCluster, ApiOptions
from checks.apiserver.scenario import _As, send

__all__ = ["request_path", "DEPLOYMENT_LINE"]

DEPLOYMENT_LINE = "create deployment web -n ns1 label=app=web"
_NOTE_STEPS = ("authentication", "impersonation", "authorization", "escalation", "validation")
_PROGRESS = re.compile(r"^w\d+ progress @")
_JSON_VALUE = re.compile(r"=\{.*?\}(?=@| rev=|\}$|$)")


def _short(detail: str) -> str:
    """A stored object's JSON shown as {…}; '#' escaped for Mermaid."""
    return _JSON_VALUE.sub("={…}", detail).replace("#", "#35;")


def _run() -> ApiCluster:
    cluster = ApiCluster(ApiOptions(members=1, apiservers=1, clients=2, seed=7))
    revision = cluster.observer.revision()
    cluster.watch(f"as admin via a1 by u2 watch deployments -n ns1 from={revision}", "u2", "admin",
                  "/apis/apps/v1/namespaces/ns1/deployments", revision, instance="a1")
    cluster.settle()
    cluster.tick(2)
    line = f"as alice via a1 by u1 {DEPLOYMENT_LINE}"
    send(cluster, line, _As("alice", "a1", "u1", tuple(DEPLOYMENT_LINE.split())))
    cluster.settle()
    cluster.tick(3)
    return cluster


def _steps_note(steps) -> list[str]:
    notes, admission = [], []
    for step in steps:
        if step.name in _NOTE_STEPS:
            notes.append(f"{step.name}: {step.outcome}" + (f" ({step.detail})" if step.detail else ""))
        elif ":" in step.name and step.outcome != "skipped":
            admission.append(f"{step.name} {step.outcome}")
    at = next((i for i, n in enumerate(notes) if n.startswith("validation")), len(notes))
    mutating = [a for a in admission if a.startswith("mutating:")]
    validating = [a for a in admission if a.startswith("validating:")]
    return (notes[:at] + ([f"mutating admission: {', '.join(m.split(':', 1)[1] for m in mutating)}"] if mutating else [])
            + notes[at:] + ([f"validating admission: {', '.join(v.split(':', 1)[1] for v in validating)}"]
                            if validating else []))


def request_path() -> tuple[str, str]:
    """(the Mermaid diagram, a one-line summary) of the deployment's creation."""
    cluster = _run()
    audit = next(e for e in cluster.audit_log.events if e.verb == "create" and e.resource == "deployments")
    events = [e for e in cluster.world.trace.events if e.kind == "deliver" and e.tick >= audit.received
              and {e.node, e.peer} <= {"u1", "u2", "a1", "n1"}]
    lines = ["sequenceDiagram", "    participant u1 as kubectl (alice)", "    participant a1 as kube-apiserver a1",
             "    participant n1 as etcd n1", "    participant u2 as a watcher (an informer)"]
    notes = [n for n in _steps_note(audit.steps) if not n.startswith("persist")]
    filters = [n for n in notes if n.startswith(("authentication", "impersonation", "authorization"))]
    admission = [n for n in notes if n not in filters]
    for event in events:
        detail = _short(event.detail.rsplit(" #", 1)[0])
        if _PROGRESS.match(detail) or detail.startswith(("Leader?", "ReadIndex")) or "created @" in detail:
            continue
        if event.node == "a1" and event.peer == "n1" and "txn" in detail:
            lines += [f"    Note over a1: {note}" for note in admission]
            admission = []
        lines.append(f"    {event.node}->>{event.peer}: {detail}")
        if event.node == "u1" and event.peer == "a1":
            lines += [f"    Note over a1: {note}" for note in filters]
    created = next(c for c in cluster.api_log.calls if c.request.request_id and c.identity == "alice")
    body = created.response.body if created.response else {}
    summary = (f"alice's create answered {created.response.code if created.response else 'nothing'}: "
               f"Deployment ns1/web at resourceVersion {body.get('metadata', {}).get('resourceVersion')}, "
               f"generation {body.get('metadata', {}).get('generation')}; the watcher saw "
               f"{', '.join(t for t, _, _ in cluster.api_log.streams[0].events if t != 'BOOKMARK') or 'nothing'}.")
    return "\n".join(lines), summary


if __name__ == "__main__":  # pragma: no cover - a quick look
    print("\n".join(request_path()))
