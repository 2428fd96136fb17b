"""Form fields that answer a form error, not a 500, to ids outside the database's range."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

MAX_ID = 2**63 - 1


class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField whose integer ids must fit a 64-bit column.

    Django checks each value's type but not its size: 99999999999999999999 reaches the
    database and fails there (OverflowError on SQLite, out of range on PostgreSQL) as a 500.
    """

    def _check_values(self, value):
        for pk in value:
            try:
                number = int(str(pk).strip())
            except (TypeError, ValueError):
                continue  # not a number at all: Django's own check names it
            if not -MAX_ID - 1 <= number <= MAX_ID:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": str(pk)[:32]},
                )
        return super()._check_values(value)
