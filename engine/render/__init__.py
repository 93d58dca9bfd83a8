"""Server-side rendering helpers for the pages: pure functions from compiled definitions to markup."""

from __future__ import annotations

from .diagram import flow_svg

__all__ = ["flow_svg"]
