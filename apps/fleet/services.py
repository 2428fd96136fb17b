"""Fleet workflows: enrollment tokens, machine enrollment and credential checks."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.fleet.models import (
    ApiToken,
    EnrollmentToken,
    Machine,
    MachineCredential,
    Team,
)
from apps.fleet.models.tokens import digest, new_secret

MACHINE_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
IDENTITY_TEXT_FIELDS = {
    "hostname": 255,
    "os_version": 255,
    "arch": 64,
    "kernel": 255,
    "agent_version": 64,
    "owner": 255,
}


class EnrollmentError(Exception):
    """Enrollment refused; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, status: int = 400, errors: list[dict] | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or []


@dataclass(frozen=True)
class Enrollment:
    machine: Machine
    credential: str
    created: bool


def create_enrollment_token(
    team_name: str,
    *,
    label: str = "",
    created_by=None,
    expires_at=None,
    max_uses: int | None = None,
) -> tuple[EnrollmentToken, str]:
    """Create the team if missing and a new enrollment token for it; returns (row, secret).

    `expires_at` and `max_uses` bound what a leaked token can do (None: unbounded)."""
    team_name = team_name.strip()
    if not team_name:
        raise ValueError("team name must not be empty")
    if max_uses is not None and max_uses < 1:
        raise ValueError("max uses must be at least 1")
    team, _ = Team.objects.get_or_create(name=team_name)
    secret = new_secret(EnrollmentToken.PREFIX)
    token = EnrollmentToken(
        team=team, label=label, created_by=created_by, expires_at=expires_at, max_uses=max_uses
    )
    token.set_secret(secret)
    token.save()
    return token, secret


def validate_identity(identity: dict) -> dict:
    """Check the identity an agent sends at enrollment; returns the cleaned fields."""
    errors: list[dict] = []
    machine_id = identity.get("machine_id")
    if not isinstance(machine_id, str) or not MACHINE_ID_RE.match(machine_id):
        errors.append(
            {"path": "$.machine_id", "message": "must be 8-128 characters of A-Z a-z 0-9 . _ : -"}
        )
    os_name = identity.get("os", "other")
    if os_name not in Machine.OS.values:
        errors.append({"path": "$.os", "message": f"must be one of {', '.join(Machine.OS.values)}"})
    cleaned = {"machine_id": machine_id, "os": os_name}
    for field, limit in IDENTITY_TEXT_FIELDS.items():
        value = identity.get(field)
        if value is None:
            cleaned[field] = ""
        elif not isinstance(value, str) or len(value) > limit:
            errors.append(
                {"path": f"$.{field}", "message": f"must be a string of at most {limit} characters"}
            )
        else:
            cleaned[field] = value
    wsl = identity.get("wsl")
    if wsl is not None and not isinstance(wsl, dict):
        errors.append({"path": "$.wsl", "message": "must be an object or null"})
    cleaned["wsl"] = wsl or {}
    if errors:
        raise EnrollmentError("invalid identity", status=400, errors=errors)
    return cleaned


def _resolve_owner(hint: str):
    if not hint:
        return None
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(username=hint).first() or users.filter(email__iexact=hint).first()


def _usable_token(raw_token: str, now, uses: int = 1) -> EnrollmentToken:
    """The enrollment token for this secret, locked for the use count; 401 when it cannot
    enroll `uses` machines (unknown, revoked, expired or used up)."""
    token = (
        EnrollmentToken.objects.filter(token_hash=digest(raw_token or ""))
        .select_related("team")
        .select_for_update(of=("self",))
        .first()
    )
    if token is None:
        raise EnrollmentError("unknown or revoked enrollment token", status=401)
    refusal = token.refusal(now, uses)
    if refusal:
        raise EnrollmentError(refusal, status=401)
    return token


@transaction.atomic
def enroll_machine(raw_token: str, identity: dict) -> Enrollment:
    """Exchange a team enrollment token for a per-machine credential.

    Re-enrolling a known machine id (an agent that lost its credential) needs a token of the
    machine's own team; it rotates the credential (the old ones are revoked). A token of any
    other team gets 409 and changes nothing: machine ids are not secret, and moving a machine
    between teams is a staff action in the admin. The `owner` the agent names becomes a
    pending claim only; enrollment never changes who owns a machine or who is in a team.
    """
    now = timezone.now()
    token = _usable_token(raw_token, now)
    fields = validate_identity(identity)
    wsl = fields["wsl"]
    defaults = {
        "hostname": fields["hostname"],
        "os": fields["os"],
        "os_version": fields["os_version"],
        "arch": fields["arch"],
        "kernel": fields["kernel"],
        "agent_version": fields["agent_version"],
        "owner_hint": fields["owner"],
        "team": token.team,
        "wsl_version": wsl.get("version") if wsl.get("version") in (1, 2) else None,
        "wsl_distro": str(wsl.get("distro") or "")[:255],
        "retired_at": None,
    }
    machine, created = Machine.objects.select_for_update().get_or_create(
        machine_id=fields["machine_id"], defaults=defaults
    )
    if not created:
        if machine.team_id != token.team_id:
            # Names no team: whoever holds this token must not learn where the machine is.
            raise EnrollmentError(
                "this machine id is already enrolled in another team; platform staff can "
                "move it in the admin",
                status=409,
            )
        for key, value in defaults.items():
            setattr(machine, key, value)
    if machine.owner_id is None:
        claimed = _resolve_owner(fields["owner"])
        if claimed is not None or created:
            machine.claimed_owner = claimed
    machine.save()
    MachineCredential.objects.filter(machine=machine, revoked_at__isnull=True).update(
        revoked_at=now
    )
    secret = new_secret(MachineCredential.PREFIX)
    credential = MachineCredential(machine=machine, enrollment_token=token)
    credential.set_secret(secret)
    credential.save()
    EnrollmentToken.objects.filter(pk=token.pk).update(
        enrollments=F("enrollments") + 1, last_used_at=now
    )
    return Enrollment(machine=machine, credential=secret, created=created)


BULK_ENROLL_BATCH = 2000


@transaction.atomic
def enroll_machines_in_bulk(raw_token: str, identities: list[dict]) -> list[Enrollment]:
    """Enroll many new machines at once with a team enrollment token (provisioning, benches).

    Same validation and result as enroll_machine, in a few bulk INSERTs instead of a dozen
    statements per machine. Only for machine ids not enrolled yet (EnrollmentError 400
    otherwise); owners are not resolved, and the credentials, created in bulk, get no
    per-row audit event. All or nothing.
    """
    now = timezone.now()
    token = _usable_token(raw_token, now, uses=len(identities))
    cleaned = [validate_identity(identity) for identity in identities]
    ids = [fields["machine_id"] for fields in cleaned]
    taken = set()
    for start in range(0, len(ids), BULK_ENROLL_BATCH):
        chunk = ids[start : start + BULK_ENROLL_BATCH]
        taken |= set(
            Machine.objects.filter(machine_id__in=chunk).values_list("machine_id", flat=True)
        )
    if taken or len(set(ids)) != len(ids):
        raise EnrollmentError("machine ids already enrolled or repeated", status=400)
    machines = []
    for fields in cleaned:
        wsl = fields["wsl"]
        machines.append(
            Machine(
                machine_id=fields["machine_id"],
                hostname=fields["hostname"],
                os=fields["os"],
                os_version=fields["os_version"],
                arch=fields["arch"],
                kernel=fields["kernel"],
                agent_version=fields["agent_version"],
                owner_hint=fields["owner"],
                team=token.team,
                wsl_version=wsl.get("version") if wsl.get("version") in (1, 2) else None,
                wsl_distro=str(wsl.get("distro") or "")[:255],
                first_seen=now,
            )
        )
    Machine.objects.bulk_create(machines, batch_size=BULK_ENROLL_BATCH)
    if any(m.pk is None for m in machines):  # backends that return no ids (none we support)
        by_id = dict(Machine.objects.filter(machine_id__in=ids).values_list("machine_id", "pk"))
        for machine in machines:
            machine.pk = by_id[machine.machine_id]
    enrollments, credentials = [], []
    for machine in machines:
        secret = new_secret(MachineCredential.PREFIX)
        credential = MachineCredential(machine=machine, enrollment_token=token)
        credential.set_secret(secret)
        credentials.append(credential)
        enrollments.append(Enrollment(machine=machine, credential=secret, created=True))
    MachineCredential.objects.bulk_create(credentials, batch_size=BULK_ENROLL_BATCH)
    EnrollmentToken.objects.filter(pk=token.pk).update(
        enrollments=F("enrollments") + len(machines), last_used_at=now
    )
    return enrollments


def machine_for_credential(secret: str) -> Machine | None:
    """The machine an active credential belongs to, or None (unknown or revoked).

    Read on every upload, never cached: a revoked credential gets 401 from its next upload on.
    """
    if not secret or len(secret) > 200:
        return None
    if connection.vendor == "postgresql":
        token_hash = digest(secret)
        try:
            return _machine_for_digest_pg(token_hash)
        except (InterfaceError, OperationalError):
            # A connection PostgreSQL dropped (a restart): this lookup is read-only and an
            # upload's first statement, so it is retried once on a new connection. The ingest
            # fast path (apps/common/fastpath.py) skips Django's per-request health check, a
            # SELECT 1 round trip per upload, on the strength of this.
            if connection.in_atomic_block or connection.is_usable():
                raise
            connection.close()
            return _machine_for_digest_pg(token_hash)
    # Raw SQL: this runs on every upload and the ORM's query compilation is a measurable part
    # of an upload's cost; the join and index are the same the ORM would use.
    machines = Machine.objects.raw(
        f"SELECT m.* FROM {Machine._meta.db_table} m JOIN {MachineCredential._meta.db_table} c"
        " ON c.machine_id = m.id WHERE c.token_hash = %s AND c.revoked_at IS NULL LIMIT 1",
        [digest(secret)],
    )
    return next(iter(machines), None)


@functools.cache
def _machine_row_plan() -> tuple[str, list[str], list[tuple[int, object]]]:
    fields = Machine._meta.concrete_fields
    sql = (
        f"SELECT {', '.join('m.' + f.column for f in fields)} FROM {Machine._meta.db_table} m"
        f" JOIN {MachineCredential._meta.db_table} c ON c.machine_id = m.id"
        " WHERE c.token_hash = %s AND c.revoked_at IS NULL LIMIT 1"
    )
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    return sql, [f.attname for f in fields], converters


def _machine_for_digest_pg(token_hash: str) -> Machine | None:
    # A plain cursor and Model.from_db: half the CPU of a RawQuerySet (measured), and on
    # PostgreSQL every column but JSON arrives as its Python type already.
    sql, names, converters = _machine_row_plan()
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, convert in converters:
        values[index] = convert(values[index], None, connection)
    return Machine.from_db(connection.alias, names, values)


def create_api_token(user, name: str, scope: str = ApiToken.Scope.READ) -> tuple[ApiToken, str]:
    """A personal API token; read-only unless `scope` is write (acknowledge, snooze)."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
    secret = new_secret(ApiToken.PREFIX)
    token = ApiToken(user=user, name=name, scope=scope)
    token.set_secret(secret)
    token.save()
    return token, secret


def api_token_for(secret: str) -> ApiToken | None:
    """The active personal API token for this secret (its user active too), or None."""
    if not secret or len(secret) > 200:
        return None
    token = ApiToken.objects.matching(secret).select_related("user").first()
    if token is None or not token.user.is_active:
        return None
    return token


def user_for_api_token(secret: str):
    token = api_token_for(secret)
    return token.user if token is not None else None
