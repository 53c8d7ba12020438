"""Scripts that print performance figures (not tests); run e.g. `python -m benchmarks.step_time`."""
