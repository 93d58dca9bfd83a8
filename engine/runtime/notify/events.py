"""Which notification events a timeline event is, and whether any rule listens to it.

The timeline speaks of what happened to the ticket (``transition``, ``approval_decided``, …);
Notification definitions speak of what people want to hear about (``entered``, ``approved``, …).
This is the one translation between them, used when an event is written (does it need an outbox
row?) and when the worker expands it (which rules apply?).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.schema import Catalog

__all__ = ["SLA_EVENTS", "listened", "notification_events"]

SLA_EVENTS = {"sla_warning": "sla_warning", "sla_breached": "sla_breached"}


def notification_events(kind: str, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The notification events a timeline event of ``kind`` with ``data`` stands for."""
    if kind == "created":
        return ("created",)
    if kind == "assigned":
        return ("assigned",)
    if kind == "transition":
        return ("transitioned", "entered")
    if kind == "comment":
        return () if data.get("internal") else ("commented",)
    if kind == "approval_started":
        return ("approval_requested",)
    if kind == "approval_decided":
        return ("approved",) if data.get("decision") == "approved" else ("rejected",)
    if kind in SLA_EVENTS:
        return (SLA_EVENTS[kind],)
    return ()


def listened(catalog: Catalog, type_name: str, kind: str, data: Mapping[str, Any], to_state: str | None) -> bool:
    """Whether some notification rule of the catalog listens to this event of a ticket of ``type_name``."""
    return any(catalog.rules_for(e, type_name, to_state) for e in notification_events(kind, data))
