"""Account URLs under /accounts/, not namespaced: Django's auth views reverse their own names
(login, logout, password_change_done, …) without one; plus signup and api-token."""

from django.urls import include, path

from cryptotracker.accounts import views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("signup/", views.signup, name="signup"),
    path("token/", views.api_token, name="api-token"),
    path("", include("django.contrib.auth.urls")),
]
