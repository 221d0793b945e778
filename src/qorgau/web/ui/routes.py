"""Every router of the web interface, in one list the app factory includes.

Pages are not part of the API's OpenAPI document (``include_in_schema=False``); their access
is tested by ``tests/integration/test_ui_access.py`` the way the role matrix tests the API's.
"""

from __future__ import annotations

from fastapi import APIRouter


def ui_routers() -> list[APIRouter]:
    from qorgau.web.ui import (
        admin_pages,
        desk_pages,
        monitor_pages,
        privacy_pages,
        public_pages,
        report_pages,
        security_keys,
        sign_in,
    )

    return [
        sign_in.router,
        security_keys.router,
        public_pages.router,
        privacy_pages.router,
        desk_pages.router,
        monitor_pages.router,
        report_pages.router,
        admin_pages.router,
    ]
