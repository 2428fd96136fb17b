"""Admin for the fleet: machines with their lifetimes and inventory, teams, tokens (revocable)."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.audit.models import AuditEvent
from apps.audit.recording import record_event
from apps.fleet.models import (
    ApiToken,
    EnrollmentToken,
    GoplsProcess,
    InventoryChange,
    InventoryItem,
    Machine,
    MachineCredential,
    MachineProject,
    Membership,
    Project,
    ServiceHeartbeat,
    Team,
)
from apps.fleet.services import create_api_token, create_enrollment_token


@admin.action(description="Revoke selected")
def revoke(modeladmin, request, queryset):
    # One save per row (not QuerySet.update) so the audit log records each revocation.
    active = list(queryset.filter(revoked_at__isnull=True))
    for secret in active:
        secret.revoke()
    count = len(active)
    modeladmin.message_user(request, f"Revoked {count}.")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "min_gopls_version", "created_at"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["team", "role"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["module_path", "slug", "first_seen", "last_seen"]
    search_fields = ["module_path"]


class GoplsProcessInline(admin.TabularInline):
    model = GoplsProcess
    extra = 0
    fields = ["pid", "start_time", "version", "go_version", "editor", "project", "last_seen"]
    readonly_fields = fields
    ordering = ["-last_seen"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class InventoryInline(admin.TabularInline):
    model = InventoryItem
    extra = 0
    fields = ["section", "value", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class CredentialInline(admin.TabularInline):
    model = MachineCredential
    extra = 0
    fields = ["prefix", "created_at", "revoked_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Machine)
class MachineAdmin(admin.ModelAdmin):
    # Few, short columns: with the admin's sidebar and filters the list must fit 1440 px.
    list_display = [
        "__str__",
        "short_id",
        "team",
        "owner",
        "platform",
        "agent_version",
        "last_seen",
    ]
    list_filter = ["team", "os", "wsl_version"]
    search_fields = ["hostname", "machine_id", "owner__username", "owner_hint"]
    autocomplete_fields = ["owner", "claimed_owner"]
    readonly_fields = [
        "first_seen",
        "last_seen",
        "last_sample_at",
        "clock_skew_s",
        "latest",
        "rate_tokens",
        "rate_updated_at",
    ]
    inlines = [GoplsProcessInline, InventoryInline, CredentialInline]
    MOVES = ("team", "owner", "claimed_owner")

    @admin.display(description="machine id", ordering="machine_id")
    def short_id(self, obj) -> str:
        """Agent ids are 42-character hashes: their start tells machines apart (search finds
        the whole id)."""
        mid = obj.machine_id
        return mid if len(mid) <= 18 else f"{mid[:16]}…"

    @admin.display(description="platform", ordering="os")
    def platform(self, obj) -> str:
        return f"WSL{obj.wsl_version}" if obj.wsl_version else obj.get_os_display()

    def save_model(self, request, obj, form, change):
        # Moving a machine to another team (or giving it an owner) is a staff decision that
        # enrollment can no longer make: recorded in the audit log with who and from where.
        # Machines are not audited on every save (enrollment and ingest touch them constantly).
        before = {}
        if change:
            before = (
                type(obj)._base_manager.filter(pk=obj.pk).values(*(f + "_id" for f in self.MOVES))
            ).first() or {}
        super().save_model(request, obj, form, change)
        moved = {
            field: [before.get(field + "_id"), getattr(obj, field + "_id")]
            for field in self.MOVES
            if change and before.get(field + "_id") != getattr(obj, field + "_id")
        }
        if moved:
            record_event(AuditEvent.Action.CHANGE, obj, moved)


@admin.register(MachineProject)
class MachineProjectAdmin(admin.ModelAdmin):
    list_display = ["machine", "project", "root", "last_seen"]
    list_filter = ["project"]


@admin.register(GoplsProcess)
class GoplsProcessAdmin(admin.ModelAdmin):
    list_display = [
        "pid",
        "machine",
        "version",
        "go_version",
        "editor",
        "project",
        "start_time",
        "last_seen",
    ]
    list_filter = ["version", "editor"]
    search_fields = ["machine__hostname", "machine__machine_id"]
    raw_id_fields = ["machine", "project"]


@admin.register(InventoryItem)
class InventoryItemAdmin(admin.ModelAdmin):
    list_display = ["machine", "section", "updated_at"]
    list_filter = ["section"]
    raw_id_fields = ["machine"]


@admin.register(InventoryChange)
class InventoryChangeAdmin(admin.ModelAdmin):
    list_display = ["machine", "section", "changed_at"]
    list_filter = ["section"]
    raw_id_fields = ["machine"]


class SecretAdmin(admin.ModelAdmin):
    actions = [revoke]
    readonly_fields = ["prefix", "token_hash", "created_at", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(SecretAdmin):
    list_display = [
        "prefix",
        "team",
        "label",
        "enrollments",
        "max_uses",
        "expires_at",
        "status",
        "created_at",
        "revoked_at",
    ]
    fields = [
        "team",
        "label",
        "expires_at",
        "max_uses",
        "prefix",
        "enrollments",
        "status",
        "created_at",
        "revoked_at",
        "last_used_at",
    ]
    readonly_fields = [*SecretAdmin.readonly_fields, "enrollments", "status"]

    @admin.display(description="Status")
    def status(self, obj):
        return obj.status if obj.pk else "—"

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, secret = create_enrollment_token(
            obj.team.name,
            label=obj.label,
            created_by=request.user,
            expires_at=obj.expires_at,
            max_uses=obj.max_uses,
        )
        obj.pk = token.pk
        messages.warning(request, f"New enrollment token (shown once): {secret}")


@admin.register(MachineCredential)
class MachineCredentialAdmin(SecretAdmin):
    list_display = ["prefix", "machine", "created_at", "revoked_at", "last_used_at"]
    fields = ["machine", "prefix", "created_at", "revoked_at", "last_used_at"]
    raw_id_fields = ["machine"]

    def has_add_permission(self, request):
        return False  # credentials come from enrollment only


@admin.register(ApiToken)
class ApiTokenAdmin(SecretAdmin):
    list_display = ["name", "prefix", "user", "scope", "created_at", "revoked_at", "last_used_at"]
    list_filter = [*SecretAdmin.list_filter, "scope"]
    fields = ["user", "name", "scope", "prefix", "created_at", "revoked_at", "last_used_at"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, secret = create_api_token(obj.user, obj.name, obj.scope)
        obj.pk = token.pk
        messages.warning(request, f"New API token (shown once): {secret}")


@admin.register(ServiceHeartbeat)
class ServiceHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "beat_at"]
