"""The few domain exceptions the runtime raises; the web layer maps them to HTTP in one place.

Decisions deny by raising one of these: a denial is never a half-built plan, so nothing can be
applied by mistake, and the web layer turns every one into the same error shape
(``problem()``: RFC 9457 problem details plus a list of field errors).

Status codes:

* ``PermissionDenied`` 403 — the actor can see the ticket but may not do this to it.
* ``NotFound`` 404 — the thing does not exist *or the actor may not see it*: a ticket outside the
  actor's scope is always reported as not found, so its existence never leaks.
* ``TransitionNotAllowed`` 409 — the request is well-formed but conflicts with the ticket's current
  state (wrong state, a ``when`` condition that does not hold, no approval pending). 409 rather than
  422 because the same request may succeed once the ticket is in another state, and because a
  second user moving the ticket first is the common cause.
* ``StaleTicket`` 409 — the ticket changed since the actor loaded it (row version differs).
* ``InvalidInput`` 422 — the submitted data is wrong; carries every problem at once as
  (field path, message) pairs, e.g. ``("fields.parts_used", "is required")``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from engine.schema import FieldError

__all__ = [
    "GongdanError",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "StaleTicket",
    "TransitionNotAllowed",
]


class GongdanError(Exception):
    """Base of every domain error: a caller's mistake, never a server fault."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def errors(self) -> tuple[FieldError, ...]:
        """Field-level problems; only ``InvalidInput`` has any."""
        return ()

    def problem(self) -> dict[str, Any]:
        """The API error body: problem details with the field errors, if any."""
        body: dict[str, Any] = {"status": self.status, "title": self.title, "code": self.code,
                                "detail": self.message}
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return body


class PermissionDenied(GongdanError):
    """The actor may see the ticket but not perform this action on it."""

    status = 403
    title = "Forbidden"
    code = "permission_denied"


class NotFound(GongdanError):
    """Unknown, or outside the actor's scope — the two are deliberately indistinguishable."""

    status = 404
    title = "Not found"
    code = "not_found"


class TransitionNotAllowed(GongdanError):
    """The ticket's current state does not allow this step."""

    status = 409
    title = "Not possible in the current state"
    code = "transition_not_allowed"


class StaleTicket(GongdanError):
    """Someone changed the ticket after the actor loaded it; reload and try again."""

    status = 409
    title = "Ticket changed meanwhile"
    code = "stale_ticket"

    def __init__(self, message: str, expected: int | None = None, actual: int | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class InvalidInput(GongdanError):
    """Submitted data is wrong; every problem is listed, each with its field path."""

    status = 422
    title = "Invalid input"
    code = "invalid_input"

    def __init__(self, errors: Iterable[tuple[str, str]], message: str | None = None) -> None:
        self._errors = tuple(FieldError(path, msg) for path, msg in errors)
        detail = message or "; ".join(f"{e.field}: {e.message}" for e in self._errors) or "invalid input"
        super().__init__(detail)

    @property
    def errors(self) -> tuple[FieldError, ...]:
        return self._errors
