"""Agent-facing HTTP API: enrollment and report upload, validation, dedupe, storage hand-off."""
