"""Storage: atomic writes, crash-safe logs, the run lock and the checkpoint format."""
