"""Domain errors carry their HTTP status, a title and one error shape."""

from __future__ import annotations

import pytest

from engine.runtime.errors import (
    GongdanError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StaleTicket,
    TransitionNotAllowed,
)


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (PermissionDenied, 403, "permission_denied"),
        (NotFound, 404, "not_found"),
        (TransitionNotAllowed, 409, "transition_not_allowed"),
        (StaleTicket, 409, "stale_ticket"),
    ],
)
def test_status_and_problem(cls: type[GongdanError], status: int, code: str) -> None:
    err = cls("nope")
    assert isinstance(err, GongdanError)
    assert (err.status, err.code, err.message, str(err)) == (status, code, "nope", "nope")
    assert err.problem() == {"status": status, "title": cls.title, "code": code, "detail": "nope"}


def test_invalid_input_lists_every_field() -> None:
    err = InvalidInput([("title", "is required"), ("fields.device_no", "must be text")])
    assert err.status == 422
    assert [(e.field, e.message) for e in err.errors] == [("title", "is required"),
                                                          ("fields.device_no", "must be text")]
    assert err.message == "title: is required; fields.device_no: must be text"
    assert err.problem()["errors"] == [{"field": "title", "message": "is required"},
                                       {"field": "fields.device_no", "message": "must be text"}]


def test_stale_ticket_keeps_versions() -> None:
    err = StaleTicket("changed", expected=2, actual=3)
    assert (err.expected, err.actual) == (2, 3)
