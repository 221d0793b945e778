"""Time-based one-time codes (RFC 6238) for staff sign-in.

pyotp computes the codes; this module adds what a sign-in needs around them: a code is
accepted one step either side of now (phones drift), and never twice — the caller stores the
returned time step and passes it back, so a code read over a shoulder or from a phishing page
cannot be used again after the real sign-in. The enrolment QR code is drawn by segno as inline
SVG: the secret never leaves the server for a QR service.
"""

from __future__ import annotations

import io
from datetime import datetime

import pyotp
import segno

ISSUER = "Qorgau"
STEP_SECONDS = 30
CODE_DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits in base32, the size RFC 4226 recommends and every authenticator reads."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment URI as an SVG element to place inline in the page (no XML declaration)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True, nl=False
    )
    return out.getvalue().decode("ascii")


def normalise_code(code: str) -> str:
    """Digits only: people type codes with spaces, as authenticators show them ("123 456")."""
    return "".join(ch for ch in code if ch.isdigit())


def accepted_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``last_step``."""
    digits = normalise_code(code)
    if len(digits) != CODE_DIGITS:
        return None
    totp = pyotp.TOTP(secret, digits=CODE_DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), digits):
            return step
    return None


def code_at(secret: str, when: datetime) -> str:
    """The code an authenticator shows at ``when`` (tests and the demo's printed hint)."""
    return pyotp.TOTP(secret).at(when)
