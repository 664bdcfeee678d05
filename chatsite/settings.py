"""Settings for the chat site, read from the environment.

Every value that differs between a laptop and production comes from an environment
variable; the README's settings table lists them. Defaults are safe for production
except where DEBUG=1 explicitly asks for development conveniences.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from chat.conf import environment_settings
from chatsite.observability import init_sentry, logging_formatter

BASE_DIR = Path(__file__).resolve().parent.parent

# Local settings: `make run` writes `.env` once (a generated SECRET_KEY, DEBUG=1); it is
# git-ignored. A variable set in the real environment always wins; ENV_FILE= (empty)
# reads no file.
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE:
    load_dotenv(ENV_FILE, override=False)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(or DEBUG=1 for local development)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "accounts",
    "chat",
]

MIDDLEWARE = [
    # First: one log line and the metrics for every request, then the probes (answered
    # before the host check and the HTTPS redirect; see chatsite/middleware.py).
    "chatsite.observability.RequestObservabilityMiddleware",
    "chatsite.middleware.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "chatsite.middleware.ContentSecurityPolicyMiddleware",
    "chatsite.middleware.AsyncWhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatsite.middleware.DatabaseUnavailableMiddleware",
    # Last: turns a lockout flagged during authentication into accounts/throttle.py's answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

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

def sqlite_options() -> dict:
    """SQLite as an embedded database that takes concurrent users: write-ahead logging
    (readers never wait for the writer), a busy timeout (a writer waits for the lock
    instead of failing), and transactions that take the write lock when they begin
    (`IMMEDIATE`), so two transactions never deadlock upgrading a read lock, the one case
    a busy timeout cannot help ("database is locked" at once). With the one database
    thread of chatsite/db.py, writes go one at a time."""
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,  # seconds: the busy timeout
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }


def postgres_pool(size: int) -> dict:
    """Django's psycopg pool for one worker process: at most `size` connections, whatever
    the load. A request waits up to 3 s for one, then answers 503: long enough for a busy
    pool (its work is short queries), short enough that a database that is down answers
    like one (the pool keeps trying to reconnect meanwhile)."""
    return {"min_size": 1, "max_size": size, "timeout": 3}


def db_pool_size() -> int:
    """CHAT_DB_POOL_SIZE as the pool needs it now; a bad value is reported by the checks."""
    size = environment_settings(os.environ).get("CHAT_DB_POOL_SIZE")
    return size if isinstance(size, int) and size > 0 else 10


DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast when the database is unreachable, so requests answer 503 instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # No JIT compilation: the admin's queries with per-row counts are estimated costly
    # enough to trigger it, and compiling took 1.6 s of a 10 ms search (1 M items).
    DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")
    if env_bool("DATABASE_POOL", True):
        # A pooled connection goes back to the pool when its request ends: Django refuses
        # persistent connections (DATABASE_CONN_MAX_AGE) together with a pool.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = postgres_pool(db_pool_size())
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(sqlite_options())
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate-limit counters, stream slots and turn locks live in the cache: Redis makes them
# hold across several workers; local memory is enough for one process.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if REDIS_URL
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": REDIS_URL,
        # Several sites (or test runs) can share one Redis without sharing counters.
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", ""),
    }
}

# The Channels layer carries a running answer's events to every worker and tab, and the
# per-user "thread updated" notices (chat/chatkit/broadcast.py). Redis makes it span
# workers; the in-memory layer serves one process.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": f"{os.environ.get('CACHE_KEY_PREFIX', '')}chat-layer",
            "capacity": 1000,
        },
    }
    if REDIS_URL
    else {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses logins of a locked-out account or address (accounts/throttle.py).
AUTHENTICATION_BACKENDS = [
    "accounts.backends.HttpLoginThrottle",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
# The site's languages: the browser's preference (or the language cookie set by
# /i18n/setlang/) picks one; templates and the chat client's strings follow it.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production (DEBUG=0): hashed names from `collectstatic` (served with a year-long
# immutable cache by WhiteNoise) and gzip/Brotli copies made once. Development and the
# tests: plain names, straight from the source folders, nothing to collect first.
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "chatsite.staticfiles.HashedModulesStorage"
        if STATIC_MANIFEST
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"
# Uploaded files: local disk (MEDIA_ROOT, the default) or an S3-compatible bucket, which
# every worker and host sees alike. Files are always served through the site (signed
# links, owner checks), never straight from the bucket.
MEDIA_STORAGE = os.environ.get("CHAT_MEDIA_STORAGE", "") or "filesystem"
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("CHAT_MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    # Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the host's IAM role.
    AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None
    AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or None
    AWS_LOCATION = os.environ.get("AWS_LOCATION", "")  # a key prefix inside the bucket
    AWS_DEFAULT_ACL = None  # the bucket's own policy: private
    AWS_S3_FILE_OVERWRITE = False
elif MEDIA_STORAGE != "filesystem":
    raise ImproperlyConfigured(
        f"CHAT_MEDIA_STORAGE={MEDIA_STORAGE!r}: expected 'filesystem' (the default) or 's3'."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "accounts.api_errors.exception_handler",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "5"))
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(os.environ.get("JWT_REFRESH_DAYS", "1"))),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ.get("JWT_SIGNING_KEY", SECRET_KEY),
    # A password change (or reset) voids every token issued before it (accounts/jwt.py,
    # accounts/serializers.py); deactivation already does through the user rule.
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_REFRESH_SERIALIZER": "accounts.serializers.SiteTokenRefreshSerializer",
}

# JSON lines in production (one object per record; see chatsite/observability.py), plain
# text for a terminal.
LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: expected 'json' or 'plain'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"site": logging_formatter(LOG_FORMAT)},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "site"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The SDKs log every request at INFO; keep them for warnings and errors.
        "chatkit": {"level": "WARNING"},
        "openai.agents": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --- Security (production: DEBUG=0) -------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# JSON, not an HTML page, for a CSRF failure on the API paths (chatsite/errors.py).
CSRF_FAILURE_VIEW = "chatsite.errors.csrf_failure"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself (see docker-compose.yml).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Other sites (a docs site, a SPA) that may call the API from the browser. Bearer tokens
# only: no cookies are sent cross-origin, so credentials stay off.
CORS_ALLOWED_ORIGINS = env_list("CHAT_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/(chatkit|api/token)/.*$"
CORS_ALLOW_CREDENTIALS = False

# --- Accounts ---------------------------------------------------------------------------
ACCOUNTS_SIGNUP_ENABLED = env_bool("ACCOUNTS_SIGNUP_ENABLED", True)
# Lifetime of the access token the page exchanges its session for.
ACCOUNTS_SESSION_TOKEN_MINUTES = int(os.environ.get("ACCOUNTS_SESSION_TOKEN_MINUTES", "5"))

# Brute-force throttling (django-axes): failed logins per account and, separately, per
# address, on the token API, the login page and the admin's.
AXES_FAILURE_LIMIT = int(os.environ.get("ACCOUNTS_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("ACCOUNTS_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.throttle.lockout_response"
AXES_VERBOSE = False

# --- Chat -------------------------------------------------------------------------------
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
# The CHAT_* variables that are set. Defaults, how each variable reads and what an empty
# one means live in chat/conf.py; `manage.py check` validates the values.
globals().update(environment_settings(os.environ))

# --- Observability (chatsite/observability.py) ------------------------------------------
# /metrics answers only a scraper sending `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    init_sentry(
        SENTRY_DSN,
        os.environ.get("SENTRY_ENVIRONMENT", ""),
        float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
    )
