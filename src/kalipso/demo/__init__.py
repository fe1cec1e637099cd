"""Generated Slips databases for the demo, the tests and the benchmarks."""
