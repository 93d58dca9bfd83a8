"""Recognise constraint violations the same way on both engines."""

from __future__ import annotations

import sqlite3

import asyncpg

__all__ = ["is_foreign_key_violation", "is_unique_violation"]


def is_unique_violation(exc: BaseException) -> bool:
    """A unique index or constraint refused the write (SQLite or PostgreSQL)."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


def is_foreign_key_violation(exc: BaseException) -> bool:
    """A foreign key refused the write: the referenced row is missing (or still referenced)."""
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "FOREIGN KEY constraint failed" in str(exc)
