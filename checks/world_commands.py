"""The scenario commands every simulated area's harness has, on its world: `tick`, `crash`,
`restart`, `partition`, `heal` and `campaign`.

Mixed into a harness that has ``world``, ``lines``, ``_run(line, action)`` (records the line
with ``_record``, runs the action, checks the invariants) and ``no_effect(reason)``
(checks.scenario.Strictness).
"""

from __future__ import annotations

__all__ = ["WorldCommands"]


class WorldCommands:
    def _record(self, line: str) -> None:
        """The scenario line of a step, and a trace event that groups what the step caused."""
        self.lines.append(line)
        self.world.trace.record(self.world.now, "step", None, f"{len(self.lines) - 1}. {line}")

    def tick(self, count: int = 1) -> None:
        def run() -> None:
            for _ in range(count):
                self.world.tick()
        self._run(f"tick {count}", run)

    def crash(self, node_id: str) -> None:
        def run() -> None:
            if not self.world.up(node_id):
                self.no_effect(f"{node_id} is already down")
                return
            self.world.crash(node_id)
        self._run(f"crash {node_id}", run)

    def restart(self, node_id: str) -> None:
        def run() -> None:
            if self.world.up(node_id):
                self.no_effect(f"{node_id} is up")
                return
            self.world.restart(node_id)
        self._run(f"restart {node_id}", run)

    def partition(self, groups: list[list[str]]) -> None:
        text = " | ".join(" ".join(g) for g in groups)

        def run() -> None:
            self.world.network.partition(groups)
            self.world.trace.record(self.world.now, "partition", None, text)
        self._run(f"partition {text}", run)

    def heal(self) -> None:
        def run() -> None:
            if not self.world.network.blocked:
                self.no_effect("no link is cut")
                return
            self.world.network.heal()
            self.world.trace.record(self.world.now, "heal", None, "every link restored")
        self._run("heal", run)

    def campaign(self, member_id: str) -> None:
        """A store member's election timeout fires now."""
        def run() -> None:
            member = self.world.nodes[member_id]
            if member is None or member.is_leader:
                self.no_effect(f"{member_id} is {'down' if member is None else 'already the leader'}")
                return
            self.world.apply(member_id, member.campaign())
        self._run(f"campaign {member_id}", run)
