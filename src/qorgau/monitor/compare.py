"""Run the classifier over OONI measurements and set its verdicts beside OONI's own.

This is how the classifier earns trust: on public measurements, where OONI has already given a
verdict, we should say the same thing — and where we do not, say why, in a sentence someone can
check against the measurement. Every disagreement carries such a note.

What "OONI's verdict" means here (the reference):

* the probe's own ``test_keys.blocking`` / ``accessible``, by default;
* when the probe left both null (it could not decide) and OONI's minipipeline analysis
  (``analysis_classic.json``) sits next to the measurement, the verdict that analysis implies;
* when the measurement matches one of OONI's own blocking fingerprints (loaded from OONI's CSV)
  and the probe said "not blocked", OONI's backend (fastpath) marks it confirmed blocking — as
  OONI Explorer then shows it — so that is the reference.

``Report.agreement_rate`` compares with that reference; ``Report.probe_agreement_rate`` with the
probe's raw verdict alone, for those who want the stricter figure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qorgau.errors import InvalidInput
from qorgau.monitor.classify import classify, ooni_accessible_equivalent, ooni_equivalent
from qorgau.monitor.fingerprints import Fingerprints, load_default
from qorgau.monitor.model import Verdict, VerdictKind
from qorgau.monitor.ooni import OoniRecord, ooni_verdict, parse_records

ANALYSIS_FILE = "analysis_classic.json"
_SKIP_NAMES = ("analysis_classic.json", "observations_classic.json", "INDEX.csv")
_MEASUREMENT_SUFFIXES = (".json", ".jsonl", ".jsonc")
OONI_FINGERPRINT_SOURCE = "ooni/blocking-fingerprints"

Blocking = str | bool | None


@dataclass(frozen=True)
class Row:
    file: str
    line: int
    input: str
    probe_cc: str | None
    probe_asn: str | None
    verdict: Verdict
    qorgau_blocking: Blocking  # the verdict in OONI's vocabulary
    qorgau_accessible: bool | None
    ooni_blocking: Blocking  # the probe's own verdict
    ooni_accessible: bool | None
    analysis: tuple[Blocking, bool | None] | None  # implied by analysis_classic.json, if present
    reference: str  # which OONI verdict we compare with: "probe", "analysis_classic", "fastpath"
    reference_blocking: Blocking
    reference_accessible: bool | None
    agree: bool
    note: str  # why we disagree (empty when we agree with the probe itself)


@dataclass(frozen=True)
class Report:
    rows: tuple[Row, ...]
    problems: tuple[InvalidInput, ...] = ()

    @property
    def agreed(self) -> int:
        return sum(r.agree for r in self.rows)

    @property
    def agreement_rate(self) -> float:
        """Share of measurements where our verdict is OONI's (see the module docstring)."""
        return self.agreed / len(self.rows) if self.rows else 0.0

    @property
    def probe_agreement_rate(self) -> float:
        """Share where our verdict equals the probe's raw ``(blocking, accessible)``."""
        same = sum(
            (r.qorgau_blocking, r.qorgau_accessible) == (r.ooni_blocking, r.ooni_accessible)
            for r in self.rows
        )
        return same / len(self.rows) if self.rows else 0.0

    @property
    def disagreements(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if not r.agree)


def compare(paths: Iterable[str | Path], fingerprints: Fingerprints | None = None) -> Report:
    """Classify every measurement in ``paths`` (files or folders) and compare with OONI.

    ``fingerprints`` defaults to the shipped Kazakhstan seed; pass it merged with OONI's CSVs
    (``load_ooni_csv``) to match blockpages the way OONI's backend does. A file that cannot be
    read is listed in ``Report.problems``; the other files are still compared.
    """
    fps = fingerprints if fingerprints is not None else load_default()
    rows: list[Row] = []
    problems: list[InvalidInput] = []
    for path in _measurement_files(paths):
        records, bad = parse_records(path)
        problems.extend(bad)
        analysis = _analysis_beside(path)
        for record in records:
            rows.append(_row(record, fps, analysis if len(records) == 1 else None))
    return Report(tuple(rows), tuple(problems))


def format_table(report: Report) -> str:
    """The report as plain text for ``qorgau monitor verdicts FILE...``: a table, the agreement,
    then one numbered note per disagreement and one line per unreadable file."""
    if not report.rows and not report.problems:
        return "no measurement found"
    common = _common_parent([r.file for r in report.rows])
    header = ("#", "file", "input", "network", "qorgau", "as OONI", "OONI", "agree")
    table: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    for i, r in enumerate(report.rows, 1):
        verdict = r.verdict.kind.value + (" *" if r.verdict.confirmed else "")
        mark = "yes" if r.agree else f"NO [{len(notes) + 1}]"
        if not r.agree:
            notes.append(f"[{len(notes) + 1}] #{i} {r.note}")
        ref = _pair(r.ooni_blocking, r.ooni_accessible)
        if r.reference != "probe":
            ref += f" -> {r.reference}: {_pair(r.reference_blocking, r.reference_accessible)}"
        table.append(
            (
                str(i),
                _clip(_relative(r.file, common), 44),
                _clip(r.input, 40),
                " ".join(x for x in (r.probe_cc, r.probe_asn) if x) or "-",
                verdict,
                _pair(r.qorgau_blocking, r.qorgau_accessible),
                ref,
                mark,
            )
        )
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n = len(report.rows)
    lines.append("")
    lines.append(
        f"agreement with OONI: {report.agreed}/{n} ({report.agreement_rate:.1%}); "
        f"with the probe's raw verdict alone: {report.probe_agreement_rate:.1%}"
    )
    lines.append("* = confirmed by a fingerprint; pairs are (blocking, accessible)")
    if notes:
        lines.append("")
        lines.append("disagreements:")
        lines.extend(notes)
    if report.problems:
        lines.append("")
        lines.append("not read:")
        lines.extend(f"- {p}" for p in report.problems)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def _measurement_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if (
                    child.is_file()
                    and child.suffix in _MEASUREMENT_SUFFIXES
                    and child.name not in _SKIP_NAMES
                ):
                    yield child
        else:
            yield p  # a missing file is reported by the parser, with its name


def _row(
    record: OoniRecord, fps: Fingerprints, analysis: tuple[Blocking, bool | None] | None
) -> Row:
    m = record.measurement
    verdict = classify(m, fps)
    qb, qa = ooni_equivalent(verdict), ooni_accessible_equivalent(verdict)
    ob, oa = ooni_verdict(record.raw)
    reference, rb, ra = "probe", ob, oa
    fp = fps.get(verdict.fingerprint) if verdict.fingerprint else None
    if (
        verdict.confirmed
        and fp is not None
        and fp.source.startswith(OONI_FINGERPRINT_SOURCE)
        and ob in (False, None)
    ):
        reference, rb, ra = "fastpath", qb, False
    elif ob is None and oa is None and analysis is not None:
        reference, (rb, ra) = "analysis_classic", analysis
    agree = (qb, qa) == (rb, ra)
    note = (
        ""
        if (agree and reference == "probe")
        else _note(verdict, qb, qa, ob, oa, reference, rb, ra, fp_name=verdict.fingerprint)
    )
    return Row(
        file=str(record.path),
        line=record.line,
        input=m.url,
        probe_cc=m.vantage.country,
        probe_asn=m.vantage.asn,
        verdict=verdict,
        qorgau_blocking=qb,
        qorgau_accessible=qa,
        ooni_blocking=ob,
        ooni_accessible=oa,
        analysis=analysis,
        reference=reference,
        reference_blocking=rb,
        reference_accessible=ra,
        agree=agree,
        note=note,
    )


def _note(
    v: Verdict,
    qb: Blocking,
    qa: bool | None,
    ob: Blocking,
    oa: bool | None,
    reference: str,
    rb: Blocking,
    ra: bool | None,
    *,
    fp_name: str | None,
) -> str:
    """Why our verdict and OONI's differ, from the facts of this measurement."""
    first = v.evidence[0] if v.evidence else ""
    ours = f"qorgau: {v.kind.value}{' (confirmed)' if v.confirmed else ''} = {_pair(qb, qa)}"
    theirs = f"OONI probe: {_pair(ob, oa)}"
    if reference == "fastpath":
        return (
            f"{ours}; {theirs}. The response matches OONI's own fingerprint {fp_name}; the probe "
            "does not match fingerprints, OONI's backend (fastpath) does and publishes this "
            "measurement as confirmed blocking, which is the verdict compared with."
        )
    if reference == "analysis_classic":
        base = (
            f"{ours}; {theirs}, undecided. OONI's minipipeline analysis (analysis_classic.json) "
            f"implies {_pair(rb, ra)}"
        )
        if (qb, qa) == (rb, ra):
            return base + ", which is what qorgau says."
        return base + f"; qorgau's reason: {first}."
    why = _explain(v, ob, oa)
    return f"{ours}; {theirs}. {why}".rstrip()


def _explain(v: Verdict, ob: Blocking, oa: bool | None) -> str:
    evidence = " / ".join(v.evidence[:3])
    control_failed = next((e for e in v.evidence if e.startswith("the control's")), "")
    if v.kind == VerdictKind.INCONCLUSIVE and v.details.get("missing") == "usable local fetch":
        return (
            "The local fetch failed inside the measuring software, not on the network "
            f"({v.evidence[0]}); OONI's probe counts every failed fetch as 'http-failure' when "
            "the control worked."
        )
    if v.kind == VerdictKind.DOWN_EVERYWHERE and ob is None:
        return (
            "OONI's probe left this undecided (null) because its control failed too; qorgau "
            f"reads the same failure on both sides as the site being down: {evidence}."
        )
    if v.kind == VerdictKind.DOWN_EVERYWHERE and ob == "dns" and v.details.get("stage") == "dns":
        return (
            "OONI's probe compared its failed lookup with the control's DNS answer, but that "
            "answer held no address and the control's own fetch failed: the name resolves "
            f"nowhere. Evidence: {evidence}."
        )
    if v.kind == VerdictKind.DOWN_EVERYWHERE and ob == "dns":
        return (
            "OONI's probe blamed DNS because its addresses differ from the control's, but the "
            "control failed the same way on the same addresses, so that difference is not what "
            "stops the site (a known limitation of the answers-differ rule, see "
            f"github.com/ooni/probe/issues/2517). Evidence: {evidence}."
        )
    if v.kind == VerdictKind.DOWN_EVERYWHERE and ob is False and oa is True:
        return (
            "Both see no blocking; OONI's legacy probe marks the site accessible although the "
            f"fetch failed here and at the control ({control_failed or evidence})."
        )
    if v.kind == VerdictKind.ACCESSIBLE and ob is None:
        return f"OONI's probe left this undecided (null); qorgau: {evidence}."
    return f"qorgau's reasons: {evidence}."


def _analysis_beside(path: Path) -> tuple[Blocking, bool | None] | None:
    candidate = path.with_name(ANALYSIS_FILE)
    if path.name == ANALYSIS_FILE or not candidate.is_file():
        return None
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return analysis_verdict(data) if isinstance(data, dict) else None


def analysis_verdict(a: dict[str, Any]) -> tuple[Blocking, bool | None]:
    """The ``(blocking, accessible)`` OONI's minipipeline analysis implies, in OONI's order:
    a final response decides first (over TLS it is accepted; over TCP it passes OONI's HTTP
    diff or not), then unexpected failures by layer, then failures the control saw too."""

    def some(key: str) -> bool:
        value = a.get(key)
        return bool(value) or (isinstance(value, int) and not isinstance(value, bool))

    dns_bad = some("DNSLookupSuccessWithInvalidAddressesClassic") or some(
        "DNSLookupUnexpectedFailure"
    )
    if some("HTTPFinalResponseSuccessTLSWithControl") or some(
        "HTTPFinalResponseSuccessTLSWithoutControl"
    ):
        return False, True
    if some("HTTPFinalResponseSuccessTCPWithControl"):
        status = a.get("HTTPFinalResponseDiffStatusCodeMatch")
        proportion = a.get("HTTPFinalResponseDiffBodyProportionFactor")
        body = isinstance(proportion, int | float) and proportion > 0.7
        headers = bool(a.get("HTTPFinalResponseDiffUncommonHeadersIntersection"))
        title = a.get("HTTPFinalResponseDiffTitleDifferentLongWords") == {}
        if status is True and (body or headers or title):
            return False, True
        return ("dns" if dns_bad else "http-diff"), False
    if some("HTTPFinalResponseSuccessTCPWithoutControl"):
        return ("dns", False) if dns_bad else (None, None)
    if dns_bad:
        return "dns", False
    if some("TCPConnectUnexpectedFailure"):
        return "tcp_ip", False
    if some("TLSHandshakeUnexpectedFailure") or some("HTTPRoundTripUnexpectedFailure"):
        return "http-failure", False
    if (
        some("DNSLookupExpectedFailure")
        or some("TCPConnectExpectedFailure")
        or some("TLSHandshakeExpectedFailure")
    ):
        return False, False
    return None, None


def _pair(blocking: Blocking, accessible: bool | None) -> str:
    def fmt(x: Blocking) -> str:
        return "null" if x is None else str(x).lower() if isinstance(x, bool) else x

    return f"({fmt(blocking)}, {fmt(accessible)})"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _common_parent(files: list[str]) -> Path | None:
    if not files:
        return None
    parents = [Path(f).resolve().parent for f in files]
    common = parents[0]
    for p in parents[1:]:
        while common not in (p, *p.parents):
            common = common.parent
    return common


def _relative(file: str, common: Path | None) -> str:
    if common is None:
        return file
    try:
        return str(Path(file).resolve().relative_to(common))
    except ValueError:
        return file
