"""errors.py is the one table between error codes, classes and HTTP statuses (no server needed)."""

from __future__ import annotations

import pytest

from jupyter_chat_ext import errors
from jupyter_chat_ext.errors import (
    Busy,
    ChatExtError,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    error_from,
    error_from_event,
    status_for,
)


def test_every_declared_code_maps_to_its_class_status():
    seen: dict[str, int] = {}
    for cls in errors._classes():
        for code in (cls.code, *cls.codes):
            assert code not in seen or seen[code] == cls.status, f"{code} is declared twice"
            seen[code] = cls.status
            assert status_for(code) == cls.status
    assert status_for("prompt_too_long") == 413
    assert status_for("store_locked") == 503
    assert status_for("invalid_type") == 400
    assert status_for("no-such-code") == 500
    assert status_for(None) == 500


def test_an_error_survives_the_trip_through_an_event():
    for exc in (
        InvalidInput("bad", code="invalid_type"),
        NotFound("gone", code="model_not_found"),
        Conflict("clash"),
        PayloadTooLarge("big", code="prompt_too_long"),
        Busy("queue full"),
        Unavailable("later", code="store_locked", retry_after=30),
    ):
        event = exc.to_event(message_id=7)
        assert event["type"] == "error" and event["status"] == exc.status and event["message_id"] == 7
        back = error_from_event(event)
        assert type(back) is type(exc)
        assert (back.code, back.message, back.status) == (exc.code, exc.message, exc.status)
        assert back.retry_after_s() == exc.retry_after_s()


def test_an_event_without_status_and_unknown_codes():
    back = error_from_event({"type": "error", "code": "busy", "message": "full"})
    assert isinstance(back, Busy) and back.status == 429
    odd = error_from_event({"type": "error", "code": "teapot", "message": "short and stout", "status": 418})
    assert type(odd) is ChatExtError and odd.status == 418 and odd.code == "teapot"
    assert errors.event_status({"type": "error", "code": "not_found"}) == 404
    assert errors.event_status({"type": "error", "code": "x", "status": True}) == 500


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidInput),
        (404, NotFound),
        (409, Conflict),
        (413, PayloadTooLarge),
        (429, Busy),
        (503, Unavailable),
    ],
)
def test_an_http_answer_becomes_the_typed_error(status, cls):
    exc = error_from(None, "from the server", status=status)
    assert type(exc) is cls and exc.status == status and exc.code == cls.code
    # a known code keeps its own class; a code that contradicts the status yields to the status
    assert error_from(cls.code, "m", status=status).code == cls.code
    assert type(error_from("busy", "m", status=status)) is (Busy if status == 429 else cls)


def test_retry_after_only_for_429_and_503():
    assert Busy("x").retry_after_s() == 1
    assert Unavailable("x").retry_after_s() == 5
    assert Unavailable("x", retry_after=2.2).retry_after_s() == 3
    assert InvalidInput("x").retry_after_s() is None
    assert errors.retry_after_header(503, None) == 5
    assert errors.retry_after_header(404, 3) is None


def test_plain_http_statuses_have_codes():
    assert errors.code_for_status(403) == "forbidden"
    assert errors.code_for_status(405) == "method_not_allowed"
    assert errors.code_for_status(418) == "http_error"
    assert errors.code_for_status(502) == "internal_error"
