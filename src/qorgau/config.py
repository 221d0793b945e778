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
    default_org: str = "default"
    trust_proxy_headers: bool = False

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qorgau.db').resolve()}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or (self.data_dir / "keys" / "qorgau.key")

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

        url = env.get("QORGAU_DATABASE_URL") or None
        if url and not url.startswith(("sqlite", "postgresql")):
            raise ConfigurationError(
                "QORGAU_DATABASE_URL must start with sqlite:/// or postgresql+psycopg://"
            )
        if url and url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        key_file = env.get("QORGAU_KEY_FILE")
        return cls(
            data_dir=Path(env.get("QORGAU_DATA_DIR", str(DEFAULT_DATA_DIR))),
            database_url=url,
            key_file=Path(key_file) if key_file else None,
            taxonomy_file=env.get("QORGAU_TAXONOMY_FILE") or None,
            max_body_bytes=integer("QORGAU_MAX_BODY_BYTES", 256 * 1024),
            token_ttl_hours=integer("QORGAU_TOKEN_TTL_HOURS", 24 * 30),
            default_org=env.get("QORGAU_DEFAULT_ORG", "default"),
            trust_proxy_headers=env.get("QORGAU_TRUST_PROXY_HEADERS", "") in ("1", "true"),
        )
