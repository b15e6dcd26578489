"""Checks of the Raft area: the cluster harness, its scenario commands, the state machine."""
