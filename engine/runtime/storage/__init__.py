"""Persistence: Piccolo tables and migrations, engine selection, and the repository API.

Select the database with :func:`configure` (``DATABASE_URL`` or embedded SQLite under
``$GONGDAN_DATA_DIR``), create or upgrade the schema with :func:`upgrade`, group writes with
:func:`transaction`.
"""

from __future__ import annotations

from .blobs import Blob, BlobStore, BlobTooLarge
from .database import (
    AnyEngine,
    DatabaseConfigError,
    configure,
    current_engine,
    data_dir,
    database_url,
    describe,
    is_postgres,
)
from .directory import RouteCandidate, find_users, load_actors, route_candidates, select_actors
from .inflight import Claims, claims
from .integrity import is_foreign_key_violation, is_unique_violation
from .migrate import MigrationInfo, applied_migrations, known_migrations, pending_migrations, upgrade
from .search import search_clause, search_text_for
from .startup import close_database, open_database
from .tables import tables
from .tickets import (
    DuplicateRequest,
    NewEvent,
    NewTicket,
    append_events,
    fetch_ticket,
    format_number,
    insert_ticket,
    open_ticket_counts,
    set_sla_due,
    snapshot_from_row,
    ticket_for_idempotency_key,
    ticket_select,
    update_ticket,
)
from .transaction import in_transaction, transaction
from .versions import definition_snapshot, known_definition_versions, record_definition_version

__all__ = [
    "AnyEngine",
    "Blob",
    "BlobStore",
    "BlobTooLarge",
    "Claims",
    "DatabaseConfigError",
    "DuplicateRequest",
    "MigrationInfo",
    "NewEvent",
    "NewTicket",
    "RouteCandidate",
    "append_events",
    "applied_migrations",
    "claims",
    "close_database",
    "configure",
    "current_engine",
    "data_dir",
    "database_url",
    "definition_snapshot",
    "describe",
    "fetch_ticket",
    "find_users",
    "format_number",
    "in_transaction",
    "insert_ticket",
    "is_foreign_key_violation",
    "is_postgres",
    "is_unique_violation",
    "known_definition_versions",
    "known_migrations",
    "load_actors",
    "open_database",
    "open_ticket_counts",
    "pending_migrations",
    "record_definition_version",
    "route_candidates",
    "search_clause",
    "search_text_for",
    "select_actors",
    "set_sla_due",
    "snapshot_from_row",
    "tables",
    "ticket_for_idempotency_key",
    "ticket_select",
    "transaction",
    "update_ticket",
    "upgrade",
]
