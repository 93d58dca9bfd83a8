"""One error shape everywhere: {"status", "title", "errors": [{"field", "message"}]}.

Every exception becomes that shape here, in one place; a caller's mistake is a 4xx and never
shows a traceback. Anything unexpected is logged and answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from engine.runtime.errors import GongdanError

__all__ = ["EXCEPTION_HANDLERS", "problem"]

log = logging.getLogger("gongdan.web")

_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
}


def problem(
    status: int,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body = {"status": status, "title": title or _TITLES.get(status, "Error"), "errors": errors or []}
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            key = str(item.get("key") or "body")
            message = str(item.get("message") or "is invalid")
            # msgspec says "Expected `str`, got `int` - at `$.title`": keep the human part
            message = message.split(" - at ")[0].replace("`", "")
            errors.append({"field": key.removeprefix("$."), "message": message})
    if not errors:
        detail = str(exc.detail or "invalid request body")
        errors.append({"field": "body", "message": detail.split(" - at ")[0].replace("`", "")})
    status = exc.status_code if 400 <= exc.status_code < 500 else 422
    return problem(422 if status == 400 and errors else status, None, errors)


# Set by the pages module: renders an error as a page for browsers outside /api.
HTML_ERROR: Any = None


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return (HTML_ERROR is not None and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", ""))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if _wants_html(request) and exc.status_code < 500:
        response: Response[Any] = HTML_ERROR(request, exc)
        return response
    status = exc.status_code
    if status >= 500:
        log.error("server error on %s %s: %s", request.method, request.url.path, exc.detail)
        return problem(status, "Server error")
    title = exc.detail if exc.detail and exc.detail != _TITLES.get(status) else None
    headers = getattr(exc, "headers", None)
    return problem(status, title, None, headers)


def _domain(request: Request[Any, Any, Any], exc: GongdanError) -> Response[dict[str, Any]]:
    body = exc.problem()
    body.setdefault("errors", [])
    return Response(body, status_code=exc.status, media_type="application/json")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, UnicodeDecodeError):
        return problem(400, "Request is not valid UTF-8", [{"field": "body", "message": "is not valid UTF-8"}])
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Server error")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    ValidationException: _validation,
    HTTPException: _http,
    GongdanError: _domain,
    Exception: _unexpected,
}
