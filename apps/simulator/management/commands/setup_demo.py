"""manage.py setup_demo: the quick start's demo login, and demo accounts for simulated owners."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db.models import Count

from apps.fleet.models import Machine, Membership, Team
from apps.metrics.models import SystemSample

DEMO_ADMIN = "admin"


def demo_password() -> str:
    """One random password per installation, kept in var/ so every run can print it."""
    path = Path(settings.VAR_DIR) / "demo-login.txt"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


class Command(BaseCommand):
    help = "Create the demo admin login (printed) and accounts for simulated machine owners."

    def add_arguments(self, parser):
        parser.add_argument(
            "--summary",
            action="store_true",
            help="Link simulated owners to demo accounts and print what the demo fleet holds.",
        )

    def handle(self, *args, **options):
        password = demo_password()
        users = get_user_model().objects
        admin = users.filter(username=DEMO_ADMIN).first()
        if admin is None:
            users.create_superuser(DEMO_ADMIN, "admin@example.com", password)
        if options["summary"]:
            self._link_owners(password)
            self._summary()
        base = settings.DEVFLEET_BASE_URL
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: {DEMO_ADMIN} / {password}  (developers: username / same password)"
            )
        )
        self.stdout.write(f"  Open:     {base}/   (the dashboard; your own page: {base}/me/)")
        self.stdout.write(f"  Admin:    {base}/admin/")
        self.stdout.write(
            f"  JSON API: {base}/api/v1/machines/   (OpenAPI: {base}/api/v1/openapi.json)"
        )

    def _link_owners(self, password: str) -> None:
        users = get_user_model().objects
        hashed = None  # hashed once: a slow password hash per demo account added a minute
        for machine in Machine.objects.filter(owner__isnull=True).exclude(owner_hint=""):
            user = users.filter(username=machine.owner_hint).first()
            if user is None:
                hashed = hashed or make_password(password)
                user = users.create(username=machine.owner_hint, password=hashed)
            machine.owner = user
            machine.save(update_fields=["owner"])
            Membership.objects.get_or_create(user=user, team=machine.team)
        for team in Team.objects.all():
            memberships = Membership.objects.filter(team=team).order_by("user__username")
            if memberships.exists() and not memberships.filter(role=Membership.Role.LEAD).exists():
                first = memberships.first()
                first.role = Membership.Role.LEAD
                first.save(update_fields=["role"])

    def _summary(self) -> None:
        teams = Team.objects.annotate(n=Count("machines")).order_by("name")
        self.stdout.write(
            f"Demo fleet: {Machine.objects.count()} machines, "
            f"{SystemSample.objects.count()} samples, teams: "
            + ", ".join(f"{t.name} ({t.n})" for t in teams)
        )
