"""Every domain error reaches the client as its row of the error table says."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qorgau import errors
from qorgau.web.errors import ERROR_TABLE, install

SUBCLASSES = [
    c
    for c in vars(errors).values()
    if isinstance(c, type) and issubclass(c, errors.QorgauError) and c is not errors.QorgauError
]


def test_every_error_class_has_a_row() -> None:
    assert set(SUBCLASSES) == set(ERROR_TABLE)


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
def test_each_row_sets_status_code_and_body_shape(cls: type[errors.QorgauError]) -> None:
    app = FastAPI()
    install(app)
    exc = (
        errors.InvalidInput.single("title", "required", "give a title")
        if cls is errors.InvalidInput
        else cls("what went wrong")
    )

    @app.get("/boom")
    def boom() -> None:
        raise exc

    r = TestClient(app).get("/boom", headers={"Accept-Language": "ru"})
    status, code, title = ERROR_TABLE[cls]
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"error", "title", "detail", "problems"}
    assert body["error"] == code
    assert body["title"] and body["title"] != title  # translated for a Russian caller
    if cls is errors.InvalidInput:
        assert body["problems"][0]["field"] == "title"
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
