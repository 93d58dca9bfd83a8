"""Sensitive fields shown masked to those without a grant to see them.

A field marked ``sensitive`` is shown in full only to actors whose role lists it in
``see_sensitive`` ('type.field', 'field' or '*') — and to the ticket's requester, whose own data
it is (as in Jira's customer portal). Admin roles get no exemption: seeing personal data is a
grant of its own.

Masks keep just enough to recognise a value: ``138****5678`` for a phone or other long number,
``z***@example.com`` for an e-mail address, a row of bullets roughly as long as any other text.
An actor who sees a mask may submit it back unchanged (a form round trip) but may not change the
field: ``strip_masked`` enforces that before validation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.schema import Catalog, FieldError
from engine.schema.kinds.ticket_type import Field

from .model import Actor, TicketSnapshot

__all__ = ["MASK", "mask_fields", "mask_ticket", "mask_value", "masked_fields", "may_see", "strip_masked"]

MASK = "••••"
_NUMBERISH = re.compile(r"^\+?[0-9][0-9 ()./-]*$")
_EMAIL = re.compile(r"^([^@\s]*)@([^@\s]+)$")


def may_see(catalog: Catalog, actor: Actor, type_name: str, field_id: str) -> bool:
    """Whether a role of the actor grants seeing this sensitive field unmasked."""
    wanted = {f"{type_name}.{field_id}", field_id}
    for role in actor.roles:
        spec = catalog.roles.get(role)
        if spec is None:
            continue
        if spec.see_sensitive == "*" or not wanted.isdisjoint(spec.see_sensitive):
            return True
    return False


def masked_fields(catalog: Catalog, actor: Actor, type_name: str,
                  requester: str | None = None) -> frozenset[str]:
    """Ids of the type's fields the actor sees masked."""
    if requester is not None and requester == actor.username:
        return frozenset()
    key = (id(catalog), actor.roles, type_name)  # only the roles decide (see may_see)
    known = _MASKED.get(key)
    if known is not None and known[0] is catalog:
        return known[1]
    t = catalog.types.get(type_name)
    hidden = frozenset() if t is None else frozenset(
        f.id for f in t.spec.fields if f.sensitive and not may_see(catalog, actor, type_name, f.id))
    if len(_MASKED) >= 4096:
        _MASKED.clear()
    _MASKED[key] = (catalog, hidden)
    return hidden


# (catalog, roles, type) -> the fields those roles see masked; a list asks once per row.
_MASKED: dict[tuple[int, frozenset[str], str], tuple[Catalog, frozenset[str]]] = {}
_STARS = str.maketrans("0123456789", "**********")


def _ends_kept(digits: int) -> tuple[int, int]:
    # Long numbers (mobile 11, bank card 16-19, ID 18) keep the first 3 and last 4 digits;
    # shorter ones (landline) only the last 4; very short ones nothing.
    return (3, 4) if digits >= 10 else (0, 4) if digits >= 7 else (0, 0)


def _mask_digits(text: str, digits: int) -> str:
    head, tail = _ends_kept(digits)
    if text.isascii():  # a list masks a phone number per row: star every digit at once, restore the ends
        start, seen = 0, 0
        while seen < head:
            seen += text[start].isdigit()
            start += 1
        end, seen = len(text), 0
        while seen < tail:
            end -= 1
            seen += text[end].isdigit()
        return text[:start] + text[start:end].translate(_STARS) + text[end:]
    out: list[str] = []
    seen = 0
    for ch in text:
        if ch.isdigit():
            keep = seen < head or seen >= digits - tail
            out.append(ch if keep else "*")
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_value(field: Field, value: Any) -> Any:
    """The masked form of one value; empty values stay empty (there is nothing to hide)."""
    if value is None or value == "" or value == []:
        return value
    if not isinstance(value, str):
        return MASK
    text = value.strip()
    if text.isascii() and text.isdigit():  # the usual phone number or ID: only digits
        digits = len(text)
        if field.type == "phone" or digits >= 7:
            head, tail = _ends_kept(digits)
            return text[:head] + "*" * (digits - head - tail) + text[digits - tail:]
    digits = sum(map(str.isdigit, text))
    if field.type == "phone" or (_NUMBERISH.match(text) and digits >= 7):
        return _mask_digits(text, digits)
    email = _EMAIL.match(text)
    if field.type == "email" or email:
        if email is None:
            return MASK
        local, domain = email.groups()
        return f"{local[:1]}***@{domain}"
    return "•" * min(max(len(text), 4), 16)


def mask_fields(catalog: Catalog, actor: Actor, type_name: str, fields: Mapping[str, Any],
                requester: str | None = None) -> dict[str, Any]:
    """The field data as the actor may see it; pass the ticket's ``requester`` to exempt them."""
    hidden = masked_fields(catalog, actor, type_name, requester)
    if not hidden:
        return dict(fields)
    defs = catalog.types[type_name].fields
    return {k: mask_value(defs[k], v) if k in hidden else v for k, v in fields.items()}


def mask_ticket(catalog: Catalog, actor: Actor, ticket: TicketSnapshot) -> dict[str, Any]:
    """A ticket's field data as the actor may see it."""
    return mask_fields(catalog, actor, ticket.type, ticket.fields, ticket.requester)


def strip_masked(catalog: Catalog, actor: Actor, ticket: TicketSnapshot,
                 submitted: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Drop masked fields submitted back unchanged; refuse changes to fields the actor cannot see."""
    hidden = masked_fields(catalog, actor, ticket.type, ticket.requester)
    if not hidden:
        return dict(submitted), []
    defs = catalog.types[ticket.type].fields
    kept: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in submitted.items():
        if key not in hidden:
            kept[key] = value
            continue
        current = ticket.fields.get(key)
        if value == current or value == mask_value(defs[key], current):
            continue
        errors.append(FieldError(f"fields.{key}", "is masked for you and cannot be changed"))
    return kept, errors
