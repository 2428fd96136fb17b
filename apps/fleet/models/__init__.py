"""Fleet models: people and teams, machines and what runs on them, and the secrets they use."""

from apps.fleet.models.machines import (
    GoplsProcess,
    InventoryChange,
    InventoryItem,
    Machine,
    MachineProject,
    Project,
    ServiceHeartbeat,
)
from apps.fleet.models.people import Membership, Team
from apps.fleet.models.tokens import ApiToken, EnrollmentToken, MachineCredential

__all__ = [
    "ApiToken",
    "EnrollmentToken",
    "GoplsProcess",
    "InventoryChange",
    "InventoryItem",
    "Machine",
    "MachineCredential",
    "MachineProject",
    "Membership",
    "Project",
    "ServiceHeartbeat",
    "Team",
]
