"""The deterministic world: integer-tick clock, one seeded RNG, a faulty network, crash-prone
disks and a trace recorder. Any sans-I/O node (Raft today, store members later) runs on it.
"""

from impl.sim.disk import Disk
from impl.sim.network import Envelope, Network, NetworkFaults
from impl.sim.trace import TraceEvent, TraceRecorder
from impl.sim.world import Node, Output, World

__all__ = ["Disk", "Envelope", "Network", "NetworkFaults", "Node", "Output", "TraceEvent",
           "TraceRecorder", "World"]
