"""The chaos tier: faults injected while the operator is busy, global invariants checked after."""
