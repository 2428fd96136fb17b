"""Fixes the developer applies from the agent: typed actions, format-keeping editors, journal."""
