"""Alerts: channels, routing, an outbox of notifications and their delivery."""
