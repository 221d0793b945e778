"""Evidence vault use cases: add files and web captures, derive redacted copies, view with a
custody record, stamp tree heads, verify the whole vault, export a court-ready package.

Every read of an item's content and every export is a custody event (who, when, why), shown
with the item and carried in the package.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, Role
from qorgau.domain.privacy import may_see_locked
from qorgau.errors import InvalidInput, NotFound
from qorgau.security.uploads import SNIFF_BYTES, detect
from qorgau.store import incidents as repo
from qorgau.store import privacy as privacy_repo
from qorgau.store import vault as vault_repo
from qorgau.store.blobs import BlobStore
from qorgau.store.vault import Item, NewItem, SignedHead
from qorgau.store.vault_verify import VerifyReport, verify_vault
from qorgau.vault import package
from qorgau.vault.merkle import MerkleTree
from qorgau.vault.signing import SigningKeys

TEXT_TYPES = ("text/", "application/json", "application/xml")
MAX_ITEM_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Added:
    items: list[Item]
    head: SignedHead
    warnings: list[str]


def sniff(data: bytes) -> str | None:
    """What the bytes are by their magic numbers (``security.uploads.detect``); plain text is
    no claim about a format, so it never contradicts a declared text-like type."""
    kind = detect(data)
    return None if kind in ("text/plain", "message/rfc822") else kind


class VaultDesk:
    def __init__(self, case_desk: CaseDesk, blobs: BlobStore | None = None) -> None:
        self.cases = case_desk
        self.store = case_desk.store
        self.blobs = blobs or BlobStore.for_settings(self.store.settings)
        self._keys: SigningKeys | None = None

    @property
    def keys(self) -> SigningKeys:
        if self._keys is None:
            self._keys = vault_repo.signing_keys(self.store)
        return self._keys

    def _case_id(
        self, principal: Principal, public_id: str | None
    ) -> tuple[int | None, str | None]:
        if public_id is None:
            return None, None
        with self.store.read() as conn:
            case = repo.get_incident(
                conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
            )
        access.ensure_visible(principal, case)
        return case.id, case.public_id

    # -- adding ---------------------------------------------------------------------------
    def add_file(
        self,
        principal: Principal,
        data: bytes,
        *,
        filename: str | None,
        media_type: str | None,
        case: str | None = None,
        method: str = "upload",
        source: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Added:
        """Store any bytes as evidence. Nothing is refused for its format: a file whose type
        cannot be recognised, or does not match what it claims, is kept as opaque bytes with a
        warning (evidence must not be lost because a parser disliked it)."""
        access.authorize(principal, Action.VAULT_WRITE)
        if len(data) > MAX_ITEM_BYTES:
            raise InvalidInput.single("file", "max_size", "at most 2 GiB per item")
        return self._add_stored(
            principal,
            self.blobs.put(data),
            len(data),
            data[:SNIFF_BYTES],
            filename=filename,
            media_type=media_type,
            case=case,
            method=method,
            source=source,
            details=details,
        )

    def add_path(
        self,
        principal: Principal,
        path: Path,
        *,
        media_type: str | None = None,
        case: str | None = None,
        source: str | None = None,
    ) -> Added:
        """Add a file from disk, streamed (large videos and archives never sit in memory)."""
        access.authorize(principal, Action.VAULT_WRITE)
        self._case_id(principal, case)  # refuse an unknown case before the file is read
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
        if media_type is None:
            # The file's name is the only other hint; a wrong extension is caught by sniffing.
            media_type = mimetypes.guess_type(path.name)[0]
        sha, size = self.blobs.put_file(path)
        return self._add_stored(
            principal,
            sha,
            size,
            head,
            filename=path.name,
            media_type=media_type,
            case=case,
            method="upload",
            source=source,
            details=None,
        )

    def _add_stored(
        self,
        principal: Principal,
        sha: str,
        size: int,
        head: bytes,
        *,
        filename: str | None,
        media_type: str | None,
        case: str | None,
        method: str,
        source: str | None,
        details: dict[str, Any] | None,
    ) -> Added:
        warnings: list[str] = []
        sniffed = sniff(head)
        declared = (media_type or "").split(";")[0].strip().lower() or None
        if declared is None:
            declared = sniffed or "application/octet-stream"
            if sniffed is None:
                warnings.append("unrecognised format: stored as opaque bytes")
        elif sniffed and sniffed != declared and not declared.startswith(sniffed.split("/")[0]):
            warnings.append(f"declared {declared} but the content looks like {sniffed}")
        incident_id, public_id = self._case_id(principal, case)
        new = NewItem(
            org_id=principal.org_id,
            sha256=sha,
            size=size,
            media_type=declared,
            method=method,
            collector_id=principal.user_id,
            collector_name=principal.username,
            collected_at=self.store.now(),
            incident_id=incident_id,
            incident_public_id=public_id,
            original_name=filename,
            source=source,
            details={**(details or {}), **({"warnings": warnings} if warnings else {})},
        )
        return self._add(principal, [new], warnings)

    def _add(self, principal: Principal, new: list[NewItem], warnings: list[str]) -> Added:
        with self.store.write() as conn:
            items, head = vault_repo.add_items(
                conn, self.store.cipher, self.keys, new, self.store.now()
            )
        return Added(items, head, warnings)

    def capture(self, principal: Principal, url: str, *, case: str | None = None) -> Added:
        """Capture a web page (WARC, WACZ, screenshot, text) as linked items; a page that
        cannot be reached is recorded as a failed attempt with its error, not dropped."""
        from qorgau.vault.capture import capture as run_capture

        access.authorize(principal, Action.VAULT_WRITE)
        incident_id, public_id = self._case_id(principal, case)
        result = run_capture(url)
        capture_id = "cap-" + secrets.token_hex(8)
        now = self.store.now()
        base: dict[str, Any] = {
            "url": result.url,
            "final_url": result.final_url,
            "status": result.status,
            "ok": result.ok,
            "error": result.error,
            "request_headers": result.request_headers,
            "response_headers": result.response_headers,
            "resolved_ips": result.resolved_ips,
            "redirects": result.redirects,
            "title": result.title,
            "fields": result.fields,
            "warnings": list(getattr(result, "warnings", []) or []),
        }
        searchable = " ".join(
            v for v in (result.title, result.fields.get("author_handle"), result.text) if v
        )[:100_000]
        parts: list[tuple[bytes, str, str]] = [(result.warc, "application/warc", "warc")]
        if result.wacz:
            parts.append((result.wacz, "application/wacz", "wacz"))
        if result.screenshot_png:
            parts.append((result.screenshot_png, "image/png", "screenshot"))
        if result.text:
            parts.append((result.text.encode("utf-8"), "text/plain; charset=utf-8", "text"))
        new = []
        for data, kind, part in parts:
            sha = self.blobs.put(data)
            new.append(
                NewItem(
                    org_id=principal.org_id,
                    sha256=sha,
                    size=len(data),
                    media_type=kind,
                    method="capture",
                    collector_id=principal.user_id,
                    collector_name=principal.username,
                    collected_at=now,
                    incident_id=incident_id,
                    incident_public_id=public_id,
                    role="original" if part == "warc" else "capture-part",
                    source=result.url,
                    capture_id=capture_id,
                    details={**base, "part": part},
                    search_text=searchable if part in ("warc", "text") else None,
                )
            )
        warnings = [] if result.ok else [f"capture failed: {result.error}"]
        return self._add(principal, new, warnings)

    def redact(
        self,
        principal: Principal,
        item_id: int,
        remove: list[str],
        reason: str,
    ) -> Added:
        """A copy of a text item with the given strings blacked out; the original stays
        untouched, and the copy records what it was derived from and how."""
        access.authorize(principal, Action.VAULT_WRITE)
        if not remove or not all(r.strip() for r in remove):
            raise InvalidInput.single("remove", "required", "list the text to redact")
        if not reason.strip():
            raise InvalidInput.single("reason", "required", "say why the copy is redacted")
        with self.store.read() as conn:
            original = vault_repo.get_item(conn, self.store.cipher, item_id)
        self._visible(principal, original)
        if not original.media_type.startswith(TEXT_TYPES):
            raise InvalidInput.single(
                "item_id",
                "not_text",
                f"only text items can be redacted here; this one is {original.media_type}",
            )
        text = self.blobs.get(original.sha256).decode("utf-8", errors="replace")
        for r in remove:
            text = text.replace(r, "█" * len(r))
        data = text.encode("utf-8")
        sha = self.blobs.put(data)
        new = NewItem(
            org_id=principal.org_id,
            sha256=sha,
            size=len(data),
            media_type=original.media_type,
            method="derived",
            collector_id=principal.user_id,
            collector_name=principal.username,
            collected_at=self.store.now(),
            incident_id=original.incident_id,
            incident_public_id=self._public_id(original.incident_id),
            role="redacted",
            source=original.source,
            derived_from=original,
            derivation=f"redacted {len(remove)} passage(s): {reason.strip()}",
        )
        return self._add(principal, [new], [])

    def _public_id(self, incident_id: int | None) -> str | None:
        if incident_id is None:
            return None
        with self.store.read() as conn:
            return repo.public_ids(conn, [incident_id]).get(incident_id)

    def _visible(self, principal: Principal, item: Item) -> None:
        if item.org_id != principal.org_id and principal.role is not Role.ADMIN:
            raise NotFound(f"evidence item {item.id} not found")
        if item.incident_id is not None and not may_see_locked(principal.role):
            # Evidence of a case under a panic lock is hidden like the case (decision 0026).
            with self.store.read() as conn:
                if privacy_repo.locked_among(conn, [item.incident_id]):
                    raise NotFound(f"evidence item {item.id} not found")

    # -- reading --------------------------------------------------------------------------
    def items(self, principal: Principal, case: str) -> list[tuple[Item, list[vault_repo.Custody]]]:
        access.authorize(principal, Action.VAULT_READ)
        incident_id, _ = self._case_id(principal, case)
        assert incident_id is not None
        with self.store.read() as conn:
            found = vault_repo.items_for_incidents(conn, self.store.cipher, [incident_id])
            custody = vault_repo.custody(conn, [i.id for i in found])
        return [(i, custody[i.id]) for i in found]

    def search(self, principal: Principal, q: str, limit: int = 50) -> list[Item]:
        """Captured posts, ads and messages by their visible text or author handle."""
        access.authorize(principal, Action.VAULT_READ)
        words = [w for w in q.split() if w][:10]
        if not words:
            raise InvalidInput.single("q", "required", "give at least one word to look for")
        org = None if principal.role is Role.ADMIN else principal.org_id
        with self.store.read() as conn:
            return vault_repo.search_items(conn, self.store.cipher, org, words, limit)

    def open_item(
        self,
        principal: Principal,
        item_id: int,
        reason: str,
        address: str | None = None,
        *,
        original: bool = False,
    ) -> tuple[Item, bytes]:
        """The item's bytes, checked against their hash, and a custody record of the view.

        Images come as a copy without EXIF, GPS, XMP or comments; the original bytes (the
        ones the signed log vouches for) only when asked for, to those who may export
        evidence. The custody record says which copy was taken."""
        from qorgau.security.image_metadata import staff_copy

        access.authorize(principal, Action.VAULT_READ)
        if original:
            access.authorize(principal, Action.VAULT_EXPORT)
        if not reason.strip():
            raise InvalidInput.single("reason", "required", "say why you open this item")
        with self.store.read() as conn:
            item = vault_repo.get_item(conn, self.store.cipher, item_id)
            self._visible(principal, item)
        data = self.blobs.get(item.sha256)
        changed = False
        if not original:
            data, changed = staff_copy(data)
        copy = "original" if original else ("without_metadata" if changed else "as_stored")
        with self.store.write() as conn:
            vault_repo.record_custody(
                conn,
                item.id,
                principal.user_id,
                principal.username,
                "viewed",
                reason.strip(),
                {"copy": copy},
                address,
                self.store.now(),
            )
        return item, data

    # -- proofs ---------------------------------------------------------------------------
    def inclusion(
        self, principal: Principal, item_id: int
    ) -> tuple[Item, str, SignedHead, list[bytes]]:
        """The item's log entry and its inclusion proof under the newest signed head."""
        access.authorize(principal, Action.VAULT_READ)
        with self.store.read() as conn:
            item = vault_repo.get_item(conn, self.store.cipher, item_id)
            self._visible(principal, item)
            head = vault_repo.latest_head(conn)
            if head is None or item.leaf_index >= head.head.tree_size:
                raise NotFound(f"item {item_id} is not under a signed tree head yet")
            tree = MerkleTree(vault_repo.leaf_hashes(conn, head.head.tree_size))
            entry = vault_repo.entries(conn, [item.leaf_index])[item.leaf_index]
        return item, entry, head, tree.inclusion_proof(item.leaf_index, head.head.tree_size)

    def consistency(
        self, principal: Principal, old_size: int, new_size: int
    ) -> tuple[SignedHead, SignedHead, list[bytes]]:
        """Proof that the log at ``new_size`` extends the log at ``old_size`` unchanged; both
        sizes must be signed heads (the proof is only worth what the heads are)."""
        access.authorize(principal, Action.VAULT_VERIFY)
        if not 1 <= old_size <= new_size:
            raise InvalidInput.single(
                "old_size", "range", "give 1 ≤ old_size ≤ new_size, sizes of signed heads"
            )
        with self.store.read() as conn:
            signed = {h.head.tree_size: h for h in vault_repo.heads(conn)}
            if old_size not in signed or new_size not in signed:
                raise NotFound("no signed tree head has that size; list them with verify")
            tree = MerkleTree(vault_repo.leaf_hashes(conn, new_size))
        return signed[old_size], signed[new_size], tree.consistency_proof(old_size, new_size)

    # -- sealing, verifying ---------------------------------------------------------------
    def stamp_pending(self) -> int:
        """Ask the configured Time-Stamping Authority to countersign unstamped tree heads."""
        from qorgau.vault.timestamps import request_token

        url = self.store.settings.tsa_url
        if not url:
            return 0
        with self.store.read() as conn:
            pending = vault_repo.unstamped_heads(conn)
        for sh in pending:
            token = request_token(vault_repo.head_digest(sh.head), url)
            with self.store.write() as conn:
                vault_repo.set_timestamp(conn, sh.id, token, url)
        return len(pending)

    def verify(self, principal: Principal) -> VerifyReport:
        access.authorize(principal, Action.VAULT_VERIFY)
        check = None
        ca_file = self.store.settings.tsa_ca_file
        if ca_file is not None:
            from qorgau.vault.timestamps import verify_token

            ca = ca_file.read_bytes()

            def check(token: bytes, digest: bytes) -> None:
                verify_token(token, digest, ca)

        with self.store.read() as conn:
            return verify_vault(conn, self.blobs, self.keys, check_timestamp=check)

    # -- export ---------------------------------------------------------------------------
    def export(
        self,
        principal: Principal,
        case: str,
        *,
        language: str,
        reason: str,
        items: list[int] | None = None,
        withhold_originals_of_redacted: bool = True,
        address: str | None = None,
    ) -> bytes:
        """A ZIP of the case's evidence that verifies without Qorgau (see vault/package.py).

        When a redacted copy exists, its original's bytes are left out by default and only its
        hash and inclusion proof go in: the package shows the original existed, not what it
        said.
        """
        access.authorize(principal, Action.VAULT_EXPORT)
        if language not in ("en", "ru", "kk"):
            raise InvalidInput.single("language", "choice", "en, ru or kk", ("en", "ru", "kk"))
        if not reason.strip():
            raise InvalidInput.single("reason", "required", "say why and for whom you export")
        if self.store.settings.tsa_url:
            self.stamp_pending()
        incident_id, public_id = self._case_id(principal, case)
        assert incident_id is not None
        now = self.store.now()
        with self.store.write() as conn:
            head = vault_repo.latest_head(conn)
            found = vault_repo.items_for_incidents(conn, self.store.cipher, [incident_id])
            if items:
                unknown = sorted(set(items) - {i.id for i in found})
                if unknown:
                    raise InvalidInput.single(
                        "items",
                        "not_in_case",
                        f"items {', '.join(map(str, unknown))} are not evidence of {case}",
                    )
                chosen = set(items)
                # a redacted copy brings the proof of its original along
                chosen |= {i.derived_from_id for i in found if i.id in chosen and i.derived_from_id}
                found = [i for i in found if i.id in chosen]
            if head is None or not found:
                raise NotFound(f"case {case} has no evidence in the vault yet")
            tree = MerkleTree(vault_repo.leaf_hashes(conn, head.head.tree_size))
            entries = vault_repo.entries(conn, [i.leaf_index for i in found])
            for item in found:
                vault_repo.record_custody(
                    conn,
                    item.id,
                    principal.user_id,
                    principal.username,
                    "exported",
                    reason.strip(),
                    {"language": language},
                    address,
                    now,
                )
            custody = vault_repo.custody(conn, [i.id for i in found])
        redacted_from = {i.derived_from_id for i in found if i.role == "redacted"}
        by_id = {i.id: i for i in found}
        package_items = []
        for item in found:
            if item.leaf_index >= head.head.tree_size:
                continue  # added after the newest head; the next export will carry it
            withhold = withhold_originals_of_redacted and item.id in redacted_from
            package_items.append(
                package.PackageItem(
                    sha256=item.sha256,
                    data=b"" if withhold else self.blobs.get(item.sha256),
                    media_type=item.media_type,
                    role=item.role,
                    method=item.method,
                    collected_at=item.collected_at,
                    source=item.source,
                    original_name=None if withhold else item.original_name,
                    derived_from=by_id[item.derived_from_id].sha256
                    if item.derived_from_id in by_id
                    else None,
                    derivation=item.derivation,
                    leaf_index=item.leaf_index,
                    leaf_entry=entries[item.leaf_index],
                    inclusion_proof=tree.inclusion_proof(item.leaf_index, head.head.tree_size),
                    custody=[
                        {
                            "at": c.at.isoformat(),
                            "actor": c.actor_name,
                            "action": c.action,
                            "reason": c.reason,
                        }
                        for c in custody[item.id]
                    ],
                    include_content=not withhold,
                )
            )
        ca = self.store.settings.tsa_ca_file
        pkg = package.Package(
            title=f"Evidence for {public_id}",
            case=public_id,
            generated_at=now,
            generated_by=principal.username,
            language=language,
            items=package_items,
            head=package.PackageHead(
                signed_bytes=head.head.signed_bytes(),
                signature=head.signature,
                public_key_pem=self.keys.public_key_pem(head.head.key_id),
                timestamp_token=head.tsa_token,
                tsa_ca_pem=ca.read_bytes() if ca and head.tsa_token else None,
            ),
        )
        pkg.summary_pdf = _summary_pdf(pkg, language)
        return package.build_zip(pkg, _readme(pkg, language))


def _template(name: str) -> Any:
    env = Environment(undefined=StrictUndefined, autoescape=name.endswith(".html.j2"))
    text = (resources.files("qorgau.vault") / "package_files" / name).read_text("utf-8")
    return env.from_string(text)


def _readme(pkg: package.Package, lang: str) -> str:
    return str(
        _template(f"README.{lang}.txt.j2").render(
            title=pkg.title,
            case=pkg.case,
            generated_at=pkg.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
            generated_by=pkg.generated_by,
        )
    )


SUMMARY_LABELS = {
    "en": {
        "heading": "Evidence package",
        "made": "Made",
        "case": "case",
        "head": "Signed log state",
        "size": "entries",
        "root": "root",
        "key": "key",
        "type": "Type",
        "how": "Collected",
        "when": "When (UTC)",
        "custody": "Custody",
        "verify": "How to verify: see README.txt (sha256sum, openssl, verify_package.py).",
    },
    "ru": {
        "heading": "Пакет доказательств",
        "made": "Создан",
        "case": "дело",
        "head": "Подписанное состояние журнала",
        "size": "записей",
        "root": "корень",
        "key": "ключ",
        "type": "Тип",
        "how": "Как собрано",
        "when": "Когда (UTC)",
        "custody": "Цепочка хранения",
        "verify": "Как проверить: см. README.txt (sha256sum, openssl, verify_package.py).",
    },
    "kk": {
        "heading": "Дәлелдер пакеті",
        "made": "Жасалған",
        "case": "іс",
        "head": "Журналдың қол қойылған күйі",
        "size": "жазба",
        "root": "түбір",
        "key": "кілт",
        "type": "Түрі",
        "how": "Қалай жиналған",
        "when": "Қашан (UTC)",
        "custody": "Сақтау тізбегі",
        "verify": "Қалай тексеру керек: README.txt қараңыз"
        " (sha256sum, openssl, verify_package.py).",
    },
}


def _summary_pdf(pkg: package.Package, lang: str) -> bytes | None:
    """A readable summary; WeasyPrint renders Kazakh and Russian letters with DejaVu fonts."""
    html = _template("summary.html.j2").render(
        lang=lang,
        t=SUMMARY_LABELS[lang],
        title=pkg.title,
        case=pkg.case,
        generated_at=pkg.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        generated_by=pkg.generated_by,
        head=json.loads(pkg.head.signed_bytes),
        items=[
            {
                "leaf_index": i.leaf_index,
                "sha256": i.sha256,
                "role": i.role,
                "derivation": i.derivation,
                "media_type": i.media_type,
                "method": i.method,
                "source": i.source,
                "collected_at": i.collected_at.strftime("%Y-%m-%d %H:%M:%S"),
                "custody": [
                    {
                        "at": c["at"][:19],
                        "actor": c["actor"],
                        "action": c["action"],
                        "reason": c["reason"],
                    }
                    for c in i.custody
                ],
            }
            for i in pkg.items
        ],
    )
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
