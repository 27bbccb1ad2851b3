"""Sign-up form: Django's UserCreationForm plus an email address (for alerts and password resets)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """Username, email (required, unique) and the password twice, with the password validators."""

    email = forms.EmailField(help_text="Alerts can be sent here; a password reset link too.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email address exists: sign in or reset its password."
            )
        return email
