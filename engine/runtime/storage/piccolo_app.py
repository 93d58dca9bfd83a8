"""The Piccolo app: the tables and the folder of checked-in migrations."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig

from .tables import tables

__all__ = ["APP_CONFIG", "APP_NAME", "MIGRATIONS"]

APP_NAME = "gongdan"
MIGRATIONS = Path(__file__).parent / "piccolo_migrations"

APP_CONFIG = AppConfig(
    app_name=APP_NAME,
    migrations_folder_path=str(MIGRATIONS),
    table_classes=list(tables()),
    migration_dependencies=[],
    commands=[],
)
