"""Entry point for `python -m devfleet_agent`."""

from __future__ import annotations

import sys

from devfleet_agent.cli import main

sys.exit(main())
