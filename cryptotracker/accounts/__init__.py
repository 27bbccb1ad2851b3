"""Accounts: Django's auth views (sign in/out, password change and reset), sign-up, API tokens."""
