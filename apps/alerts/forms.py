"""Staff forms for channels and routes."""

from __future__ import annotations

from django import forms

from apps.alerts.models import Channel, Route
from apps.alerts.transports import TRANSPORTS


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


class PersonalChannelForm(forms.ModelForm):
    """A developer's opt-in: messages about their own machines to their email or chat."""

    class Meta:
        model = Channel
        fields = ["kind", "target", "min_severity"]

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        if kind not in TRANSPORTS:
            raise forms.ValidationError(f"{kind} is not available on this server")
        return kind
