"""The responders' desk: the queue of cases (``desk_queue``) and the case page
(``desk_case``), one router for the app to include."""

from __future__ import annotations

from fastapi import APIRouter

from qorgau.web.ui.desk_case import router as case_router
from qorgau.web.ui.desk_queue import router as queue_router

router = APIRouter(include_in_schema=False)
router.include_router(queue_router)
router.include_router(case_router)
