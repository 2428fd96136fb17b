"""devfleet settings: one module, every deployment difference comes from the environment."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DEVFLEET_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
DEVFLEET_SECURE = env_bool("DEVFLEET_SECURE", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    # Production (DEVFLEET_SECURE) never falls back to the published development key.
    if DEVFLEET_SECURE or not (DEBUG or env_bool("DEVFLEET_INSECURE_DEV_KEY", True)):
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set in production: DEVFLEET_SECURE=true "
            "or DEVFLEET_INSECURE_DEV_KEY=false refuse the development key"
        )
    # A fixed development key keeps sessions valid across restarts of the quick start;
    # deploy/.env.example tells production to set SECRET_KEY.
    SECRET_KEY = "devfleet-insecure-development-key-change-me-in-production-0123456789"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
DEVFLEET_BASE_URL = env_str("DEVFLEET_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "apps.fleet",
    "apps.metrics",
    "apps.ingest",
    "apps.api",
    "apps.simulator",
    "apps.anomalies",
    "apps.dashboard",
    "apps.audit",
    "apps.alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.common.nul_bytes.RejectNulBytesMiddleware",
    # Agent uploads skip the rest of the stack (apps/common/fastpath.py says why).
    "apps.common.fastpath.IngestFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.common.middleware.ContentSecurityPolicyMiddleware",
    "apps.audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Database: SQLite by default, DATABASE_URL for PostgreSQL -------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Persistent connections are checked before a request or task reuses them, so the first
    # request after a PostgreSQL restart reconnects instead of failing (seen in the soak).
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=600,
            conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
        )
    }
    DATABASES["default"].setdefault("OPTIONS", {})
    # One test database per test run, so concurrent runs against one server do not collide.
    DATABASES["default"].setdefault("TEST", {"NAME": f"test_devfleet_{os.getpid()}"})
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Server-side binding lets psycopg prepare the ingest statements once per connection
        # instead of re-parsing and quoting ~150 parameters on every upload.
        DATABASES["default"]["OPTIONS"].setdefault(
            "server_side_binding", env_bool("DB_SERVER_SIDE_BINDING", True)
        )
        # Django turns psycopg's prepared statements off (for transaction-mode poolers); the
        # ingest statements run on every upload, and parsing and planning them anew was a
        # third of PostgreSQL's CPU per upload (measured). DB_PREPARE_THRESHOLD=0 turns it off
        # again (behind PgBouncer in transaction mode).
        _prepare = env_int("DB_PREPARE_THRESHOLD", 5, minimum=0)
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", _prepare or None)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "devfleet.sqlite3")),
            "OPTIONS": {
                # WAL lets the web server, worker and beat read while one of them writes;
                # IMMEDIATE transactions take the write lock up front instead of failing
                # half-way with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
            # A file, not memory, so worker subprocesses in integration tests can share it;
            # one per test run, so concurrent runs on one checkout do not clobber each other.
            "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: Redis when REDIS_URL is set, else per-process memory ----------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery: Redis broker with REDIS_URL, else a filesystem broker that needs no server -----
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    for _sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    # A host part, though the transport ignores it: without one kombu warns "No hostname was
    # supplied" in every process that queues a task.
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "devfleet")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = max(5, CELERY_TASK_TIME_LIMIT - 30)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"


def _beat(task: str, cron: str, expires: int) -> dict:
    fields = cron.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(f"cron string {cron!r} for {task} needs 5 fields")
    minute, hour, day, month, dow = fields
    return {
        "task": task,
        "schedule": crontab(
            minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=dow
        ),
        "options": {"expires": expires},
    }


# Each entry: (name, task, env var for the cron string, default cron, expiry in seconds).
# fmt: off
_BEAT_TABLE = [
    ("heartbeat", "apps.fleet.tasks.record_heartbeat_task", "CRON_HEARTBEAT", "* * * * *", 55),
    ("roll-up-recent", "apps.metrics.tasks.roll_up_recent_task", "CRON_ROLLUP", "* * * * *", 55),
    ("prune-old-data", "apps.metrics.tasks.prune_task", "CRON_PRUNE", "17 3 * * *", 3600),
    ("compact-history", "apps.metrics.tasks.compact_task", "CRON_COMPACT", "*/10 * * * *", 540),
    ("compact-rollups", "apps.metrics.tasks.compact_rollups_task", "CRON_COMPACT_ROLLUPS",
     "37 * * * *", 3000),
    ("partitions", "apps.metrics.tasks.ensure_partitions_task", "CRON_PARTS", "7 * * * *", 3000),
    ("detection", "apps.anomalies.tasks.evaluate_fleet_task", "CRON_DETECTION", "* * * * *", 55),
    ("alerts-outbox", "apps.alerts.tasks.reconcile_outbox_task", "CRON_ALERTS", "* * * * *", 55),
    ("digest", "apps.alerts.tasks.send_weekly_digest_task", "CRON_DIGEST", "0 8 * * 1", 3600),
]
# fmt: on
CELERY_BEAT_SCHEDULE = {
    name: _beat(task, env_str(var, default), expires)
    for name, task, var, default, expires in _BEAT_TABLE
}

# --- Detection (apps.anomalies) ---------------------------------------------------------------
# Per-rule threshold overrides, e.g. {"gopls_memory_leak": {"min_slope_mb_h": 40}}; teams can
# override further in Team.detector_overrides. Defaults live in apps/anomalies/thresholds.py.
DETECTION_THRESHOLDS: dict = {}
DETECTION_WINDOW_HOURS = env_float("DETECTION_WINDOW_HOURS", 6.0)
DETECTION_BUCKET_S = env_int("DETECTION_BUCKET_S", 300, minimum=15)
DETECTION_CHUNK_SIZE = env_int("DETECTION_CHUNK_SIZE", 500, minimum=1)
DETECTION_STALE_AFTER_S = env_int("DETECTION_STALE_AFTER_S", 1800, minimum=60)
DETECTION_RESOLVE_AFTER_S = env_int("DETECTION_RESOLVE_AFTER_S", 600, minimum=0)
DETECTION_REOPEN_WITHIN_S = env_int("DETECTION_REOPEN_WITHIN_S", 86400, minimum=0)
DETECTION_REQUEST_PROFILES = env_bool("DETECTION_REQUEST_PROFILES", True)

# --- Alerts (apps.alerts) --------------------------------------------------------------------
ALERTS_GROUP_WAIT_S = env_int("ALERTS_GROUP_WAIT_S", 30, minimum=0)
ALERTS_STORM_WINDOW_S = env_int("ALERTS_STORM_WINDOW_S", 300, minimum=0)
ALERTS_REPEAT_HOURS = env_float("ALERTS_REPEAT_HOURS", 4.0)
ALERTS_RATE_PER_MINUTE = env_int("ALERTS_RATE_PER_MINUTE", 6, minimum=1)
ALERTS_MAX_ATTEMPTS = env_int("ALERTS_MAX_ATTEMPTS", 8, minimum=1)
ALERTS_SENDING_TIMEOUT_S = env_int("ALERTS_SENDING_TIMEOUT_S", 120, minimum=10)
ALERTS_HTTP_TIMEOUT_S = env_float("ALERTS_HTTP_TIMEOUT_S", 10.0)
ALERTS_ACK_MAX_AGE_S = env_int("ALERTS_ACK_MAX_AGE_S", 7 * 86400, minimum=60)
# Outbound alert requests (webhook, chat, Apprise over HTTP) refuse loopback, private,
# link-local, multicast and reserved addresses, after DNS and on every redirect, unless
# ALERTS_ALLOW_PRIVATE_TARGETS=true (e.g. an on-premise chat server) or the address is inside
# one of ALERTS_ALLOWED_PRIVATE_NETWORKS (comma-separated CIDRs, e.g. 10.20.0.0/16), the
# narrower choice.
ALERTS_ALLOW_PRIVATE_TARGETS = env_bool("ALERTS_ALLOW_PRIVATE_TARGETS", False)
ALERTS_ALLOWED_PRIVATE_NETWORKS = env_list("ALERTS_ALLOWED_PRIVATE_NETWORKS")
for _net in ALERTS_ALLOWED_PRIVATE_NETWORKS:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"ALERTS_ALLOWED_PRIVATE_NETWORKS: {_net!r} is not a network (use CIDR, 10.0.0.0/8)"
        ) from _exc

# --- Email: EMAIL_URL (smtp://user:pass@host:port, smtp+tls://…) or EMAIL_HOST and friends ---
EMAIL_URL = env_str("EMAIL_URL")
if EMAIL_URL:
    from urllib.parse import unquote, urlsplit

    _mail = urlsplit(EMAIL_URL)
    EMAIL_HOST, EMAIL_PORT = _mail.hostname or "localhost", _mail.port or 25
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = (
        unquote(_mail.username or ""),
        unquote(_mail.password or ""),
    )
    EMAIL_USE_TLS = _mail.scheme in ("smtp+tls", "submission")
    EMAIL_USE_SSL = _mail.scheme == "smtps"
else:
    EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
    EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = False
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "devfleet <devfleet@localhost>")

# --- Ingest ----------------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024)
INGEST_MAX_DECOMPRESSED_BYTES = env_int(
    "INGEST_MAX_DECOMPRESSED_BYTES", 16 * 1024 * 1024, minimum=1024
)
INGEST_RATE_PER_MINUTE = env_float("INGEST_RATE_PER_MINUTE", 12.0)
INGEST_BURST = env_float("INGEST_BURST", 30.0)
INGEST_CLOCK_SKEW_WARN_S = env_float("INGEST_CLOCK_SKEW_WARN_S", 120.0)
# Samples older than this (after clock-skew correction) are refused, like those more than
# 10 minutes ahead: an agent's spool holds days, not years.
INGEST_MAX_SAMPLE_AGE_DAYS = env_int("INGEST_MAX_SAMPLE_AGE_DAYS", 30, minimum=1)
AGENT_COLLECT_INTERVAL_S = env_int("AGENT_COLLECT_INTERVAL_S", 15, minimum=1)
AGENT_UPLOAD_INTERVAL_S = env_int("AGENT_UPLOAD_INTERVAL_S", 60, minimum=1)
MACHINE_STALE_AFTER_S = env_int("MACHINE_STALE_AFTER_S", 15 * 60, minimum=60)
REPORT_SCHEMA_PATH = BASE_DIR / "docs" / "report.schema.json"
# What @machine_required (apps.common.http) calls to find the machine of a bearer credential.
MACHINE_CREDENTIAL_LOOKUP = "apps.fleet.services.machine_for_credential"

# Bearer token that protects GET /metrics (Prometheus); unset disables the endpoint.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# --- Retention tiers ---------------------------------------------------------------------------
RETENTION_RAW_DAYS = env_int("RETENTION_RAW_DAYS", 14, minimum=1)
RETENTION_5M_DAYS = env_int("RETENTION_5M_DAYS", 90, minimum=1)
RETENTION_1H_DAYS = env_int("RETENTION_1H_DAYS", 730, minimum=1)
# Raw samples older than this many hours are compacted into hourly chunks (apps.metrics.chunks).
COMPACT_AFTER_HOURS = env_int("COMPACT_AFTER_HOURS", 2, minimum=1)
# Rollup periods (a day of 5-minute, a week of 1-hour buckets) that ended more than this many
# hours ago are compacted into rollup chunks (apps.metrics.chunks.rollup_store).
ROLLUP_COMPACT_AFTER_HOURS = env_int("ROLLUP_COMPACT_AFTER_HOURS", 24, minimum=1)

# --- Auth, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# plotly.js is served from the pinned plotly package (apps/dashboard/finders.py), never a CDN.
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "apps.dashboard.finders.PlotlyFinder",
]

# --- Security (production hardening is driven by DEVFLEET_SECURE) ---------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = DEVFLEET_SECURE
CSRF_COOKIE_SECURE = DEVFLEET_SECURE
SECURE_SSL_REDIRECT = DEVFLEET_SECURE and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if DEVFLEET_SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = DEVFLEET_SECURE
SECURE_HSTS_PRELOAD = DEVFLEET_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if DEVFLEET_SECURE else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Plotly draws with inline styles (hence 'unsafe-inline' for styles only) and needs neither
# eval nor inline scripts; data: and blob: images are its PNG exports.
CSP_POLICY = env_str(
    "CSP_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)
# Proxies in front of gunicorn (nginx: 1) whose X-Forwarded-For is trusted for client IPs.
DEVFLEET_TRUSTED_PROXIES = env_int("DEVFLEET_TRUSTED_PROXIES", 0, minimum=0)
# Logins: at most LOGIN_RATE_LIMIT failed attempts per client IP and username per window.
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 10, minimum=1)
LOGIN_RATE_WINDOW_S = env_int("LOGIN_RATE_WINDOW_S", 300, minimum=1)
# Configuration models whose every change lands in the audit log (apps.audit): "app.Model"
# labels, or "app" for every model of an app. Labels of apps not installed are ignored.
AUDITED_MODELS = [
    "fleet.Team",
    "fleet.Membership",
    "fleet.EnrollmentToken",
    "fleet.MachineCredential",
    "fleet.ApiToken",
    "auth.User",
    "auth.Group",
    "alerts.Channel",
    "alerts.Route",
    "alerts.Silence",
]

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
