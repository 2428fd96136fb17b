"""Machines, the projects they work on, gopls process lifetimes and inventory with history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from apps.fleet.models.people import Membership


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProjectQuerySet:
        """Projects one of the user's visible, active machines works on (all for staff)."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff or user.is_superuser:
            return self
        mine = Machine.objects.visible_to(user).active().values("pk")
        return self.filter(pk__in=MachineProject.objects.filter(machine__in=mine).values("project"))


class Project(models.Model):
    """A Go module or repository, created automatically from what agents report."""

    module_path = models.CharField(max_length=512, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["module_path"]

    def __str__(self) -> str:
        return self.module_path

    @staticmethod
    def slug_for(module_path: str) -> str:
        return slugify(module_path.replace("/", "-").replace(".", "-"))[:110] or "project"


class MachineQuerySet(models.QuerySet):
    def active(self) -> MachineQuerySet:
        return self.filter(retired_at__isnull=True)

    def stale(self, now=None) -> MachineQuerySet:
        now = now or timezone.now()
        cutoff = now - timezone.timedelta(seconds=settings.MACHINE_STALE_AFTER_S)
        return self.active().filter(
            models.Q(last_seen__lt=cutoff) | models.Q(last_seen__isnull=True)
        )

    def visible_to(self, user) -> MachineQuerySet:
        """Platform staff see every machine, team leads their teams', developers their own."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff or user.is_superuser:
            return self
        lead_teams = Membership.objects.led_team_ids(user)
        return self.filter(models.Q(owner=user) | models.Q(team_id__in=lead_teams))


class Machine(models.Model):
    class OS(models.TextChoices):
        LINUX = "linux", "Linux"
        DARWIN = "darwin", "macOS"
        WINDOWS = "windows", "Windows"
        OTHER = "other", "Other"

    class Health(models.TextChoices):
        OK = "ok", "Healthy"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    machine_id = models.CharField(
        max_length=128, unique=True, help_text="Stable id chosen by the agent."
    )
    hostname = models.CharField(max_length=255, blank=True)
    os = models.CharField(max_length=16, choices=OS.choices, default=OS.OTHER)
    os_version = models.CharField(max_length=255, blank=True)
    arch = models.CharField(max_length=64, blank=True)
    kernel = models.CharField(max_length=255, blank=True)
    cpu_count = models.PositiveIntegerField(null=True, blank=True)
    mem_total_bytes = models.BigIntegerField(null=True, blank=True)
    wsl_version = models.PositiveSmallIntegerField(null=True, blank=True)
    wsl_distro = models.CharField(max_length=255, blank=True)
    # Learned by the agent through WSL interop (machine.wsl.host_mem_total_bytes and
    # wsl_version): the Windows host's RAM bounds a safe .wslconfig memory=, and the WSL
    # package version (e.g. 2.3.26.0, strict form only) gates fixes such as autoMemoryReclaim.
    wsl_host_mem_total_bytes = models.BigIntegerField(null=True, blank=True)
    wsl_package_version = models.CharField(max_length=32, blank=True)
    team = models.ForeignKey("fleet.Team", on_delete=models.PROTECT, related_name="machines")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="machines",
    )
    owner_hint = models.CharField(
        max_length=255, blank=True, help_text="Who the agent says owns it (username or email)."
    )
    # What an agent says about its owner is only a claim: `owner` (which grants visibility and
    # personal alerts) is set when the claimed person, a lead of the team or staff confirms it.
    claimed_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_machines",
        help_text="Pending ownership claim from enrollment, until confirmed in the dashboard.",
    )
    agent_version = models.CharField(max_length=64, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    # Not indexed on purpose: every upload updates it, and an unindexed column lets
    # PostgreSQL update the row in place (HOT) instead of touching every index.
    last_seen = models.DateTimeField(null=True, blank=True)
    last_sample_at = models.DateTimeField(null=True, blank=True)
    clock_skew_s = models.FloatField(
        null=True,
        blank=True,
        help_text="Agent clock minus server clock at the last upload, when large.",
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    # The worse of the open findings' severity and the live signals of `latest`, written by the
    # evaluation pass (apps.anomalies.machine_health), never by ingest: fleet pages count and
    # rank machines on it in SQL. "offline" is not stored: it follows from last_seen.
    health = models.CharField(max_length=8, choices=Health.choices, default=Health.OK)
    health_changed_at = models.DateTimeField(null=True, blank=True)
    latest = models.JSONField(default=dict, blank=True, help_text="Summary of the newest sample.")
    # Ingest token bucket, kept on the row so that every web worker shares it for free.
    rate_tokens = models.FloatField(default=0.0)
    rate_updated_at = models.DateTimeField(null=True, blank=True)
    pending_instructions = models.JSONField(
        default=dict,
        blank=True,
        help_text="Instructions for the agent, returned with its next upload.",
    )
    projects = models.ManyToManyField(
        "fleet.Project", through="MachineProject", related_name="machines"
    )

    objects = MachineQuerySet.as_manager()

    class Meta:
        ordering = ["hostname", "machine_id"]
        indexes = [models.Index(fields=["health", "team"], name="machine_health_team")]

    def __str__(self) -> str:
        return self.hostname or self.machine_id

    @property
    def is_wsl(self) -> bool:
        return self.wsl_version is not None

    @property
    def platform(self) -> str:
        """linux, darwin, windows or wsl2/wsl1: the key advice is written for."""
        if self.wsl_version:
            return f"wsl{self.wsl_version}"
        return self.os


class MachineProject(models.Model):
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE)
    project = models.ForeignKey(Project, on_delete=models.CASCADE)
    root = models.CharField(max_length=4096, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["machine", "project"], name="uniq_machine_project")
        ]

    def __str__(self) -> str:
        return f"{self.machine} works on {self.project}"


class GoplsProcess(models.Model):
    """One gopls server process lifetime, identified by (machine, pid, start time)."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="gopls_processes")
    pid = models.PositiveIntegerField()
    start_time = models.DateTimeField()
    exe = models.CharField(max_length=4096, blank=True)
    argv = models.JSONField(default=list, blank=True)
    version = models.CharField(max_length=64, blank=True)
    version_source = models.CharField(max_length=128, blank=True)
    go_version = models.CharField(max_length=64, blank=True)
    editor = models.CharField(max_length=32, blank=True)
    editor_process = models.CharField(max_length=255, blank=True)
    debug_addr = models.CharField(max_length=255, blank=True)
    env = models.JSONField(default=dict, blank=True)
    cwd = models.CharField(max_length=4096, blank=True)
    workspace_roots = models.JSONField(default=list, blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()  # unindexed: updated by every upload (see Machine)

    class Meta:
        verbose_name_plural = "gopls processes"
        ordering = ["-start_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "pid", "start_time"], name="uniq_gopls_lifetime"
            )
        ]
        indexes = [models.Index(fields=["machine", "start_time"], name="gopls_machine_start")]

    def __str__(self) -> str:
        return f"gopls {self.version or '?'} pid {self.pid} on {self.machine}"

    @property
    def lifetime_seconds(self) -> float:
        return (self.last_seen - self.start_time).total_seconds()


class InventoryItem(models.Model):
    """Current value of one inventory section (tools, go_env, editor_settings, wsl…)."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="inventory")
    section = models.CharField(max_length=64)
    value = models.JSONField(default=dict, null=True, blank=True)  # null: reported as absent
    digest = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["section"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "section"], name="uniq_inventory_section")
        ]

    def __str__(self) -> str:
        return f"{self.machine} {self.section}"


class InventoryChange(models.Model):
    """History: one row each time an inventory section changes."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="inventory_changes")
    section = models.CharField(max_length=64)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at"]
        indexes = [models.Index(fields=["machine", "-changed_at"], name="inventory_change_recent")]

    def __str__(self) -> str:
        return f"{self.machine} {self.section} changed at {self.changed_at:%Y-%m-%d %H:%M}"


class ServiceHeartbeat(models.Model):
    """Last time a background service (worker via beat) did its periodic work."""

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
