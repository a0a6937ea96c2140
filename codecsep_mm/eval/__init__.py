"""Evaluation, benchmarks and profiling."""
