"""simulate_fleet."""
