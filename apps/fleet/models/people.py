"""Teams and team membership; developers are Django users."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.text import slugify


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    min_gopls_version = models.CharField(
        max_length=32, blank=True, help_text="Lowest gopls version this team accepts, e.g. v0.16.0."
    )
    detector_overrides = models.JSONField(
        default=dict, blank=True, help_text="Per-team detector thresholds, by rule id."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams", blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = slugify(self.name)[:100] or "team"
        super().save(*args, **kwargs)


class MembershipQuerySet(models.QuerySet):
    def led_team_ids(self, user) -> models.QuerySet:
        """The ids of the teams `user` leads, as a subquery-ready values queryset."""
        return self.filter(user=user, role=Membership.Role.LEAD).values("team_id")


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        LEAD = "lead", "Team lead"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"
