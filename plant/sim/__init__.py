"""The plant simulator: sensor and fault physics turned into readings (docs/SIMULATOR.md)."""
