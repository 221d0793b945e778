"""A local stand-in for the Telegram Bot API, for tests that cannot reach api.telegram.org.

It implements only what the intake bot uses — getMe, getUpdates, sendMessage, getFile and the
file download link — with the request and response shapes of the published Bot API reference
(https://core.telegram.org/bots/api): every answer is ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ...}``; parameters may come as a query string,
a URL-encoded or multipart form, or JSON; method names are case-insensitive; ``getUpdates``
returns updates whose ``update_id`` is at least ``offset`` and forgets (confirms) the ones below
it, long-polls up to ``timeout`` seconds, and honours ``limit``; bots may download files of at
most 20 MB.

Tests queue updates with the helpers (text, photo, document) and read what the bot sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_DOWNLOAD = 20 * 1024 * 1024
BOT_ID = 7000000001


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str


@dataclass
class FakeBotApi:
    token: str = "7000000001:TEST-fake-bot-api-token"
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, _StoredFile] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._update_ids = itertools.count(100_001)
        self._message_ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- serving ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeBotApi:
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
            ]
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", ws="none", http="h11", access_log=False
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="fake-bot-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake Bot API server did not start")
            time.sleep(0.01)
        return self

    def reset(self) -> None:
        """Forget every update, file, request and sent message (between tests)."""
        with self._lock:
            self.updates.clear()
            self.sent.clear()
            self.requests.clear()
            self.files.clear()
            self.failures.clear()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- test helpers -----------------------------------------------------------------------
    @staticmethod
    def user(
        user_id: int, *, language_code: str | None = "en", username: str | None = None
    ) -> dict[str, Any]:
        u: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Test"}
        if username:
            u["username"] = username
        if language_code:
            u["language_code"] = language_code
        return u

    def _message(self, chat_id: int, user: dict[str, Any] | None) -> dict[str, Any]:
        sender = user or self.user(chat_id)
        chat = {"id": chat_id, "type": "private", "first_name": sender["first_name"]}
        if "username" in sender:
            chat["username"] = sender["username"]
        return {
            "message_id": next(self._message_ids),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
        }

    def queue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw Update (queueing one twice is how a redelivery is simulated)."""
        with self._lock:
            self.updates.append(update)
        return update

    def queue_message(self, message: dict[str, Any], kind: str = "message") -> dict[str, Any]:
        """Queue an Update carrying ``message`` as ``kind`` (message, edited_message...)."""
        return self.queue_update({"update_id": next(self._update_ids), kind: message})

    def queue_text(
        self, chat_id: int, text: str, *, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        message = self._message(chat_id, user)
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.queue_message(message)

    def add_file(self, data: bytes, extension: str) -> _StoredFile:
        file_id = "AgAC" + secrets.token_urlsafe(24)
        kind = "photos" if extension == "jpg" else "documents"
        stored = _StoredFile(
            file_id,
            "AQAD" + secrets.token_urlsafe(8),
            data,
            f"{kind}/file_{len(self.files)}.{extension}",
        )
        with self._lock:
            self.files[file_id] = stored
        return stored

    def queue_photo(
        self,
        chat_id: int,
        data: bytes,
        *,
        thumbnail: bytes = b"\xff\xd8\xff thumbnail",
        caption: str | None = None,
        user: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A photo as Telegram sends it: several PhotoSize objects, smallest first."""
        small, large = self.add_file(thumbnail, "jpg"), self.add_file(data, "jpg")
        message = self._message(chat_id, user)
        message["photo"] = [
            {
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "width": w,
                "height": h,
                "file_size": len(f.data),
            }
            for f, w, h in ((small, 90, 67), (large, 1280, 960))
        ]
        if caption:
            message["caption"] = caption
        return self.queue_message(message)

    def queue_document(
        self,
        chat_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        user: dict[str, Any] | None = None,
        declared_size: int | None = None,
    ) -> dict[str, Any]:
        stored = self.add_file(data, file_name.rsplit(".", 1)[-1])
        message = self._message(chat_id, user)
        message["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": declared_size if declared_size is not None else len(data),
        }
        if caption:
            message["caption"] = caption
        return self.queue_message(message)

    def fail_next(self, count: int, status: int = 502) -> None:
        """The next ``count`` API calls answer with HTTP ``status`` (an outage)."""
        with self._lock:
            self.failures.extend([status] * count)

    def messages_to(self, chat_id: int) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.sent if m["chat"]["id"] == chat_id]

    def calls(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p for m, p in self.requests if m == method.lower()]

    # -- the API ----------------------------------------------------------------------------
    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        ctype = request.headers.get("content-type", "")
        if "application/json" in ctype:
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif request.method == "POST":
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    async def _method(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"].lower()
        params = await self._params(request)
        with self._lock:
            self.requests.append((method, params))
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            return _error(failure, "Bad Gateway" if failure == 502 else "Internal Server Error")
        handler = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "getfile": self._get_file,
        }.get(method)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(params)

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Qorgau test desk",
            "username": "qorgau_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_me(self, params: dict[str, Any]) -> Response:
        return _ok(self._bot_user())

    async def _get_updates(self, params: dict[str, Any]) -> Response:
        try:
            offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
            limit = int(params.get("limit") or 100)
            timeout = int(params.get("timeout") or 0)
        except ValueError:
            return _error(400, "Bad Request: wrong parameter value")
        if not 1 <= limit <= 100:
            limit = 100
        deadline = time.monotonic() + max(0, timeout)
        while True:
            with self._lock:
                if offset is not None:
                    if offset < 0:  # -n: the last n updates; all before them are forgotten
                        self.updates = self.updates[offset:]
                    else:  # confirming by offset: updates below it are forgotten
                        self.updates = [u for u in self.updates if u["update_id"] >= offset]
                pending = list(self.updates[:limit])
            if pending or time.monotonic() >= deadline:
                return _ok(pending)
            await asyncio.sleep(0.02)

    async def _send_message(self, params: dict[str, Any]) -> Response:
        text = params.get("text") or ""
        if not params.get("chat_id"):
            return _error(400, "Bad Request: chat not found")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "from": self._bot_user(),
            "chat": {"id": chat_id, "type": "private"},
            "date": int(time.time()),
            "text": text,
        }
        with self._lock:
            self.sent.append(message)
        return _ok(message)

    async def _get_file(self, params: dict[str, Any]) -> Response:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            return _error(400, "Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            return _error(400, "Bad Request: file is too big")
        return _ok(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
                "file_path": stored.file_path,
            }
        )

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        path = request.path_params["file_path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return Response(stored.data, media_type="application/octet-stream")
        return Response(json.dumps({"ok": False, "error_code": 404}), status_code=404)
