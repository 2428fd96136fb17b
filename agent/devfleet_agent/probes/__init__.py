"""Helpers the collectors (and fixes, profiles) use to read the machine: /proc and psutil
process sources, gopls classification, debug-server client and parsers, the go tool, go.mod.
They register nothing; the collectors in devfleet_agent.collectors decide what is reported."""
