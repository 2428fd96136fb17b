"""devfleet workstation agent: collects gopls/system facts and ships them to the server."""

__version__ = "0.1.0"
SCHEMA_VERSION = 1
