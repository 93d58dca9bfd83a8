"""Work queues of one person: approvals waiting for them, and bounded counts for the home page.

Counts on the home page stop at a cap (``99+`` is shown above it): counting every closed ticket
of a busy store manager would read hundreds of thousands of index entries for a number nobody
needs exactly, while reading up to ``cap + 1`` ids stays cheap on any table size.
"""

from __future__ import annotations

from engine.runtime.model import TicketSnapshot
from engine.runtime.permissions import ScopeRules

from .queries import TicketFilter, filter_where, scope_where
from .tables import Approval, Ticket
from .tickets import snapshot_from_row, ticket_select

__all__ = ["awaiting_approval", "count_awaiting_approval", "count_upto"]


async def count_upto(rules: ScopeRules, filt: TicketFilter, cap: int = 99) -> int:
    """How many tickets match, counted up to ``cap + 1`` (a result above ``cap`` means "more")."""
    scope = scope_where(rules)
    clauses = ([] if scope is None else [scope]) + filter_where(filt)
    query = Ticket.select(Ticket.id)
    if clauses:
        query = query.where(*clauses)
    rows = await query.limit(cap + 1).run()
    return len(rows)


def _pending(user_id: int):  # type: ignore[no-untyped-def]
    return Approval.select(Approval.ticket_id).where(
        (Approval.approver_id == user_id) & (Approval.decision == "pending")
    )


async def awaiting_approval(user_id: int, username: str, limit: int = 50) -> list[TicketSnapshot]:
    """Tickets with an approval level waiting for this person, oldest request first.

    The person is among each ticket's approvers, which lets them see it (see ``permissions``).
    """
    rows = await (
        ticket_select().where(Ticket.id.is_in(_pending(user_id))).order_by(Ticket.id).limit(limit).run()
    )
    return [snapshot_from_row(row, frozenset({username})) for row in rows]


async def count_awaiting_approval(user_id: int, cap: int = 99) -> int:
    rows = await Approval.select(Approval.id).where(
        (Approval.approver_id == user_id) & (Approval.decision == "pending")
    ).limit(cap + 1).run()
    return len(rows)
