"""The fault-free phase's PreVote probes (checks/raft/fault_free.py) fail where they should: a
rejoining follower that missed nothing is stopped only by the leader lease."""

from __future__ import annotations

import pytest

from checks.raft.cluster import ClusterOptions, RaftCluster
from checks.violation import InvariantViolated
from impl.raft.node import RaftNode


class VotersIgnoreTheLease(RaftNode):
    """As lease-never-held in tests/mutants: with CheckQuorum, voters still grant a campaign of a
    server that was away although they heard from the leader moments ago."""

    def _in_lease(self) -> bool:
        return False


def _converged(node_class: type[RaftNode], check_quorum: bool) -> RaftCluster:
    cluster = RaftCluster(ClusterOptions(size=3, seed=1, pre_vote=True, check_quorum=check_quorum), node_class)
    cluster.converge()
    return cluster


def test_the_reference_keeps_its_leader_through_both_rejoin_probes():
    assert _converged(RaftNode, check_quorum=True).violation is None


def test_a_voter_that_ignores_the_leader_lease_is_caught_by_the_probe_that_misses_nothing():
    with pytest.raises(InvariantViolated) as raised:
        _converged(VotersIgnoreTheLease, check_quorum=True)
    assert raised.value.invariant.id == "RAFT-PREVOTE-NO-DISRUPTION"
    assert "rejoined from a partition" in str(raised.value)


def test_without_check_quorum_there_is_no_lease_to_demand():
    # PreVote alone lets an up-to-date rejoiner win (etcd's semantics), so that probe does not run.
    assert _converged(VotersIgnoreTheLease, check_quorum=False).violation is None
