"""Counterexample reports (DESIGN.md, "Counterexamples"): the invariant and why it matters, the
shrunk steps, a numbered trace, the state at the failure, a Mermaid sequence diagram, and a
scenario file that `kinv replay` runs to the same failure.

Nothing here reads the clock: the same seed writes the same folder, byte for byte.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from impl.catalog import Bug
from impl.sim.trace import TraceEvent
from spec.invariant import Invariant

__all__ = ["Counterexample", "render_markdown", "render_mermaid", "write_report", "numbered_trace", "SCENARIO_NAME",
           "REPORT_NAME"]

SCENARIO_NAME = "counterexample.scenario"
REPORT_NAME = "report.md"
TRACE_LINES_MAX = 400  # the tail of a longer trace is what explains the failure
DIAGRAM_ARROWS_MAX = 150


@attrs.frozen
class Counterexample:
    area: str
    bug: Bug | None
    invariant: Invariant
    message: str
    steps: tuple[str, ...]  # the scenario lines after the setup line
    scenario_text: str
    trace: tuple[TraceEvent, ...]
    state: tuple[str, ...]  # one line per component at the failure (each node's log, ...)
    participants: tuple[str, ...]
    seed: int | None
    details: str | None = None  # the traceback of an IMPL-EXCEPTION
    legend: tuple[str, ...] = ()  # what the area's notation means, one line a notation
    # Messages the diagram leaves out (regular expressions matched against their text): routine
    # traffic, such as an etcd report's heartbeats, that would push the requests it is about out
    # of view. The trace keeps every event.
    diagram_hides: tuple[str, ...] = ()


def numbered_trace(trace: tuple[TraceEvent, ...], lines_max: int | None = None) -> list[str]:
    """One numbered line per event, under the scenario step that caused it (`step 3: propose n1
    x`); the tick is shown where it changes, so a run without `tick` lines is not a column of
    t=0. Beyond ``lines_max`` events, the tail (what explains a failure)."""
    skipped = max(0, len(trace) - lines_max) if lines_max is not None else 0
    lines = [f"({skipped} earlier events omitted)"] if skipped else []
    tick = None
    for number, event in enumerate(trace, start=1):
        if number <= skipped:
            continue
        if event.kind == "step":
            lines.append(f"step {event.detail} (t={event.tick})")
            tick = event.tick
            continue
        when = f"t={event.tick} " if event.tick != tick else ""
        tick = event.tick
        who = f"{event.node}->{event.peer}" if event.peer is not None else (event.node or "-")
        lines.append(f"{number:>6}. {when}{event.kind:<9} {who:<8} {event.detail}")
    return lines


_MESSAGE_KINDS = ("send", "deliver", "drop", "duplicate")


def _hidden(trace: tuple[TraceEvent, ...], hides: tuple[str, ...]) -> set[int]:
    """Positions of the messages matching ``hides`` (never notes: a crash, a step, the violation)."""
    if not hides:
        return set()
    pattern = re.compile("|".join(f"(?:{h})" for h in hides))
    return {i for i, e in enumerate(trace) if e.kind in _MESSAGE_KINDS and pattern.search(e.detail)}


def _mermaid_text(detail: str) -> str:
    # In a sequence diagram `;` ends a statement and `#` opens an entity code: write `#` as one.
    return detail.replace(";", ",").replace("#", "#35;")


def render_mermaid(trace: tuple[TraceEvent, ...], participants: tuple[str, ...], hides: tuple[str, ...] = ()) -> str:
    """Deliveries as arrows, drops as crossed arrows, crashes, restarts and role changes as notes;
    messages matching ``hides`` left out, and the diagram says how many. Only ``participants`` are
    drawn: an area leaves out the nodes whose traffic is another area's (the controllers, the store)."""
    everyone = f"{participants[0]},{participants[-1]}"
    lines = ["sequenceDiagram"] + [f"    participant {p}" for p in participants]
    hidden = _hidden(trace, hides)
    drawn = set(participants)
    body = []
    for position, event in enumerate(trace):
        if position in hidden or (event.node is not None and event.node not in drawn) \
                or (event.peer is not None and event.peer not in drawn):
            continue
        text = _mermaid_text(event.detail)
        if event.kind == "deliver":
            body.append(f"    {event.node}->>{event.peer}: {text}")
        elif event.kind == "drop" and event.peer is not None:
            body.append(f"    {event.node}-x{event.peer}: {text}")
        elif event.kind in ("crash", "restart", "role", "commit") and event.node is not None:
            body.append(f"    Note over {event.node}: {event.kind} {text}")
        elif event.kind in ("partition", "heal", "violation"):
            body.append(f"    Note over {everyone}: {event.kind} {text}")
        elif event.kind == "step":
            body.append(f"    Note over {everyone}: step {text}")
    if len(body) > DIAGRAM_ARROWS_MAX:
        body = [f"    Note over {everyone}: {len(body) - DIAGRAM_ARROWS_MAX} earlier events omitted"] \
            + body[-DIAGRAM_ARROWS_MAX:]
    if hidden:
        body.insert(0, f"    Note over {everyone}: {len(hidden)} routine messages (heartbeats and their answers) "
                       f"not drawn, the trace has them")
    return "\n".join(lines + body)


def _steps(cx: Counterexample) -> list[str]:
    """The steps, the last one marked: the run stops at the first violation, so it broke there."""
    lines = [f"{i}. `{step}`" for i, step in enumerate(cx.steps, 1)]
    if lines:
        lines[-1] += f"  <- {cx.invariant.id} broke during this step"
    return lines


def render_markdown(cx: Counterexample, replay_command: str) -> str:
    subject = f"bug `{cx.bug.name}`" if cx.bug else "the reference"
    parts = [f"# {cx.invariant.id} violated ({cx.area}, {subject})", "",
             f"**What broke:** {cx.message}", "",
             f"**The invariant:** {cx.invariant.statement}", ""]
    if cx.invariant.why:
        parts += [f"**Why it matters:** {cx.invariant.why}", ""]
    parts += [f"**Source:** {cx.invariant.source}", ""]
    if cx.bug:
        parts += ["## The injected bug", "", f"`{cx.bug.name}`: {cx.bug.summary.rstrip('.')}. Seen in: {cx.bug.source.rstrip('.')}.", ""]
    if cx.seed is not None:
        parts += [f"Found with seed {cx.seed}.", ""]
    if cx.details:
        parts += ["## The exception", "", "```"] + cx.details.splitlines() + ["```", ""]
    parts += [f"## Shrunk steps ({len(cx.steps)})", ""] + _steps(cx) + [""]
    if cx.legend:
        parts += ["## How to read the notation", ""] + [f"- {line}" for line in cx.legend] + [""]
    parts += ["## State at the failure", "", "```"] + list(cx.state) + ["```", ""]
    parts += ["## Sequence diagram", "", "```mermaid", render_mermaid(cx.trace, cx.participants, cx.diagram_hides), "```", ""]
    parts += ["## Trace", "", "```"] + numbered_trace(cx.trace, TRACE_LINES_MAX) + ["```", ""]
    parts += ["## Replay", "", f"`{SCENARIO_NAME}` in this folder runs to the same failure:", "",
              f"    {replay_command}", ""]
    return "\n".join(parts)


def write_report(cx: Counterexample, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    scenario_path = directory / SCENARIO_NAME
    scenario_path.write_text(cx.scenario_text)
    replay = f"kinv replay {scenario_path}" + (f" --bug {cx.bug.name}" if cx.bug else "")
    (directory / REPORT_NAME).write_text(render_markdown(cx, replay))
    return directory
