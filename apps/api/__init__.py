"""Read-only JSON API for people and scripts, with its OpenAPI document."""
