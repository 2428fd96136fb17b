"""Forms for channels, routes and silences."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from apps.alerts.models import Channel, Route, Silence
from apps.alerts.silences import manageable_teams
from apps.alerts.targets import PERSONAL_KINDS
from apps.alerts.transports import TRANSPORTS
from apps.anomalies.actions import parse_duration
from apps.common.forms import BoundedModelMultipleChoiceField
from apps.fleet.models import Machine, Project

SILENCE_DURATIONS = [
    ("1h", "1 hour"),
    ("4h", "4 hours"),
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
]


class ChannelForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = ["team", "name", "kind", "target", "secret", "owner", "min_severity", "enabled"]

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        if kind not in TRANSPORTS:
            raise forms.ValidationError(f"{kind} is not available on this server")
        return kind

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        if channel.enabled:  # re-enabling after a fix clears the reason
            channel.disabled_reason = ""
        if commit:
            channel.save()
        return channel


class RouteForm(forms.ModelForm):
    class Meta:
        model = Route
        fields = [
            "team",
            "project",
            "rule_id",
            "min_severity",
            "channels",
            "repeat_hours",
            "enabled",
        ]
        widgets = {"channels": forms.CheckboxSelectMultiple}
        field_classes = {"channels": BoundedModelMultipleChoiceField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.fields["channels"].queryset.exists():  # else "Channels:" with nothing by it
            self.fields["channels"].help_text = "No channels yet: add a channel first."


class PersonalChannelForm(forms.ModelForm):
    """A developer's opt-in: messages about their own machines to their email, chat or webhook.

    The instance carries the owner, so Channel.clean applies the personal rules (no Apprise,
    public addresses only) at save time."""

    class Meta:
        model = Channel
        fields = ["kind", "target", "min_severity"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (value, label)
            for value, label in Channel.Kind.choices
            if value in PERSONAL_KINDS and value in TRANSPORTS
        ]


class SilenceForm(forms.ModelForm):
    """A silence mutes matching findings' messages; empty fields match anything.

    Team leads must scope it to a team they lead (and a machine of that team, if any)."""

    duration = forms.ChoiceField(choices=SILENCE_DURATIONS, initial="4h")
    machine = forms.ModelChoiceField(
        queryset=Machine.objects.none(), required=False, to_field_name="machine_id"
    )

    class Meta:
        model = Silence
        fields = ["team", "machine", "project", "rule_id", "reason"]
        labels = {"rule_id": "Rule id", "machine": "Machine id"}
        help_texts = {"rule_id": "Empty silences every rule, e.g. gopls_memory_leak."}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        teams = manageable_teams(user)
        self.fields["team"].queryset = teams
        self.fields["project"].queryset = Project.objects.visible_to(user).order_by("module_path")
        machines = Machine.objects.all()
        if not (user.is_staff or user.is_superuser):
            self.fields["team"].required = True
            self.fields["team"].empty_label = None
            machines = machines.filter(team__in=teams)
        self.fields["machine"].queryset = machines
        self.fields["machine"].widget = forms.TextInput(attrs={"placeholder": "any machine"})
        self.fields["rule_id"].widget.attrs["placeholder"] = "any rule"

    def clean_rule_id(self) -> str:
        from apps.anomalies.detectors import REGISTRY

        rule_id = self.cleaned_data["rule_id"].strip()
        if rule_id and rule_id not in REGISTRY:
            raise forms.ValidationError(f"No rule {rule_id!r}; see the rules page for their ids.")
        return rule_id

    def clean(self) -> dict:
        data = super().clean()
        team, machine = data.get("team"), data.get("machine")
        if team and machine and machine.team_id != team.pk:
            self.add_error("machine", f"{machine.hostname} is not in team {team}.")
        return data

    def save(self, commit: bool = True) -> Silence:
        silence = super().save(commit=False)
        silence.created_by = self.user
        silence.expires_at = timezone.now() + parse_duration(self.cleaned_data["duration"])
        if commit:
            silence.save()
        return silence
