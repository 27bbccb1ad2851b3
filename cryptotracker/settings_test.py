"""Test settings: in-process django-q2, fast hashing, in-memory email, isolated DynamoDB prefix."""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")

from cryptotracker.settings import *  # noqa: E402,F403
from cryptotracker.settings import (  # noqa: E402
    EXCHANGE_HTTP_DEFAULTS,
    Q_CLUSTER,
    REST_FRAMEWORK,
    SQLITE_OPTIONS,
    env,
)

# Tests never read the developer's .env for these: they must be hermetic.
DATABASES = {"default": env.db_url_config(env.str("DATABASE_URL", default="") or "sqlite:///:memory:")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = dict(SQLITE_OPTIONS)
    # A file, not memory: the alerts end-to-end and concurrency tests share the test database
    # with worker processes. One file per pytest process, removed when the run ends.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"cryptotracker-test-{os.getpid()}.sqlite3")
    }
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
BITFINEX_API_URL = "http://127.0.0.1:9/bitfinex-not-configured-in-tests"
EXCHANGE_HTTP_TIMEOUT_S = EXCHANGE_HTTP_DEFAULTS["timeout_s"]
EXCHANGE_HTTP_RETRIES = EXCHANGE_HTTP_DEFAULTS["retries"]
EXCHANGE_HTTP_DEADLINE_S = EXCHANGE_HTTP_DEFAULTS["deadline_s"]
DYNAMODB_ENDPOINT_URL = None
DYNAMODB_TABLE_PREFIX = "test_"
PRICES_PAIRS: list[str] = []
# Tests see every store at once (tests/prices/test_cache.py covers the reuse window).
PRICES_CACHE_VERSION_TTL_S = 0.0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SITE_URL = "http://127.0.0.1:8000"
DEFAULT_FROM_EMAIL = "cryptotracker <cryptotracker@localhost>"
ALERTS_FROM_EMAIL = "alerts@cryptotracker.test"
ALERTS_STALE_MINUTES = 5
ALERTS_CATCH_UP_MINUTES = 15
ALERTS_INGEST_GRACE_S = 90
ALERTS_DELIVERY_MAX_ATTEMPTS = 5
ALERTS_DELIVERY_BACKOFF_S = 60
ALERTS_DELIVERY_BACKOFF_MAX_S = 3600
ALERTS_WEBHOOK_TIMEOUT_S = 2.0
ALERTS_OUTBOUND_ALLOWED_NETWORKS: list = []
ALERTS_UNVERIFIED_CHANNELS_PER_HOUR = 5
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
# Tests talk plain http through the test client, whatever DJANGO_DEBUG says; the HTTPS settings
# are tested on their own (tests/test_production_settings.py).
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# No rate limits but in the throttling tests (they set their own rates).
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None}}
ALERTS_BACKTEST_RATE = None  # tests that check the rate set it
READINESS_TIMEOUT_S = 2.0
READINESS_STALE_AFTER_S = 120
READINESS_SCHEDULE_GRACE_S = 120
METRICS_TOKEN = ""
METRICS_ALLOWED_NETWORKS: list = []
PROMETHEUS_MULTIPROC_DIR = ""
PRICES_RETENTION_DAYS = None
PRICES_GAP_LOOKBACK_HOURS = 24
PRICES_GAP_MAX_REQUESTS = 15
