"""The ``qorgau privacy`` commands: consent, retention, erasure and the panic lock.

They run as the installation itself (an administrator), like the other server-side commands,
and go through the privacy desk, so every change is audited the same way as through the API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from qorgau.cli import DataDir, DbUrl, guarded, opened_store, out, settings, t

privacy_app = typer.Typer(
    no_args_is_help=True,
    help="People's control over their data: consent, retention, erasure, panic lock.",
)

CaseArg = Annotated[str, typer.Argument(help="The case reference, such as QG-ABCD2345")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit)")]


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main ``qorgau`` app."""
    app.add_typer(privacy_app, name="privacy")


@contextmanager
def _privacy(
    data_dir: Path | None, database_url: str | None, acting_as: str = "cli"
) -> Iterator[tuple[Any, Any]]:
    """The privacy desk on the configured store, and the installation's own principal the
    command acts as (every change is audited under that name)."""
    from qorgau.desk import CaseDesk
    from qorgau.privacy_desk import PrivacyDesk

    with opened_store(settings(data_dir, database_url)) as store:
        pd = PrivacyDesk(CaseDesk(store))
        yield pd, pd.cases.system(acting_as)


@privacy_app.command("consent")
@guarded
def consent_cmd(
    case: CaseArg,
    name: Annotated[
        str | None, typer.Option("--name", help="May the target be named publicly: yes, no")
    ] = None,
    share: Annotated[
        str | None, typer.Option("--share", help="May the case be shared: yes, no")
    ] = None,
    partners: Annotated[
        str | None,
        typer.Option("--partners", help='Comma-separated partner ids, or "none"'),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="What the person said")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Record a consent on the person's word, or (with no option) show the case's history."""
    from qorgau.domain.privacy import ConsentSource, parse_consent

    with _privacy(data_dir, database_url) as (pd, who):
        if name is not None or share is not None or partners is not None:
            chosen: list[str] | str | None = partners
            if partners is not None and partners.strip().lower() != "none":
                chosen = [p.strip() for p in partners.split(",")]
            consent = parse_consent(name, share, chosen)
            pd.record_consent(who, case, consent, source=ConsentSource.RESPONDER, note=note)
        history = pd.consent_history(who, case)
    if not history:
        out.print(t("No consent recorded for {case}.", case=case))
    for r in history:
        c = r.consent
        partners_text = t("any") if c.partners is None else ", ".join(c.partners) or t("none")
        out.print(
            t(
                "{at}: named publicly {name}; shared {share} with {partners} ({source}, {who})",
                at=r.recorded_at.isoformat(timespec="seconds"),
                name=str(c.name_publicly),
                share=str(c.share),
                partners=escape(partners_text),
                source=str(r.source),
                who=escape(r.recorded_by_name),
            )
        )


@privacy_app.command("retention")
@guarded
def retention_cmd(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """The retention periods in force (days; QORGAU_RETENTION_FILE changes the defaults)."""
    with _privacy(data_dir, database_url) as (pd, _):
        policy = pd.retention()
    for kind, days in policy.as_dict().items():
        out.print(f"{kind}: " + (t("kept") if days is None else t("{n} days", n=days)))


@privacy_app.command("expire")
@guarded
def expire_cmd(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Erase what is past its retention period (cases under legal hold are skipped)."""
    with _privacy(data_dir, database_url, acting_as="retention") as (pd, who):
        report = pd.expire(who)
    for kind, n in report.counts.items():
        out.print(t("{kind}: {n} expired.", kind=kind, n=n))


@privacy_app.command("erase")
@guarded
def erase_cmd(
    case: CaseArg, reason: Reason, data_dir: DataDir = None, database_url: DbUrl = None
) -> None:
    """Erase a case's personal content on request; the evidence log stays verifiable."""
    with _privacy(data_dir, database_url) as (pd, who):
        done = pd.erase(who, case, reason)
    c = done.counts()
    out.print(
        t(
            "Erased {case}: {notes} notes, {attachments} attachments, {evidence} evidence items;"
            " {deleted} files deleted, {kept} kept for other cases.",
            case=case,
            notes=c["notes"],
            attachments=c["attachments"],
            evidence=c["evidence"],
            deleted=c["blobs_deleted"],
            kept=c["blobs_kept_shared"],
        )
    )


@privacy_app.command("hold")
@guarded
def hold_cmd(
    case: CaseArg, reason: Reason, data_dir: DataDir = None, database_url: DbUrl = None
) -> None:
    """Put a case under legal hold: nothing of it expires or is erased."""
    with _privacy(data_dir, database_url) as (pd, who):
        pd.hold(who, case, reason)
    out.print(t("{case} is under legal hold.", case=case))


@privacy_app.command("release")
@guarded
def release_cmd(case: CaseArg, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Lift a legal hold."""
    with _privacy(data_dir, database_url) as (pd, who):
        pd.release_hold(who, case)
    out.print(t("{case} is no longer under legal hold.", case=case))


@privacy_app.command("lock")
@guarded
def lock_cmd(
    case: CaseArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit)")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Panic lock: hide the case at once from everyone but administrators."""
    with _privacy(data_dir, database_url) as (pd, who):
        pd.lock(who, case, reason)
    out.print(t("{case} is locked: only administrators see it.", case=case))


@privacy_app.command("unlock")
@guarded
def unlock_cmd(case: CaseArg, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Lift a panic lock."""
    with _privacy(data_dir, database_url) as (pd, who):
        pd.unlock(who, case)
    out.print(t("{case} is unlocked.", case=case))


@privacy_app.command("locks")
@guarded
def locks_cmd(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Cases under a panic lock."""
    with _privacy(data_dir, database_url) as (pd, who):
        found = pd.locks(who)
    if not found:
        out.print(t("No case is locked."))
    for public_id, lk in found:
        out.print(
            f"{public_id}  {lk.locked_at.isoformat(timespec='seconds')}  {lk.source}"
            f"  {escape(lk.locked_by_name)}  {escape(lk.reason or '')}"
        )
