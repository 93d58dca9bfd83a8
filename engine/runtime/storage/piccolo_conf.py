"""Piccolo's configuration module, for Piccolo's own tooling and its migration runner.

``DB`` is whatever engine :func:`engine.runtime.storage.database.configure` bound last (from the
environment on first use), so ``PICCOLO_CONF=engine.runtime.storage.piccolo_conf piccolo
migrations new gongdan --auto`` and the runtime always agree on the database.
"""

from __future__ import annotations

from piccolo.conf.apps import AppRegistry

from .database import current_engine

__all__ = ["APP_REGISTRY"]  # and ``DB``, answered by __getattr__ below

APP_REGISTRY = AppRegistry(apps=["engine.runtime.storage.piccolo_app"])


def __getattr__(name: str) -> object:
    # Piccolo reads ``DB`` with getattr on every lookup; answering lazily follows re-binding.
    if name == "DB":
        return current_engine()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
