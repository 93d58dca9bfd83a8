"""Sensitive fields are masked for those without a grant; requesters see their own data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.runtime.masking import MASK, mask_fields, mask_ticket, mask_value, masked_fields, may_see, strip_masked
from engine.runtime.model import Actor, TicketSnapshot
from engine.schema import Catalog

Make = Callable[..., TicketSnapshot]

DATA = {
    "description": "Freezer broken",
    "customer_name": "张三丰",
    "contact_phone": "13812345678",
    "contact_email": "zhang@example.com",
    "id_number": "110101199003071234",
    "visits": 3,
}


def test_agent_without_grant_sees_masks(world: Catalog, people: dict[str, Actor]) -> None:
    assert mask_fields(world, people["agent_a"], "store_request", DATA) == {
        "description": "Freezer broken",
        "customer_name": "••••",
        "contact_phone": "138****5678",
        "contact_email": "z***@example.com",
        "id_number": "110***********1234",
        "visits": MASK,
    }


def test_grants_by_type_field_and_by_field(world: Catalog, people: dict[str, Actor]) -> None:
    shown = mask_fields(world, people["sup"], "store_request", DATA)
    assert shown["contact_phone"] == "13812345678"  # store_request.contact_phone
    assert shown["customer_name"] == "张三丰"  # customer_name on any type
    assert shown["contact_email"] == "z***@example.com"
    assert masked_fields(world, people["sup"], "store_request") == {"contact_email", "id_number", "visits"}


def test_wildcard_grant_sees_everything(world: Catalog, people: dict[str, Actor]) -> None:
    assert mask_fields(world, people["priv"], "store_request", DATA) == DATA


def test_admin_role_is_no_exemption(world: Catalog, people: dict[str, Actor]) -> None:
    assert not may_see(world, people["audit"], "store_request", "contact_phone")


def test_requester_sees_own_data(world: Catalog, people: dict[str, Actor], ticket: Make) -> None:
    t = ticket("store_request", fields=DATA, requester="xu")
    assert mask_ticket(world, people["xu"], t) == DATA
    assert mask_ticket(world, people["ma"], t)["contact_phone"] == "138****5678"


def test_empty_values_stay_empty(world: Catalog, people: dict[str, Actor]) -> None:
    data = {"contact_phone": None, "contact_email": "", "description": "x"}
    assert mask_fields(world, people["agent_a"], "store_request", data) == data


@pytest.mark.parametrize(
    ("field", "value", "masked"),
    [
        ("contact_phone", "13812345678", "138****5678"),
        ("contact_phone", "+86 138-1234-5678", "+86 1**-****-5678"),
        ("contact_phone", "021-62345678", "021-****5678"),
        ("contact_phone", "6234567", "***4567"),
        ("contact_phone", "12345", "*****"),
        ("contact_email", "zhang@example.com", "z***@example.com"),
        ("contact_email", "@example.com", "***@example.com"),
        ("contact_email", "not-an-address", MASK),
        ("customer_name", "Li", "••••"),
        ("customer_name", "A rather long customer name here", "•" * 16),
        ("customer_name", "li@example.com", "l***@example.com"),  # looks like an address: masked as one
        ("id_number", "6222021234567890123", "622************0123"),
        ("customer_name", "13812345678", "138****5678"),  # only digits: a number whatever the field
        ("customer_name", "123456", "••••••"),  # too short to be a number worth keeping the ends of
        ("contact_phone", " 13812345678 ", "138****5678"),
        ("contact_phone", "１３８１２３４５６７８", "１３８****５６７８"),  # full-width digits
        ("visits", 12, MASK),
        ("visits", True, MASK),
    ],
)
def test_mask_value(world: Catalog, field: str, value: Any, masked: Any) -> None:
    assert mask_value(world.types["store_request"].fields[field], value) == masked


def test_strip_masked_allows_round_trip_and_refuses_changes(world: Catalog, people: dict[str, Actor],
                                                            ticket: Make) -> None:
    t = ticket("store_request", fields=DATA)
    submitted = {"contact_phone": "138****5678", "contact_email": "zhang@example.com",
                 "id_number": "999999999999999999", "description": "Still broken"}
    kept, errors = strip_masked(world, people["agent_a"], t, submitted)
    assert kept == {"description": "Still broken"}
    assert errors == [("fields.id_number", "is masked for you and cannot be changed")]
    kept, errors = strip_masked(world, people["priv"], t, submitted)
    assert (kept, errors) == (submitted, [])
