"""The Raft state machine on the reference: every invariant holds under swarms of faults, and
the heal-and-converge phase shows bounded liveness. Settings come from the active profile."""

from hypothesis import settings

from checks.raft.machine import RaftMachine

TestRaftReference = RaftMachine.TestCase
TestRaftReference.settings = settings(settings.default, stateful_step_count=40)
