"""Benchmarks of placement and of the offline plan; `greedy` is the baseline they compare against."""
