"""Turn a measurement taken from a control vantage into the :class:`Control` of another.

The classifier judges a measurement from a censored network by comparing it, layer by layer,
with the same URL measured at the same time from outside (OONI's Web Connectivity control).
OONI's control is a separate service with its own format; Qorgau's control is simply one of
its own probes on an uncensored network running the very same engine. This module is the
bridge: it reduces that probe's full :class:`Measurement` to the summary the classifier reads,
so the censored and the control side are measured by identical code and only the network
differs.

What is kept, and why:

* ``dns_answers`` — the addresses the control's resolvers gave for the URL's own host (not for
  hosts a redirect led to: OONI's control resolves only the first host, and the classifier
  compares the first host's answers with these);
* ``dns_failure`` — why the control found no address, when it found none (a real error is
  preferred over "no answer", as :func:`qorgau.monitor.classify.classify` does locally);
* ``tcp`` and ``tls`` — every connect and handshake as recorded, so "the control connected to
  the same address" and "the control's certificate chain" can be said;
* ``http`` — the last hop of the control's fetch (the page a redirect chain ends at, or the
  hop that failed), which is what the final local page is compared with;
* ``failure`` — set only when the control recorded nothing at all to compare with; a control
  that *observed* failures (the site is down) is a valid control, and is what lets the
  classifier say "down everywhere" instead of "blocked".

Pure function, no I/O: used by the lab tests and by the server when it pairs an agent's
upload with a control agent's measurement of the same URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import idna

from qorgau.monitor.model import Control, DnsQuery, Measurement
from qorgau.monitor.ooni import hostname_of

__all__ = ["NO_OBSERVATIONS", "control_from"]

NO_OBSERVATIONS = "control_no_observations"
"""``Control.failure`` when the control measurement recorded no DNS, TCP, TLS or HTTP step."""

_NO_ANSWER = "dns_no_answer"


def control_from(m: Measurement) -> Control:
    """The :class:`Control` that ``m``, measured from an uncensored vantage, stands for.

    ``m`` is normally a measurement whose ``vantage.is_control`` is true, taken at about the
    same time as the measurement it will be attached to (``dataclasses.replace(local,
    control=control_from(m))``); that is not enforced, so a measurement from any network known
    to be free of the censorship under study can serve. ``m.control`` itself is ignored.
    """
    if not (m.dns or m.tcp or m.tls or m.http):
        return Control(failure=NO_OBSERVATIONS)
    queries = _target_queries(m)
    answers = tuple(dict.fromkeys(a for q in queries for a in q.answers))
    return Control(
        dns_answers=answers,
        dns_failure=None if answers else _lookup_failure(queries),
        tcp=m.tcp,
        tls=m.tls,
        http=m.http[-1] if m.http else None,
    )


def _target_queries(m: Measurement) -> list[DnsQuery]:
    """The lookups of the URL's own host, in whichever IDNA form they were recorded.

    The engine encodes names with IDNA 2008 (UTS 46) and the classifier with Python's IDNA
    2003 codec; the two differ for a few characters (ß, final sigma), so both are accepted.
    """
    names = set(_names(m.url))
    return [q for q in m.dns if q.hostname.rstrip(".").lower() in names]


def _names(url: str) -> Iterable[str]:
    yield hostname_of(url)
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        yield idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        yield host


def _lookup_failure(queries: list[DnsQuery]) -> str | None:
    failures = [q.failure for q in queries if q.failure]
    real = [f for f in failures if f != _NO_ANSWER]
    if real:
        return real[0]
    if failures:
        return failures[0]
    return _NO_ANSWER if queries else None
