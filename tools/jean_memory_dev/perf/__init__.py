"""Performance tooling: paced load generation, the baseline analyzer, profiling."""
