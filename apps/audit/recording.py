"""Signal handlers that write an AuditEvent for every save and delete of audited models.

Model signals (not the admin's LogEntry) so that changes made through the admin, the dashboard,
the API and management commands are all recorded; the event is written in the same transaction
as the change. Bulk ``QuerySet.update()`` sends no signals: code that changes configuration in
bulk should save row by row (or call ``record_event``).
"""

from __future__ import annotations

import ipaddress
import logging

from django.apps import apps
from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from apps.audit.context import current_request
from apps.audit.models import AuditEvent
from apps.common.clientip import client_ip

log = logging.getLogger(__name__)

# Bookkeeping that changes on use, not configuration.
IGNORED_FIELDS = frozenset(
    {"last_used_at", "enrollments", "last_login", "last_success_at", "last_error", "last_error_at"}
)
# Recorded as changed, never with their value: secrets, and webhook URLs (which carry tokens).
REDACTED_FIELDS = frozenset({"password", "token_hash", "secret"})
REDACTED_BY_MODEL = {"alerts.Channel": frozenset({"target"})}
REDACTED = "<redacted>"
_UID = "devfleet-audit"


def audited_models() -> list:
    """The installed models named by settings.AUDITED_MODELS ("app.Model" or "app")."""
    found = []
    for label in getattr(settings, "AUDITED_MODELS", []):
        app_label, _, model_name = label.partition(".")
        try:
            config = apps.get_app_config(app_label)
        except LookupError:
            continue
        if model_name:
            try:
                found.append(config.get_model(model_name))
            except LookupError:
                log.warning("AUDITED_MODELS: %s has no model %s", app_label, model_name)
        else:
            found.extend(config.get_models())
    return found


def connect_audited_models() -> None:
    for model in audited_models():
        uid = f"{_UID}:{model._meta.label}"
        pre_save.connect(_remember_before, sender=model, dispatch_uid=uid)
        post_save.connect(_record_save, sender=model, dispatch_uid=uid)
        post_delete.connect(_record_delete, sender=model, dispatch_uid=uid)
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            m2m_changed.connect(
                _record_m2m, sender=through, dispatch_uid=f"{_UID}:{through._meta.label}"
            )


def _tracked_fields(model) -> list:
    return [f for f in model._meta.concrete_fields if f.attname not in IGNORED_FIELDS]


def _value(field, value):
    redacted = REDACTED_FIELDS | REDACTED_BY_MODEL.get(field.model._meta.label, frozenset())
    return REDACTED if field.name in redacted and value not in (None, "") else value


def _record_m2m(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """Links added to or removed from a many-to-many field (e.g. a route's channels)."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action != "post_clear" and not pk_set:
        return
    if instance._meta.label not in {m._meta.label for m in audited_models()}:
        return
    if reverse:
        names = [
            rel.get_accessor_name()
            for rel in instance._meta.related_objects
            if rel.many_to_many and rel.through is sender
        ]
    else:
        names = [f.name for f in instance._meta.many_to_many if f.remote_field.through is sender]
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    field = names[0] if names else sender._meta.model_name
    record_event(AuditEvent.Action.CHANGE, instance, {field: {verb: sorted(pk_set or [])}})


def _remember_before(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    instance._audit_before = None
    if raw or instance._state.adding or instance.pk is None:
        return
    fields = _tracked_fields(sender)
    if update_fields is not None:
        fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
        if not fields:
            return
    instance._audit_before = (
        sender._base_manager.filter(pk=instance.pk).values(*[f.attname for f in fields]).first()
    )


def _record_save(sender, instance, created, raw=False, **kwargs) -> None:
    if raw:
        return
    if created:
        changes = {
            f.name: [None, _value(f, getattr(instance, f.attname))]
            for f in _tracked_fields(sender)
            if not f.primary_key and getattr(instance, f.attname) not in (None, "", {}, [])
        }
        record_event(AuditEvent.Action.ADD, instance, changes)
        return
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None
    if before is None:
        return
    changes = {}
    for field in _tracked_fields(sender):
        if field.attname not in before:
            continue
        old, new = before[field.attname], getattr(instance, field.attname)
        if old != new:
            changes[field.name] = [_value(field, old), _value(field, new)]
    if not changes:
        return
    revoked = changes.get("revoked_at")
    action = (
        AuditEvent.Action.REVOKE
        if revoked and revoked[0] is None and revoked[1] is not None
        else AuditEvent.Action.CHANGE
    )
    record_event(action, instance, changes)


def _record_delete(sender, instance, **kwargs) -> None:
    record_event(AuditEvent.Action.DELETE, instance, {})


def _ip(request) -> str | None:
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:
        return None


def record_event(action: str, instance, changes: dict) -> AuditEvent:
    """Write one AuditEvent for `instance`, attributed to the current request's user and IP
    (or to 'system' outside a request)."""
    request = current_request.get()
    user = getattr(request, "user", None) if request is not None else None
    actor = user if user is not None and user.is_authenticated else None
    if actor is not None and action == AuditEvent.Action.DELETE and instance == actor:
        actor_name, actor = actor.get_username(), None  # the row is about to disappear
    else:
        actor_name = actor.get_username() if actor is not None else "system"
    return AuditEvent.objects.create(
        actor=actor,
        actor_repr=actor_name[:150],
        action=action,
        object_type=instance._meta.label,
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes=changes,
        ip=_ip(request) if request is not None else None,
        path=(request.path[:200] if request is not None else ""),
    )
