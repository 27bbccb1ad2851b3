"""Project settings: the only module that reads the environment.

Every variable is listed with its local default in `.env.example`; a `.env` file in the
project root is read when present. Values are parsed by django-environ, which raises
`ImproperlyConfigured` on malformed input (a bad URL, a non-boolean `DJANGO_DEBUG`).
"""

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from cryptotracker import api_docs

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated variable as a list of stripped, non-empty items."""
    return [item.strip() for item in env.str(name, default=default).split(",") if item.strip()]


# --- Django core -----------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set; it is required when DJANGO_DEBUG is false "
            "(copy .env.example to .env for local use)."
        )
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - DEBUG only
# The key in .env.example is public; a .env copied from it must not reach production.
if not DEBUG and SECRET_KEY == "local-development-secret-change-me":
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is the public example from .env.example; set a secret one.")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# --- HTTPS, behind a reverse proxy (README: Production deployment) --------------------
# DJANGO_HTTPS: browsers reach the site over HTTPS only (default: whenever DEBUG is off): redirect
# http to https, cookies only over HTTPS, HSTS. `make run` (DEBUG on) stays plain http.
HTTPS = env.bool("DJANGO_HTTPS", default=not DEBUG)
# DJANGO_BEHIND_TLS_PROXY: a proxy terminates TLS and sets X-Forwarded-Proto (replacing any
# value a client sent); without it Django would take every proxied request for plain http.
BEHIND_TLS_PROXY = env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
# Probes and Prometheus call gunicorn directly over the private network, in plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "prices",
    "alerts",
    "cryptotracker.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages and their JSON are compressed (static files come precompressed from WhiteNoise).
    # Django's gzip adds random bytes against BREACH; CSRF tokens are masked per response.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cryptotracker.urls"
SESSION_ENGINE = "cryptotracker.sessions"
WSGI_APPLICATION = "cryptotracker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# An empty DATABASE_URL (as in .env.example) means the local SQLite file, like an unset one.
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# SQLite shared by web, workers and commands: BEGIN IMMEDIATE makes every transaction take
# the write lock up front (a read-then-write transaction never fails half-way with
# "database is locked"), WAL lets readers run beside the writer, `timeout` waits for it.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cryptotracker",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# Every rendered date and time (the admin's too) reads 2019-12-31 14:42:00 UTC, naming its zone.
FORMAT_MODULE_PATH = ["cryptotracker.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic writes here and WhiteNoise serves from here (bench_http points its server at a
# temporary collection).
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default="") or VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# plotly.js comes from node_modules (npm's partial bundle, no CDN): see prices/dashboards/staticfiles.py.
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "prices.dashboards.staticfiles.PlotlyJsFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic (bin/run, the Docker image) writes hashed names plus .gz/.br copies;
    # WhiteNoise serves the hashed files with a year's `Cache-Control: immutable`.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The largest request body (API, admin, forms) read into memory: alert rules and channels are
# well under 1 KB, so 256 KiB refuses junk early (413 in the API) and fits any real request.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# --- Django REST Framework and the OpenAPI schema ------------------------------------
# Request rates per client ("120/min"; s, min, hour, day); empty = unlimited. Counted in the
# cache: per process without REDIS_URL, shared by every process and host with it.
THROTTLE_RATE_PATTERN = r"^\d+/(s|sec|m|min|h|hour|d|day)$"
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="120/min") or None
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="600/min") or None
for _name, _rate in (("API_THROTTLE_ANON", API_THROTTLE_ANON), ("API_THROTTLE_USER", API_THROTTLE_USER)):
    if _rate is not None and not re.match(THROTTLE_RATE_PATTERN, _rate):
        raise ImproperlyConfigured(f"{_name}={_rate!r} is not a rate such as 120/min")
API_NUM_PROXIES = env.int("API_NUM_PROXIES", default=1 if BEHIND_TLS_PROXY else 0)

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    # Private unless a view says otherwise: the price read API is public (prices.api.views).
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"anon": API_THROTTLE_ANON, "user": API_THROTTLE_USER},
    # Proxies in front of the app whose X-Forwarded-For entry names the client (0: REMOTE_ADDR).
    "NUM_PROXIES": API_NUM_PROXIES,
    # Bodies bounded in size and JSON nesting (413/400 in the error shape, not a 500).
    "DEFAULT_PARSER_CLASSES": [
        "cryptotracker.api_parsers.BoundedJSONParser",
        "cryptotracker.api_parsers.BoundedFormParser",
        "cryptotracker.api_parsers.BoundedMultiPartParser",
    ],
    # An unknown ?format= is a 400 naming the parameter (DRF: 404).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "cryptotracker.params.FormatParamNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cryptotracker.api_errors.api_exception_handler",
    "DATETIME_FORMAT": "iso-8601",
    # Browsable API page names: "Pair history", not the class name "Pair History Api".
    "VIEW_NAME_FUNCTION": "cryptotracker.api_docs.view_name",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cryptotracker API",
    "DESCRIPTION": (
        "Bitfinex prices stored every minute: pairs, history, statistics, ranking; price alerts. "
        "Prices are exact decimal strings. Times are ISO 8601 UTC with Z in answers; requests "
        "accept any offset (send + as %2B), and a time without an offset is read as UTC, also when "
        "followed by UTC or Z (2019-12-31 12:00 UTC, the dashboards' form); other zone names are "
        "refused. Every "
        'error is {"error": {"status", "code", "message", "fields"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger groups operations by resource; public reads are shown without a lock.
    "TAGS": api_docs.TAGS,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cryptotracker.api_docs.tag_and_unlock",
    ],
}

# --- django-q2 ------------------------------------------------------------------------
# catch_up=False: a cluster that was down does not replay missed polls (gap repair does).
# timeout < retry: a task still running is never handed to a second worker.
# The poll's budget: django-q2 interrupts a task at `timeout` and kills it 3 s later; the poll
# lease (timeout + 3 s = 58 s) must run out before the next minute's poll. Inside the timeout
# fit the exchange request (EXCHANGE_HTTP_DEADLINE_S, retries included) and ~5 s to store.
Q_TIMEOUT_S = 55
Q_CLUSTER = {
    "name": "cryptotracker",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT_S,
    "retry": 90,
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 500,
    "label": "Django Q2",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Prices: exchange and DynamoDB ----------------------------------------------------
BITFINEX_API_URL = env.str("BITFINEX_API_URL", default="https://api-pub.bitfinex.com").rstrip("/")
# Read timeout per attempt (the connect timeout is 3.05 s): an exchange answering within ~40 s
# still stores its minute. A retry starts only if a whole attempt still ends within the deadline.
EXCHANGE_HTTP_DEFAULTS = {"timeout_s": 45.0, "retries": 2, "deadline_s": 50.0}
EXCHANGE_HTTP_TIMEOUT_S = env.float("EXCHANGE_HTTP_TIMEOUT_S", default=EXCHANGE_HTTP_DEFAULTS["timeout_s"])
EXCHANGE_HTTP_RETRIES = env.int("EXCHANGE_HTTP_RETRIES", default=EXCHANGE_HTTP_DEFAULTS["retries"])
EXCHANGE_HTTP_DEADLINE_S = env.float("EXCHANGE_HTTP_DEADLINE_S", default=EXCHANGE_HTTP_DEFAULTS["deadline_s"])
if not 0 < EXCHANGE_HTTP_TIMEOUT_S < EXCHANGE_HTTP_DEADLINE_S <= Q_TIMEOUT_S - 5:
    raise ImproperlyConfigured(
        f"EXCHANGE_HTTP_TIMEOUT_S={EXCHANGE_HTTP_TIMEOUT_S} must be below EXCHANGE_HTTP_DEADLINE_S="
        f"{EXCHANGE_HTTP_DEADLINE_S}, which must leave 5 s of the {Q_TIMEOUT_S} s task timeout to store"
    )
PRICES_PAIRS = env_list("PRICES_PAIRS", "")
# The exchanges polled (prices/exchanges.py): each has its own API URL override and pair filter.
PRICES_EXCHANGES = env_list("PRICES_EXCHANGES", "bitfinex")
EXCHANGE_API_URLS = {
    name: env.str(f"{name.upper()}_API_URL", default="").rstrip("/")
    for name in ("binance", "kraken", "coinbase")
    if env.str(f"{name.upper()}_API_URL", default="")
}
EXCHANGE_PAIRS = {name: env_list(f"{name.upper()}_PAIRS", "") for name in ("binance", "kraken", "coinbase")}
# The cross-exchange guard (prices/guard.py): a price further from the other exchanges' median
# than max(floor, multiple × its 1 h volatility) is stored flagged `suspect`.
PRICES_SUSPECT_MULTIPLE = env.float("PRICES_SUSPECT_MULTIPLE", default=10.0)
PRICES_SUSPECT_FLOOR_PCT = env.float("PRICES_SUSPECT_FLOOR_PCT", default=2.0)
if PRICES_SUSPECT_MULTIPLE <= 0 or PRICES_SUSPECT_FLOOR_PCT < 0:
    raise ImproperlyConfigured(
        "PRICES_SUSPECT_MULTIPLE must be above 0 and PRICES_SUSPECT_FLOOR_PCT at least 0"
    )

DYNAMODB_ENDPOINT_URL = env.str("DYNAMODB_ENDPOINT_URL", default="") or None
AWS_REGION = env.str("AWS_REGION", default="us-east-1")
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
DYNAMODB_TABLE_PREFIX = env.str("DYNAMODB_TABLE_PREFIX", default="cryptotracker_")


def env_positive_int(name: str, default: str, *, optional: bool = False) -> int | None:
    """A whole number ≥ 1; with `optional`, None when the variable is empty."""
    raw = env.str(name, default=default).strip()
    if not raw and optional:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ImproperlyConfigured(
            f"{name}={raw!r} must be a whole number ≥ 1" + (" or empty" if optional else "")
        )
    return int(raw)


# Ticks older than this many days are deleted (DynamoDB TTL, else prices.tasks.expire_ticks);
# empty = keep forever. Minute snapshots, hour rollups and blocks are kept either way.
PRICES_RETENTION_DAYS = env_positive_int("PRICES_RETENTION_DAYS", "", optional=True)
# Shards of every all-pairs DynamoDB item (minute snapshots, rollups, blocks, gaps, registry, live
# statistics): a pair lives in shard crc32(pair) % this. 32 keeps each item under 100 KB up to
# 10,000 pairs. Changing it needs `manage.py migrate_aggregates` (docs/data-model.md).
PRICES_AGGREGATE_SHARDS = env_positive_int("PRICES_AGGREGATE_SHARDS", "32")
# Cached price answers (prices/cache.py) are keyed by DynamoDB's data version; each web process
# reads it at most once per this many seconds (0 = on every cached read). A stored minute then
# shows within this time; a hit costs no DynamoDB call in between.
PRICES_CACHE_VERSION_TTL_S = env.float("PRICES_CACHE_VERSION_TTL_S", default=1.0)
if not 0 <= PRICES_CACHE_VERSION_TTL_S <= 60:
    raise ImproperlyConfigured(
        f"PRICES_CACHE_VERSION_TTL_S={PRICES_CACHE_VERSION_TTL_S} must be between 0 and 60 seconds"
    )
# Gap repair (prices.tasks.repair_gaps): how far back it looks for missing minutes, and how many
# candle requests one run may make (Bitfinex allows 30 a minute; runs are 2 minutes apart).
PRICES_GAP_LOOKBACK_HOURS = env_positive_int("PRICES_GAP_LOOKBACK_HOURS", "24")
PRICES_GAP_MAX_REQUESTS = env_positive_int("PRICES_GAP_MAX_REQUESTS", "15")

# --- Email (alert notifications) ------------------------------------------------------
# EMAIL_URL wins (smtp://user:password@host:587 with smtp+tls:// or smtp+ssl://, consolemail://,
# filemail:///path); else EMAIL_HOST and friends select SMTP; else the console backend.
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(env.email_url_config(EMAIL_URL))
elif env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_S", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cryptotracker <cryptotracker@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The port `make run` serves the site on (bin/run reads it too).
WEB_PORT = env.int("WEB_PORT", default=8000)
# Absolute base URL for links in emails (no trailing slash); empty = the `make run` address.
SITE_URL = (env.str("SITE_URL", default="") or f"http://127.0.0.1:{WEB_PORT}").rstrip("/")

# --- Alerts ---------------------------------------------------------------------------
ALERTS_FROM_EMAIL = env.str("ALERTS_FROM_EMAIL", default="") or DEFAULT_FROM_EMAIL
# A pair whose newest tick is this many minutes older than the evaluated minute is `no_data`.
ALERTS_STALE_MINUTES = env.int("ALERTS_STALE_MINUTES", default=5)
# After an outage, evaluation replays at most this many missed minutes per rule.
ALERTS_CATCH_UP_MINUTES = env.int("ALERTS_CATCH_UP_MINUTES", default=15)
# The safety-net schedule waits this long after a minute ends for its ticks before judging it.
ALERTS_INGEST_GRACE_S = env.int("ALERTS_INGEST_GRACE_S", default=90)
# Failed deliveries: retried after BACKOFF_S, doubling up to BACKOFF_MAX_S, MAX_ATTEMPTS in all.
ALERTS_DELIVERY_MAX_ATTEMPTS = env.int("ALERTS_DELIVERY_MAX_ATTEMPTS", default=8)
ALERTS_DELIVERY_BACKOFF_S = env.int("ALERTS_DELIVERY_BACKOFF_S", default=60)
ALERTS_DELIVERY_BACKOFF_MAX_S = env.int("ALERTS_DELIVERY_BACKOFF_MAX_S", default=3600)
ALERTS_WEBHOOK_TIMEOUT_S = env.float("ALERTS_WEBHOOK_TIMEOUT_S", default=10.0)
# Channels needing a verification email (another person's address) a user may add per hour.
ALERTS_UNVERIFIED_CHANNELS_PER_HOUR = env.int("ALERTS_UNVERIFIED_CHANNELS_PER_HOUR", default=5)
# Internal networks (IPs or CIDRs) that webhooks and Apprise services may reach on purpose, e.g. a
# LAN ntfy; empty = only public addresses (alerts/outbound.py, docs/alerts.md: Outbound guard).
try:
    ALERTS_OUTBOUND_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False) for item in env_list("ALERTS_OUTBOUND_ALLOWED_NETWORKS", "")
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"ALERTS_OUTBOUND_ALLOWED_NETWORKS: {exc}") from exc
# One-click links in notifications (mute, disable, re-arm) stop working after this many seconds.
# Backtests (API and the rule form's preview) per signed-in user; empty = unlimited.
ALERTS_BACKTEST_RATE = env.str("ALERTS_BACKTEST_RATE", default="20/min") or None
if ALERTS_BACKTEST_RATE is not None and not re.match(THROTTLE_RATE_PATTERN, ALERTS_BACKTEST_RATE):
    raise ImproperlyConfigured(f"ALERTS_BACKTEST_RATE={ALERTS_BACKTEST_RATE!r} is not a rate such as 20/min")
ALERTS_ACTION_LINK_MAX_AGE_S = env.int("ALERTS_ACTION_LINK_MAX_AGE_S", default=7 * 24 * 3600)

# --- Accounts (Django's auth views at /accounts/; the alerts pages need a sign-in) ----------
# Self sign-up at /accounts/signup/; off: staff create or invite users in the admin.
ACCOUNTS_SIGNUP_ENABLED = env.bool("ACCOUNTS_SIGNUP_ENABLED", default=False)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "alerts_web:rule-list"
LOGOUT_REDIRECT_URL = "dashboards:overview"

# --- Login protection (django-axes; README: Login protection) ---------------------------
# Every login form (admin, /accounts/login/) goes through axes: after LOGIN_FAILURE_LIMIT
# failures of one username from one IP address, that pair is locked out (429 and a page saying
# so) for LOGIN_LOCKOUT_MINUTES; a successful login resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "cryptotracker.login_protection.lockout_response"
# The client's address as the API's throttling sees it (API_NUM_PROXIES), not a spoofable header.
AXES_CLIENT_IP_CALLABLE = "cryptotracker.login_protection.client_ip"

# --- Monitoring: readiness and Prometheus (README: Health, readiness and metrics) ---------
# Connect and read timeout of readiness's DynamoDB call (no retries).
READINESS_TIMEOUT_S = env.float("READINESS_TIMEOUT_S", default=2.0)
# Not ready when the newest tick of any pair is older than this (its minute's end, seconds).
READINESS_STALE_AFTER_S = env.int("READINESS_STALE_AFTER_S", default=120)
# Not ready when a repeating schedule is this far past its next_run (no cluster is running).
READINESS_SCHEDULE_GRACE_S = env.int("READINESS_SCHEDULE_GRACE_S", default=120)
# /metrics: a bearer token to require, and/or the networks scrapes may come from (IPs or CIDRs).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False) for item in env_list("METRICS_ALLOWED_NETWORKS", "")
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from exc
# Read by prometheus_client itself: one directory per host shared by web and qcluster processes
# (emptied when they start), so that /metrics sums the work of every process on the host.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if "PROMETHEUS_MULTIPROC_DIR" in os.environ and not Path(PROMETHEUS_MULTIPROC_DIR).is_absolute():
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR!r} must be an absolute path; unset it "
        "for single-process metrics"
    )
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR} is not a directory")

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # Django's own config gives "django" a console handler (with DEBUG) and lets it
        # propagate to the root's: each django.request line would print twice. Root only.
        "django": {"handlers": [], "level": "INFO"},
        "prices": {"level": LOG_LEVEL},
        "alerts": {"level": LOG_LEVEL},
        "django-q": {"level": LOG_LEVEL},  # django-q2 logs as "django-q", not "django_q"
    },
}
