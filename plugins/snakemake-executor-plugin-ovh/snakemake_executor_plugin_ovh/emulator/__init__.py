"""A local emulator of the OVHcloud AI Training job API (for tests and dry rehearsals)."""

from .jobs import Faults, JobStore, Timing
from .server import EmulatorServer

__all__ = ["EmulatorServer", "Faults", "JobStore", "Timing"]
