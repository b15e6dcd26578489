"""A sans-I/O Raft node, as in the paper and etcd-raft; bugs.py holds its catalog of variants."""

from impl.raft.config import RaftConfig
from impl.raft.log import RaftLog
from impl.raft.messages import Entry, Kind, Message
from impl.raft.node import RaftNode
from impl.raft.roles import Role

__all__ = ["Entry", "Kind", "Message", "RaftConfig", "RaftLog", "RaftNode", "Role"]
