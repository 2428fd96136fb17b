"""Audit log of configuration changes: who changed what, when and from where."""
