"""devfleet server applications, split by domain; dependencies point one way."""
