"""Runtime: tickets that obey their definitions — decisions, storage and services."""
