"""Settings read from the environment.

Every setting has a safe default for the embedded mode (SQLite in ``instance/``, jobs run
in-process); production (``LISTBRIDGE_ENV=production``) refuses to start without the
secrets it needs. docs/configuration.md lists each variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def parse_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_int(value: str | None, default: int) -> int:
    return int(value) if value not in (None, "") else default


class ConfigError(RuntimeError):
    """A setting production needs is missing or malformed."""


def _instance_secret(instance_path: Path, name: str, make) -> str:
    """Read a development secret from instance/, creating it on first use.

    Keeping it on disk means sessions and encrypted columns survive a restart of
    ``make run`` without the developer having to set anything.
    """
    path = instance_path / name
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def _database_url(instance_path: Path, env: dict) -> str:
    url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'listbridge.db'}"
    # Heroku-style URLs and bare postgresql:// would select psycopg2; we ship psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def load(instance_path: str, env: dict | None = None) -> dict:
    """Build the Flask config mapping from ``env`` (default: ``os.environ``)."""
    env = dict(os.environ if env is None else env)
    instance = Path(instance_path)
    production = env.get("LISTBRIDGE_ENV", "development") == "production"

    secret_key = env.get("SECRET_KEY")
    encryption_key = env.get("ENCRYPTION_KEY")
    if production:
        missing = [n for n, v in (("SECRET_KEY", secret_key),
                                  ("ENCRYPTION_KEY", encryption_key),
                                  ("DATABASE_URL", env.get("DATABASE_URL"))) if not v]
        if missing:
            raise ConfigError(f"production needs {', '.join(missing)} in the environment")
    secret_key = secret_key or _instance_secret(instance, "secret_key",
                                                lambda: secrets.token_hex(32))
    encryption_key = encryption_key or _instance_secret(
        instance, "encryption_key", lambda: Fernet.generate_key().decode())
    try:
        Fernet(encryption_key.encode())
    except ValueError as exc:
        raise ConfigError("ENCRYPTION_KEY must be a urlsafe base64 Fernet key") from exc

    return {
        "LISTBRIDGE_ENV": "production" if production else "development",
        "SECRET_KEY": secret_key,
        # Comma-separated older keys keep decrypting after a rotation (MultiFernet).
        "ENCRYPTION_KEYS": [encryption_key]
        + [k for k in env.get("ENCRYPTION_OLD_KEYS", "").split(",") if k],
        "SQLALCHEMY_DATABASE_URI": _database_url(instance, env),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # No REDIS_URL means the embedded mode: jobs run in-process.
        "REDIS_URL": env.get("REDIS_URL") or None,
        "RQ_QUEUES": ["default", "sync", "email"],
        # "thread" runs an in-process job in the background; tests use "sync".
        "JOBS_IN_PROCESS_MODE": env.get("JOBS_IN_PROCESS_MODE", "thread"),
        "JOB_TIMEOUT": parse_int(env.get("JOB_TIMEOUT"), 3600),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": parse_bool(env.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_SECURE": parse_bool(env.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        # Trust X-Forwarded-* from this many proxies (0 when serving directly).
        "PROXY_FIX_HOPS": parse_int(env.get("PROXY_FIX_HOPS"), 0),
        "LOGIN_THROTTLE_LIMIT": parse_int(env.get("LOGIN_THROTTLE_LIMIT"), 5),
        "LOGIN_THROTTLE_WINDOW_SECONDS": parse_int(env.get("LOGIN_THROTTLE_WINDOW_SECONDS"), 900),
        "SMTP_HOST": env.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": parse_int(env.get("SMTP_PORT"), 8025),
        "SMTP_USERNAME": env.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": parse_bool(env.get("SMTP_STARTTLS")),
        "SMTP_TIMEOUT": parse_int(env.get("SMTP_TIMEOUT"), 30),
        # Remote API base URLs: the emulators in development and tests.
        "DOTDIGITAL_API_BASE": env.get("DOTDIGITAL_API_BASE", "https://r1-api.dotdigital.com"),
        "DOTDIGITAL_OAUTH_DOMAIN": env.get("DOTDIGITAL_OAUTH_DOMAIN",
                                           "https://r1-app.dotdigital.com"),
        "MAILCHIMP_API_BASE": env.get("MAILCHIMP_API_BASE", "https://{dc}.api.mailchimp.com"),
        "HTTP_TIMEOUT": float(env.get("HTTP_TIMEOUT", "30")),
    }
