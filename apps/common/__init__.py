"""Helpers shared by several apps (no models): security headers, client IPs, rate limits."""
