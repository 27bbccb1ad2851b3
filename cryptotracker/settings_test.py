"""Test settings: in-process django-q2, fast hashing, in-memory email, isolated DynamoDB prefix."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")

from cryptotracker.settings import *  # noqa: E402,F403
from cryptotracker.settings import Q_CLUSTER, env  # noqa: E402

# Tests never read the developer's .env for these: they must be hermetic.
DATABASES = {"default": env.db_url_config(env.str("DATABASE_URL", default="") or "sqlite:///:memory:")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
BITFINEX_API_URL = "http://127.0.0.1:9/bitfinex-not-configured-in-tests"
DYNAMODB_ENDPOINT_URL = None
DYNAMODB_TABLE_PREFIX = "test_"
PRICES_PAIRS: list[str] = []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
