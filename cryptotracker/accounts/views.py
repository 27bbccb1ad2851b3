"""Account pages beside Django's auth views: sign-up (behind ACCOUNTS_SIGNUP_ENABLED) and the API token."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from cryptotracker.accounts import services
from cryptotracker.accounts.forms import SignUpForm


class SignInView(LoginView):
    """Django's LoginView (so login protection covers it), linking to sign-up when it is on."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "signup_enabled": settings.ACCOUNTS_SIGNUP_ENABLED}


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """`/accounts/signup/`: create an account and sign in; 404 unless ACCOUNTS_SIGNUP_ENABLED."""
    if not settings.ACCOUNTS_SIGNUP_ENABLED:
        raise Http404("Sign-up is off on this site")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. Create your first alert from a pair's page.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form, "nav": "account"})


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """`/accounts/token/`: whether the user has an API token; POST `action=create|rotate|revoke`.

    A new key is in the POST's answer only (never stored in the session or shown again).
    """
    new_key = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("create", "rotate"):
            new_key = services.api_token_issue(user=request.user)
        elif action == "revoke":
            if services.api_token_revoke(user=request.user):
                messages.success(request, "Your API token was revoked: requests with it now get 401.")
            return redirect("api-token")
        else:
            return HttpResponse("Unknown action", status=400)
    token = Token.objects.filter(user=request.user).only("created").first()
    context = {
        "nav": "account",
        "tab": "token",
        "token": token,
        "new_key": new_key,
        "rotated": request.POST.get("action") == "rotate",
    }
    return render(request, "registration/api_token.html", context)
