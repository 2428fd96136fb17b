"""Fleet simulator: realistic agent reports for demo fleets, benchmarks and tests."""
