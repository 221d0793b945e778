"""The public reporting form and following a report by its receipt code.

A journalist under attack reports from a phone, often on a slow or filtered connection, maybe
through Tor: the form is one plain page that works without JavaScript, loads nothing from
elsewhere and asks only what a responder needs to start. Text and files become ONE anonymous
report through the same filing path as e-mail and Telegram (``inbound.filing``), keyed by a
random value placed in the form when it was drawn, so pressing "send" twice, or the browser
re-sending after a dropped connection, files it once and shows the same receipt code.

A file the form does not take (wrong type, too large, one too many) is named back to the
reporter and noted in the case; the rest of the report is kept. A report that breaks a rule
comes back with every typed value and the message next to its field; files cannot be put
back into a file input by a server, so the page says to choose them again.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from babel.dates import format_timedelta
from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from qorgau.domain.access import Action
from qorgau.domain.model import (
    Principal,
    ReporterContact,
    ReportFields,
    Severity,
    TargetInput,
)
from qorgau.domain.taxonomy import Taxonomy
from qorgau.errors import InvalidInput, NotFound, TooManyAttempts
from qorgau.i18n import N_, gettext
from qorgau.inbound.filing import (
    MAX_DESCRIPTION,
    FilingResult,
    InboundReport,
    default_attack_type,
    file_inbound_report,
    fit_text,
    guess_language,
)
from qorgau.reports.labels import STATUS_LABELS
from qorgau.security.archive_check import REASON_MESSAGES, REFUSED_ARCHIVE, check_archive
from qorgau.security.uploads import ACTIVE_TYPES, SNIFF_BYTES, detect
from qorgau.store.attachments import (
    DEFAULT_LIMITS,
    MB,
    AttachmentLimits,
    IncomingFile,
    human_size,
    screen,
)
from qorgau.web.auth import client_address, desk, route
from qorgau.web.rate_limits import RECEIPT_WAIT, minutes, receipt_lookup
from qorgau.web.ui import render, sessions
from qorgau.web.ui.deps import Viewer
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)

CHANNEL = "web"
FALLBACK_TITLE = "Report from the web form"
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

# What the evidence input takes. Types as browsers report them, and extensions for the files
# a browser labels application/octet-stream (mail saved as .eml, iPhone photos as .heic).
ACCEPTED_PREFIXES = ("image/", "audio/", "video/")
ACCEPTED_TYPES = frozenset(
    {
        "application/pdf",
        "text/plain",
        "message/rfc822",
        "application/zip",
        "application/x-zip-compressed",
    }
)
ACCEPTED_EXTENSIONS = (
    ".pdf .txt .eml .zip .jpg .jpeg .png .gif .webp .heic .heif "
    ".mp3 .m4a .ogg .opus .wav .mp4 .mov .webm .3gp"
).split()
# Never taken whatever the browser calls them: they run code when a handler opens them
# (an SVG or HTML page can carry script; the rest are programs).
REFUSED_EXTENSIONS = frozenset(
    ".svg .svgz .html .htm .xhtml .js .exe .msi .dll .bat .cmd .com .scr .ps1 .vbs .jar .apk "
    ".sh".split()
)
REFUSED_TYPES = frozenset({"image/svg+xml", "text/html", "application/xhtml+xml"})
ACCEPT_ATTRIBUTE = ",".join(
    ["image/*", "audio/*", "video/*", *sorted(ACCEPTED_TYPES), *ACCEPTED_EXTENSIONS]
)

TEXT_LIMITS = {
    "target_name": 300,
    "target_host": 300,
    "target_phone": 40,
    "contact_name": 200,
    "contact_email": 254,
    "contact_phone": 40,
}
CONTACT_CHANNELS = {
    "signal": "Signal",
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "email": N_("E-mail"),
    "phone": N_("Phone call"),
}
TARGET_KINDS = ("person", "outlet")

REQUIRED = N_("This field is required.")
TOO_LONG = N_("Too long: at most {max_length} characters.")
BAD_DATE = N_("Not a date; write it as year-month-day, e.g. 2025-05-06.")
DESCRIBE = N_("Tell us what happened, in a few words or at length.")
CHOOSE_FILES_AGAIN = N_(
    "Files cannot be kept while the form is corrected: choose your files again before sending."
)
UNKNOWN_CODE = N_(
    "No report has this code. Check it character by character; dashes and spaces do not "
    "matter, and O and 0, I and 1 are read as the same."
)
REFUSED_MESSAGES = {
    "bad_type": N_(
        "{name}: this type of file is not accepted (images, PDF, text, audio, video, .eml "
        "and .zip are)."
    ),
    "file_too_large": N_("{name}: the file is too large; each file may be at most {max}."),
    "report_too_large": N_("{name}: not kept; the files of one report may total at most {max}."),
    "too_many_files": N_("{name}: not kept; one report holds at most {count} files."),
    "bad_archive": REFUSED_ARCHIVE,
}
UNNAMED_FILE = N_("a file without a name")
STATUS_MEANINGS = {
    "new": N_("Received. A responder has not read it yet."),
    "triaged": N_("A responder has read it and judged how urgent it is."),
    "in_progress": N_("A responder is working on it."),
    "waiting_on_reporter": N_(
        "The desk needs more information from you. Check the contact details you gave: the "
        "message may come from a number or address you do not know."
    ),
    "resolved": N_("The desk has done what it could for this report."),
    "closed": N_("The case is closed."),
    "rejected": N_("The desk could not take this report on."),
    "merged": N_("It was joined to another report of the same attack; the work goes on there."),
}


# -- limits and wording shown on the page ---------------------------------------------------


def upload_limits(request: Request) -> AttachmentLimits:
    """The installation's limits; ``app.state.report_limits`` overrides the defaults (tests use
    small ones to see a file refused by size without sending megabytes)."""
    limits = getattr(request.app.state, "report_limits", None)
    return limits if isinstance(limits, AttachmentLimits) else DEFAULT_LIMITS


def size_text(lang: str, n: int) -> str:
    locale = render.BABEL_LOCALES.get(lang, "en_GB")
    if n >= MB:
        return gettext(lang, "{n} MB", n=format_decimal(n / MB, "0.#", locale=locale))
    return gettext(lang, "{n} KB", n=format_decimal(max(n / 1024, 1), "0", locale=locale))


def response_times(request: Request) -> tuple[str, str]:
    """How fast a responder reads a report, from the organisation's own clocks: the most
    urgent window, and the longest any report waits. Promising less than the desk keeps is
    the one thing the page must not do."""
    d = desk(request)
    policy = request.app.state.response_desk.config(d.default_org_id).policy
    locale = render.BABEL_LOCALES.get(render.language(request), "en_GB")
    urgent = policy.window(Severity.CRITICAL).response
    longest = max(policy.window(s).response for s in Severity)
    return (
        str(format_timedelta(urgent, locale=locale, threshold=1.5)),
        str(format_timedelta(longest, locale=locale, threshold=1.5)),
    )


def attack_type_options(taxonomy: Taxonomy, lang: str) -> list[tuple[str, str]]:
    return [(t, taxonomy.label("attack_type", t, lang)) for t in taxonomy.ids("attack_type")]


def form_page(  # reads the organisation's clocks: called in the thread pool from async code
    request: Request,
    who: Principal,
    state: FormState,
    *,
    status: int = 200,
    files_lost: bool = False,
) -> HTMLResponse:
    lang = render.language(request)
    limits = upload_limits(request)
    taxonomy = desk(request).store.taxonomy
    urgent, longest = response_times(request)
    return render.page(
        request,
        "ui/report.html",
        who,
        status=status,
        title=gettext(lang, "Report an attack"),
        state=state,
        attack_types=attack_type_options(taxonomy, lang),
        target_kinds=[(k, taxonomy.label("target_kind", k, lang)) for k in TARGET_KINDS],
        channels=[(k, gettext(lang, v)) for k, v in CONTACT_CHANNELS.items()],
        accept=ACCEPT_ATTRIBUTE,
        refuse=",".join(sorted(REFUSED_EXTENSIONS)),
        limits=limits,
        max_file=size_text(lang, limits.max_file_bytes),
        max_total=size_text(lang, limits.max_report_bytes),
        max_description=MAX_DESCRIPTION,
        text_limits=TEXT_LIMITS,
        urgent=urgent,
        longest=longest,
        files_lost=files_lost,
    )


# -- the form ---------------------------------------------------------------------------------


@router.get("/report", **route(Action.REPORT_SUBMIT))
def report_form(request: Request, who: Viewer) -> HTMLResponse:
    state = FormState(values={"nonce": secrets.token_urlsafe(24), "target_kind": "person"})
    return form_page(request, who, state)


@router.post("/report", **route(Action.REPORT_SUBMIT))
async def report_submit(request: Request, who: Viewer) -> HTMLResponse:
    try:
        return await file_report(request, who)
    finally:
        await request.close()  # the uploads' temporary files, whatever happened


async def file_report(request: Request, who: Principal) -> HTMLResponse:
    state, uploads = await read_form(request)
    lang = render.language(request)
    if not NONCE.match(state.get("nonce")):
        state.values["nonce"] = secrets.token_urlsafe(24)  # a form from elsewhere: still filed
    started_at = check_fields(state, lang, desk(request).store.now())
    if not state.ok:
        return await run_in_threadpool(
            form_page, request, who, state, status=422, files_lost=bool(uploads)
        )
    limits = upload_limits(request)
    files, refused = await screen_uploads(uploads, limits)
    fields, full_text = report_fields(state, started_at, desk(request).store.taxonomy, refused)
    report = InboundReport(
        CHANNEL,
        external_id(request, state.get("nonce")),
        fields,
        [*files, *full_text],
        sender_address=client_address(request),
    )
    try:
        result = await run_in_threadpool(
            file_inbound_report, desk(request).store, desk(request), report, limits=limits
        )
    except InvalidInput as exc:
        apply_error(state, lang, exc, field_map(fields))
        return await run_in_threadpool(
            form_page, request, who, state, status=422, files_lost=bool(uploads)
        )
    # Filing screens again with the same limits; what it refused (the full text of a very long
    # description pushing past a limit) is named too.
    refused += [Refusal(r.filename, r.size, r.rule, r.message) for r in result.refused]
    return await run_in_threadpool(receipt_page, request, who, result, refused, limits)


def check_fields(state: FormState, lang: str, now: datetime) -> datetime | None:
    """What the domain cannot check because the form, not the domain, decides it: a required
    description, lengths, the date as typed, the choice lists."""
    if not state.get("description").strip():
        state.add("description", gettext(lang, DESCRIBE))
    for name, limit in TEXT_LIMITS.items():
        if len(state.get(name)) > limit:
            state.add(name, gettext(lang, TOO_LONG, max_length=limit))
    if state.get("contact_channel") and state.get("contact_channel") not in CONTACT_CHANNELS:
        state.add("contact_channel", gettext(lang, "Not one of the allowed values."))
    if state.get("target_kind") not in TARGET_KINDS:
        state.values["target_kind"] = "person"
    started = state.get("started_on").strip()
    if not started:
        return None
    day = parse_day(started)
    if day is None:
        state.add("started_on", gettext(lang, BAD_DATE))
        return None
    return start_of(day, now)


def start_of(day: date, now: datetime) -> datetime:
    """Midnight UTC of the day typed, but never later than now: "today" typed at 01:00 in
    Almaty (UTC+5) is still yesterday in UTC, and must not read as a start in the future."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if start > now and day <= (now + timedelta(days=1)).date():
        return now
    return start


def parse_day(text: str) -> date | None:
    """ISO from a date picker, or 06.05.2025 as people in Kazakhstan write dates by hand
    (a phone without a date picker shows a plain text box)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    found = re.fullmatch(r"(\d{1,2})[./](\d{1,2})[./](\d{4})", text)
    if found:
        try:
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Refusal:
    """A file not kept: its name as sent, and why, for the reporter and for the case."""

    filename: str | None
    size: int
    rule: str
    note: str  # English, for the handlers reading the case
    reason: str = ""  # an archive's problem (``archive_check.REASON_MESSAGES``)

    def message(self, lang: str, limits: AttachmentLimits) -> str:
        name = f"“{self.filename}”" if self.filename else gettext(lang, UNNAMED_FILE)
        limit = limits.max_file_bytes if self.rule == "file_too_large" else limits.max_report_bytes
        reason = REASON_MESSAGES.get(self.reason)
        return gettext(
            lang,
            REFUSED_MESSAGES[self.rule],
            name=name,
            max=size_text(lang, limit),
            count=limits.max_files,
            reason=gettext(lang, reason) if reason else "",
        )


@dataclass(frozen=True)
class _Upload:
    """An upload measured but not yet read, so a refused file is never read into memory."""

    filename: str | None
    size: int
    upload: UploadFile


def accepted_bytes(detected: str | None) -> bool:
    """What the bytes are decides, whatever the name says: a ``.jpg`` that is an HTML page or a
    program is refused (``security.uploads``)."""
    if detected is None or detected in ACTIVE_TYPES:
        return False
    return detected in ACCEPTED_TYPES or detected.startswith(ACCEPTED_PREFIXES)


async def head_of(upload: UploadFile) -> bytes:
    head = await upload.read(SNIFF_BYTES)
    await upload.seek(0)
    return head


def accepted_type(filename: str | None, media_type: str | None) -> bool:
    # Trailing dots and spaces are dropped by Windows when the file is saved ("x.svg." opens
    # as x.svg), so they must not hide the real extension here.
    name = (filename or "").lower().rstrip(". ")
    ext = name[name.rfind(".") :] if "." in name else ""
    kind = (media_type or "").split(";", 1)[0].strip().lower()
    if ext in REFUSED_EXTENSIONS or kind in REFUSED_TYPES:
        return False
    return (
        ext in ACCEPTED_EXTENSIONS or kind in ACCEPTED_TYPES or kind.startswith(ACCEPTED_PREFIXES)
    )


def upload_size(upload: UploadFile) -> int:
    if upload.size is not None:
        return upload.size
    f = upload.file
    here = f.tell()
    f.seek(0, 2)
    size = f.tell()
    f.seek(here)
    return size


async def screen_uploads(
    uploads: list[UploadFile], limits: AttachmentLimits
) -> tuple[list[IncomingFile], list[Refusal]]:
    """Refuse by type, then by the report's limits (the same ``screen`` filing applies, so
    filing refuses nothing more), and read only the files that are kept."""
    refused: list[Refusal] = []
    typed: list[_Upload] = []
    for u in uploads:
        size = upload_size(u)
        # A file over the size limit is refused for its size without being read at all.
        detected = detect(await head_of(u)) if size <= limits.max_file_bytes else None
        if not accepted_type(u.filename, u.content_type) or (
            size <= limits.max_file_bytes and not accepted_bytes(detected)
        ):
            what = f"{detected} by its content" if detected else "not recognised by its content"
            refused.append(
                Refusal(
                    u.filename,
                    size,
                    "bad_type",
                    f"'{u.filename}' ({u.content_type}, {what}, {human_size(size)}): the web "
                    "form does not take this type of file",
                )
            )
        else:
            typed.append(_Upload(u.filename, size, u))
    kept, over = screen(typed, limits)
    refused.extend(Refusal(r.filename, r.size, r.rule, r.message) for r in over)
    files: list[IncomingFile] = []
    for k in kept:
        data = await k.upload.read()
        problem = await run_in_threadpool(check_archive, data)  # nested ZIPs are CPU work
        if problem is not None:
            refused.append(
                Refusal(
                    k.filename,
                    k.size,
                    "bad_archive",
                    f"'{k.filename}' ({human_size(k.size)}): archive refused, {problem.reason}",
                    problem.rule,
                )
            )
            continue
        files.append(IncomingFile(k.filename, k.upload.content_type or "", data))
    return files, refused


def report_fields(
    state: FormState,
    started_at: datetime | None,
    taxonomy: Taxonomy,
    refused: list[Refusal],
) -> tuple[ReportFields, list[IncomingFile]]:
    """The report as the domain takes it, and the full text as a file when it is longer than
    a description may be (``fit_text``: nothing typed is lost)."""
    title, description, extra = fit_text("", state.get("description"), FALLBACK_TITLE)
    if refused:
        notes = "\n".join(f"[Not kept: {r.note}.]" for r in refused)
        description = f"{description}\n\n{notes}"
    public = state.get("consent_public") == "yes"
    targets: list[TargetInput] = []
    if state.get("target_name").strip():
        targets.append(TargetInput(state.get("target_kind"), state.get("target_name").strip()))
    if state.get("target_host").strip():
        targets.append(TargetInput("website", "", state.get("target_host").strip()))
    if state.get("target_phone").strip():
        targets.append(TargetInput("phone_number", "", state.get("target_phone").strip()))
    # Consent to be named covers the person or outlet and its website, never a phone number.
    targets = [replace(t, consent_public=public and t.kind != "phone_number") for t in targets]
    ticked = tuple(state.lists.get("attack_types", []))
    fields = ReportFields(
        title=title,
        description=description,
        started_at=started_at,
        # Unsure is a fine answer: a handler classifies the report at triage.
        attack_types=ticked or (default_attack_type(taxonomy),),
        targets=tuple(targets),
        reporter=ReporterContact(
            state.get("contact_name").strip() or None,
            state.get("contact_email").strip() or None,
            state.get("contact_phone").strip() or None,
            state.get("contact_channel") or None,
        ),
        language=guess_language(state.get("description")),
        ongoing=state.get("ongoing") == "yes",
        threat_to_life=state.get("threat_to_life") == "yes",
    )
    return fields, extra


def field_map(fields: ReportFields) -> dict[str, str]:
    """The domain's field names → the form's, for messages next to the right input."""
    names = {
        "title": "description",
        "description": "description",
        "started_at": "started_on",
        "attack_types": "attack_types",
        "reporter.name": "contact_name",
        "reporter.email": "contact_email",
        "reporter.phone": "contact_phone",
    }
    inputs = {"website": "target_host", "phone_number": "target_phone"}
    for i, t in enumerate(fields.targets):
        form_name = inputs.get(t.kind, "target_name")
        names[f"targets[{i}].name"] = form_name
        names[f"targets[{i}].identifier"] = form_name
        names[f"targets[{i}].kind"] = form_name
    return names


def external_id(request: Request, nonce: str) -> str:
    """The form's nonce bound to this browser's form cookie (or session): only the browser
    that drew the form gets the earlier receipt back on a second send, not someone who saw
    the page's HTML (a browser that keeps no cookie has only the nonce)."""
    bound = sessions.cipher(request).blind_index(
        f"{sessions.binding(request)}\x00{nonce}", "web.report.nonce"
    )
    return f"form:{bound}"


def receipt_page(
    request: Request,
    who: Principal,
    result: FilingResult,
    refused: list[Refusal],
    limits: AttachmentLimits,
) -> HTMLResponse:
    lang = render.language(request)
    urgent, longest = response_times(request)
    return render.page(
        request,
        "ui/report_receipt.html",
        who,
        title=gettext(lang, "Report received"),
        code=result.receipt_code,
        public_id=result.public_id,
        kept=result.attachments,
        refused=[r.message(lang, limits) for r in refused],
        replayed=result.replayed,
        urgent=urgent,
        longest=longest,
        state=FormState(values={"code": result.receipt_code or ""}),
    )


# -- following a report ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tracked:
    public_id: str
    status: str
    label: str
    meaning: str
    updated: str
    updated_iso: str


def track_page(
    request: Request,
    who: Principal,
    state: FormState,
    found: Tracked | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = render.language(request)
    return render.page(
        request,
        "ui/track.html",
        who,
        status=status,
        title=gettext(lang, "Follow a report"),
        state=state,
        found=found,
    )


@router.get("/track", **route(Action.REPORT_TRACK))
def track_form(request: Request, who: Viewer) -> HTMLResponse:
    return track_page(request, who, FormState())


@router.post("/track", **route(Action.REPORT_TRACK))
async def track_submit(request: Request, who: Viewer) -> HTMLResponse:
    """The code is posted, never put in a URL: addresses end up in histories and logs."""
    state, _ = await read_form(request)
    lang = render.language(request)
    code = state.get("code").strip()
    if not code:
        state.add("code", gettext(lang, REQUIRED))
    elif len(code) > 64:
        state.add("code", gettext(lang, TOO_LONG, max_length=64))
    if not state.ok:
        return track_page(request, who, state, status=422)
    try:
        address, track = client_address(request), desk(request).track
        public_id, status, updated = await run_in_threadpool(
            receipt_lookup, request, address, lambda: track(code)
        )
    except NotFound:
        state.add("code", gettext(lang, UNKNOWN_CODE))
        return track_page(request, who, state, status=404)
    except TooManyAttempts as exc:
        state.add("code", gettext(lang, RECEIPT_WAIT, minutes=minutes(exc.retry_after)))
        refused = track_page(request, who, state, status=429)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    status = str(status)
    meaning = STATUS_MEANINGS.get(status)
    found = Tracked(
        public_id,
        status,
        gettext(lang, STATUS_LABELS.get(status, status)),
        gettext(lang, meaning) if meaning else "",
        render.when(updated, lang),
        updated.isoformat() if isinstance(updated, datetime) else "",
    )
    return track_page(request, who, state, found)
