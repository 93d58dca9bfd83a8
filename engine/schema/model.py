"""Building blocks shared by every kind of definition.

Docstrings and ``Meta(description=...)`` become descriptions in the exported JSON Schema,
which admins see as completion help in their editor.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "PRIORITIES",
    "RELATIONS",
    "Base",
    "Condition",
    "Id",
    "Label",
    "LocalizedText",
    "Metadata",
    "Name",
    "Party",
    "Priority",
    "Relation",
    "label_text",
]


class Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Every definition struct is frozen and rejects keys it does not know."""


Id = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=64,
        description="Stable identifier: lower-case ASCII letters, digits and '_', starting with a letter.",
    ),
]
Name = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_-]*$",
        max_length=64,
        description="Stable name of a definition: lower-case ASCII letters, digits, '_' and '-'.",
    ),
]


class LocalizedText(Base, frozen=True, kw_only=True):
    """Text in several languages; the page shows the reader's language and falls back to the other."""

    en: str | None = None
    zh: str | None = None


Label = Annotated[
    str | LocalizedText,
    Meta(description="A plain string, or a mapping of languages: {en: Repair, zh: 报修}."),
]

Condition = Annotated[
    dict[str, Any],
    Meta(
        description=(
            "A condition as data: {field: value}, {field: [values]} (one of), {field: {op: value}} with op one of "
            "eq, ne, in, not_in, gt, ge, lt, le, empty, contains; combine with all: [...], any: [...], not: {...}. "
            "Besides the type's own fields, 'type', 'state' and 'priority' may be tested."
        )
    ),
]

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")

Relation = Literal["requester", "assignee", "team_member", "org_manager"]
RELATIONS: tuple[str, ...] = ("requester", "assignee", "team_member", "org_manager")


class Metadata(Base, frozen=True, kw_only=True):
    """Identity of a definition: its name is how other definitions refer to it."""

    name: Name
    version: Annotated[int, Meta(ge=1, description="Bumped by the author on every change.")] = 1
    description: str | None = None


class Party(Base, frozen=True, kw_only=True):
    """Selects people: by role, team, fixed user or relation to the ticket, optionally narrowed by the org tree."""

    role: Annotated[Id | None, Meta(description="Users who hold this role.")] = None
    team: Annotated[Id | None, Meta(description="Members of this team.")] = None
    user: Annotated[str | None, Meta(description="One fixed user, by username.")] = None
    relation: Annotated[
        Relation | None,
        Meta(description="Someone related to the ticket: requester, assignee, team_member, org_manager."),
    ] = None
    org: Annotated[
        str | None,
        Meta(
            description=(
                "Narrow role holders by the org tree: 'ticket' (the ticket's own org unit), 'nearest' (the ticket's "
                "unit or the closest parent that has such a user), or an org level id such as 'region' (the "
                "ticket's ancestor at that level)."
            )
        ),
    ] = None


def label_text(label: str | LocalizedText | None, lang: str = "en", default: str = "") -> str:
    """The label in ``lang``, falling back to the other language, then to ``default``."""
    if label is None:
        return default
    if isinstance(label, str):
        return label
    first = label.zh if lang.startswith("zh") else label.en
    return first or label.en or label.zh or default
