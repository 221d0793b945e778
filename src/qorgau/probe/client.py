"""The agent's side of the agent API, over HTTPS.

Two kinds of trouble are told apart because the agent answers them differently: the server
could not be reached or failed (keep measuring, try again later) and the server refused (the
token was revoked, the clock is off: say why and stop or wait for a person).
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from qorgau.errors import ConfigurationError


class ServerUnreachable(Exception):
    """No answer, or a 5xx/429: the same call may succeed later."""


class ServerRefused(Exception):
    """A 4xx with the server's reason: retrying unchanged will not help."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def _check_server(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{url!r} is not a server address such as https://desk.example/")
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme == "http" and not local:
        raise ConfigurationError(
            "the server must be reached over https (results and the token cross the network)"
        )
    return url.rstrip("/")


class ServerClient:
    def __init__(
        self, server: str, token: str, *, ca_file: Path | None = None, timeout: float = 30.0
    ) -> None:
        self.base = _check_server(server)
        self.http = httpx.AsyncClient(
            base_url=self.base + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            verify=ssl.create_default_context(cafile=str(ca_file)) if ca_file else True,
            timeout=timeout,
            trust_env=False,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            r = await self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"{type(exc).__name__}: {exc}") from None
        if r.status_code >= 500 or r.status_code == 429:
            raise ServerUnreachable(f"the server answered {r.status_code}")
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            if isinstance(detail, list | dict):
                detail = str(detail)
            raise ServerRefused(r.status_code, str(detail)[:500])
        return r.json()

    async def register(self, public_key: str) -> dict[str, Any]:
        out: dict[str, Any] = await self._call(
            "POST", "/agent/register", {"public_key": public_key, "software": "qorgau-probe"}
        )
        return out

    async def schedule(self) -> dict[str, Any]:
        out: dict[str, Any] = await self._call("GET", "/agent/schedule")
        return out

    async def control(self, url: str) -> dict[str, Any]:
        out: dict[str, Any] = await self._call("POST", "/agent/control", {"url": url})
        return out

    async def upload(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"sent_at": datetime.now(UTC).isoformat(), "results": results}
        out: list[dict[str, Any]] = (await self._call("POST", "/agent/results", body))["results"]
        return out
