"""One typed settings object, built once and passed in.

Nothing reads the environment after start-up: ``Settings.from_env()`` is called by the CLI and
the result is handed to the store and the web app, which keeps tests free of global state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from qorgau.errors import ConfigurationError

DEFAULT_DATA_DIR = Path("qorgau-data")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    key_file: Path | None = None
    taxonomy_file: str | None = None
    max_body_bytes: int = 256 * 1024
    token_ttl_hours: int = 24 * 30
    # Web interface: a browser session lasts a working day; staff must use a second factor.
    session_ttl_hours: int = 12
    # Staff and analysts need a second factor for web sessions *and* API tokens
    # (QORGAU_REQUIRE_2FA; the older QORGAU_WEB_REQUIRE_2FA is still read).
    require_two_factor: bool = True
    # Sign-in protection: this many wrong passwords for one account within the lockout window
    # lock its password step until the oldest ages out; per client address, at most this many
    # failed sign-ins a minute across all accounts (password spraying); 0 turns a limit off.
    sign_in_max_failures: int = 10
    sign_in_lockout_minutes: int = 15
    sign_in_rate_per_minute: int = 10
    # Public intake: reports a minute from one client address (API and the /report form).
    intake_rate_per_minute: int = 60
    # Wrong receipt codes a minute from one client address (/track and its API twins).
    receipt_rate_per_minute: int = 10
    # Where the per-address counters live: "memory://" (this process) or a shared store such
    # as "redis://127.0.0.1:6379/0" when several server processes answer.
    rate_limit_storage: str = "memory://"
    # Mark session cookies Secure (set when the desk is served over HTTPS, as it should be
    # anywhere but loopback or an onion service).
    secure_cookies: bool = False
    default_org: str = "default"
    trust_proxy_headers: bool = False
    # -- rapid response: alerts and inbound channels ---------------------------------------
    # Outgoing mail for alerts; no host means e-mail alerts wait in the queue (dead-lettered
    # after their retries) rather than vanish.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "qorgau@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    # Telegram Bot API: base address (the public service, or a local Bot API server) and token.
    telegram_api_base: str = "https://api.telegram.org"
    telegram_bot_token: str | None = None
    # Broker for alert deliveries: None runs the queue in-process (embedded default);
    # "nats://host:4222" hands deliveries to workers over NATS JetStream.
    nats_url: str | None = None
    # Where detectors run: "inprocess" (embedded default) or "nats" (row ids published to
    # JetStream at nats_url, detector workers started with 'qorgau detect worker').
    detect_workers: str = "inprocess"
    # Address the desk is reached at, for links in alerts.
    public_base_url: str = "http://127.0.0.1:8000"
    # Where reports by e-mail arrive: an SMTP endpoint Qorgau itself listens on (0 = off).
    inbound_smtp_port: int = 0
    inbound_smtp_host: str = "127.0.0.1"
    # Evidence vault: the Ed25519 key that signs tree heads (kept outside the database), the
    # Time-Stamping Authority that countersigns them (none: heads are signed but not stamped).
    vault_key_file: Path | None = None
    # Object storage for evidence blobs (QORGAU_S3_BUCKET, _ENDPOINT, _REGION, _ACCESS_KEY,
    # _SECRET_KEY, _PREFIX), read once with the rest; empty keeps the local folder.
    s3: tuple[tuple[str, str], ...] = ()
    tsa_url: str | None = None
    tsa_ca_file: Path | None = None
    # Recipient domains the SMTP endpoint accepts mail for (empty: any).
    inbound_smtp_domains: tuple[str, ...] = ()
    # An organisation's adapted copy of the monitoring-report templates ('qorgau report
    # templates DIR' writes one); None uses the shipped ones.
    report_template_dir: Path | None = None
    # Retention periods (docs/decisions/0026): a JSON document of days per kind of record;
    # None keeps the defaults of qorgau.domain.privacy.
    retention_file: Path | None = None
    # How often the public dataset may be re-released (minutes): rarer releases make it
    # harder to pick out a new case by comparing two of them.
    public_refresh_minutes: int = 24 * 60
    # Reachability monitor: resolvers every agent queries besides its system one
    # ("udp://IP:53", "tcp://IP:53"), an extra CA the server's control measurements trust (a
    # lab's), and the per-step timeout of a measurement.
    monitor_resolvers: tuple[str, ...] = ()
    monitor_ca_file: Path | None = None
    monitor_timeout_s: float = 10.0
    # Fingerprint files (same TOML format as the shipped Kazakhstan seed) an installation adds:
    # its own countries' blockpages, or a lab's.
    monitor_fingerprint_files: tuple[Path, ...] = ()

    @property
    def web_require_two_factor(self) -> bool:
        """The setting's earlier, web-only name."""
        return self.require_two_factor

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qorgau.db').resolve()}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or (self.data_dir / "keys" / "qorgau.key")

    @property
    def resolved_vault_key_file(self) -> Path:
        return self.vault_key_file or (self.data_dir / "keys" / "vault-signing.key")

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        clean = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **clean)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def integer(name: str, default: int) -> int:
            raw = env.get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError as exc:
                raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from exc
            if value <= 0:
                raise ConfigurationError(f"{name} must be positive, got {value}")
            return value

        def limit(name: str, default: int) -> int:
            """A rate: a whole number, 0 meaning no limit."""
            raw = env.get(name)
            if raw is None or raw.strip() == "0":
                return default if raw is None else 0
            return integer(name, default)

        url = env.get("QORGAU_DATABASE_URL") or None
        if url and not url.startswith(("sqlite", "postgresql")):
            raise ConfigurationError(
                "QORGAU_DATABASE_URL must start with sqlite:/// or postgresql+psycopg://"
            )
        if url and url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        key_file = env.get("QORGAU_KEY_FILE")
        detect_workers = env.get("QORGAU_DETECT_WORKERS", "inprocess")
        if detect_workers not in ("inprocess", "nats"):
            raise ConfigurationError(
                f"QORGAU_DETECT_WORKERS is 'inprocess' or 'nats', got {detect_workers!r}"
            )
        if detect_workers == "nats" and not env.get("QORGAU_NATS_URL"):
            raise ConfigurationError(
                "QORGAU_DETECT_WORKERS=nats needs QORGAU_NATS_URL (e.g. nats://127.0.0.1:4222)"
            )
        return cls(
            data_dir=Path(env.get("QORGAU_DATA_DIR", str(DEFAULT_DATA_DIR))),
            database_url=url,
            key_file=Path(key_file) if key_file else None,
            taxonomy_file=env.get("QORGAU_TAXONOMY_FILE") or None,
            max_body_bytes=integer("QORGAU_MAX_BODY_BYTES", 256 * 1024),
            token_ttl_hours=integer("QORGAU_TOKEN_TTL_HOURS", 24 * 30),
            session_ttl_hours=integer("QORGAU_SESSION_TTL_HOURS", 12),
            require_two_factor=env.get(
                "QORGAU_REQUIRE_2FA", env.get("QORGAU_WEB_REQUIRE_2FA", "1")
            ).lower()
            not in ("0", "false", "no", "off"),
            sign_in_max_failures=integer("QORGAU_SIGN_IN_MAX_FAILURES", 10),
            sign_in_lockout_minutes=integer("QORGAU_SIGN_IN_LOCKOUT_MINUTES", 15),
            sign_in_rate_per_minute=limit("QORGAU_SIGN_IN_RATE_PER_MINUTE", 10),
            intake_rate_per_minute=limit("QORGAU_INTAKE_RATE_PER_MINUTE", 60),
            receipt_rate_per_minute=limit("QORGAU_RECEIPT_RATE_PER_MINUTE", 10),
            rate_limit_storage=_rate_storage(env.get("QORGAU_RATE_LIMIT_STORAGE", "memory://")),
            secure_cookies=env.get("QORGAU_SECURE_COOKIES", "") in ("1", "true"),
            default_org=env.get("QORGAU_DEFAULT_ORG", "default"),
            trust_proxy_headers=env.get("QORGAU_TRUST_PROXY_HEADERS", "") in ("1", "true"),
            smtp_host=env.get("QORGAU_SMTP_HOST") or None,
            smtp_port=integer("QORGAU_SMTP_PORT", 25),
            smtp_from=env.get("QORGAU_SMTP_FROM", "qorgau@localhost"),
            smtp_starttls=env.get("QORGAU_SMTP_STARTTLS", "") in ("1", "true"),
            smtp_username=env.get("QORGAU_SMTP_USERNAME") or None,
            smtp_password=env.get("QORGAU_SMTP_PASSWORD") or None,
            telegram_api_base=env.get("QORGAU_TELEGRAM_API_BASE", "https://api.telegram.org"),
            telegram_bot_token=env.get("QORGAU_TELEGRAM_BOT_TOKEN") or None,
            nats_url=env.get("QORGAU_NATS_URL") or None,
            detect_workers=detect_workers,
            public_base_url=env.get("QORGAU_PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
            inbound_smtp_port=_port(env.get("QORGAU_INBOUND_SMTP_PORT", "0")),
            inbound_smtp_host=env.get("QORGAU_INBOUND_SMTP_HOST", "127.0.0.1"),
            vault_key_file=Path(env["QORGAU_VAULT_KEY_FILE"])
            if env.get("QORGAU_VAULT_KEY_FILE")
            else None,
            tsa_url=env.get("QORGAU_TSA_URL") or None,
            s3=tuple(sorted((k, v) for k, v in env.items() if k.startswith("QORGAU_S3_"))),
            tsa_ca_file=Path(env["QORGAU_TSA_CA_FILE"]) if env.get("QORGAU_TSA_CA_FILE") else None,
            public_refresh_minutes=integer("QORGAU_PUBLIC_REFRESH_MINUTES", 24 * 60),
            report_template_dir=Path(env["QORGAU_REPORT_TEMPLATES"])
            if env.get("QORGAU_REPORT_TEMPLATES")
            else None,
            retention_file=Path(env["QORGAU_RETENTION_FILE"])
            if env.get("QORGAU_RETENTION_FILE")
            else None,
            inbound_smtp_domains=tuple(
                d.strip().lower()
                for d in env.get("QORGAU_INBOUND_SMTP_DOMAINS", "").split(",")
                if d.strip()
            ),
            monitor_resolvers=tuple(
                r.strip() for r in env.get("QORGAU_MONITOR_RESOLVERS", "").split(",") if r.strip()
            ),
            monitor_ca_file=Path(env["QORGAU_MONITOR_CA_FILE"])
            if env.get("QORGAU_MONITOR_CA_FILE")
            else None,
            monitor_timeout_s=float(integer("QORGAU_MONITOR_TIMEOUT_S", 10)),
            monitor_fingerprint_files=tuple(
                Path(p.strip())
                for p in env.get("QORGAU_MONITOR_FINGERPRINTS", "").split(",")
                if p.strip()
            ),
        )


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(
            f"QORGAU_INBOUND_SMTP_PORT must be a port number, got {raw!r}"
        ) from exc
    if not 0 <= value <= 65535:
        raise ConfigurationError(f"QORGAU_INBOUND_SMTP_PORT must be 0-65535, got {value}")
    return value


def _rate_storage(raw: str) -> str:
    uri = raw.strip() or "memory://"
    if not uri.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
        raise ConfigurationError(
            "QORGAU_RATE_LIMIT_STORAGE is memory:// or a Redis URL such as "
            f"redis://127.0.0.1:6379/0, got {raw!r}"
        )
    return uri
