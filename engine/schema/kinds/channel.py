"""Channel: a chat group or webhook that notifications post to; e-mail and in-app are built in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from msgspec import Meta

from ..diagnostics import did_you_mean
from ..model import Base, Label
from .base import Context, KindInfo, Loaded, document_type

__all__ = [
    "BUILTIN_CHANNELS",
    "CHANNEL_FORMATS",
    "CHANNEL_KIND",
    "PERSONAL_CHANNELS",
    "ChannelSpec",
    "channel_env_name",
    "check_channel_names",
]

BUILTIN_CHANNELS: tuple[str, ...] = ("email", "in_app")
"""Channels that always exist and reach people one by one; no definition may take their names."""
PERSONAL_CHANNELS = frozenset(BUILTIN_CHANNELS)
CHANNEL_FORMATS: tuple[str, ...] = ("generic", "wecom", "dingtalk", "feishu", "slack")


class ChannelSpec(Base, frozen=True, kw_only=True):
    """A chat group or webhook that notifications post to, once per firing, whatever the rule's 'to' says.

    The address and secret are not written here, so that definitions can be public: they come from
    the server's configuration, the environment variables GONGDAN_CHANNEL_<NAME>_URL and
    GONGDAN_CHANNEL_<NAME>_SECRET (NAME is the channel's name upper-cased, '-' written as '_'),
    or the [channels.<name>] table (keys url and secret) of the configuration file.
    """

    label: Label | None = None
    format: Annotated[
        Literal["generic", "wecom", "dingtalk", "feishu", "slack"],
        Meta(
            description=(
                "How the message is posted: generic (JSON with subject, body, ticket and url), wecom (WeCom group "
                "robot), dingtalk (DingTalk group robot, signed when a secret is configured), feishu (Feishu/Lark "
                "bot), slack (Slack incoming webhook)."
            )
        ),
    ] = "generic"


def channel_env_name(name: str) -> str:
    """The stem of a channel's environment variables: ``ops-chat`` → ``GONGDAN_CHANNEL_OPS_CHAT``."""
    return "GONGDAN_CHANNEL_" + name.upper().replace("-", "_")


def check_channel_names(
    ctx: Context,
    d: Loaded,
    at: tuple[str | int, ...],
    names: Iterable[str],
    declared: Mapping[str, Any],
    what: str,
) -> None:
    """Report channels in ``names`` that are neither built in nor declared, and ones listed twice."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            ctx.report(d.diag("E105", (*at, i), f"{what} lists channel '{name}' twice"))
        seen.add(name)
        if name not in PERSONAL_CHANNELS and name not in declared:
            known = [*BUILTIN_CHANNELS, *declared]
            ctx.report(
                d.diag(
                    "E707",
                    (*at, i),
                    f"{what} uses unknown channel '{name}'",
                    did_you_mean(name, known) or f"channels are: {', '.join(known)}",
                )
            )


def check(ctx: Context) -> None:
    stems: dict[str, Loaded] = {}
    for d in ctx.of("Channel"):
        if d.name in PERSONAL_CHANNELS:
            ctx.report(
                d.diag(
                    "E709",
                    ("metadata", "name"),
                    f"'{d.name}' is a built-in channel and cannot be declared",
                    "give the channel another name; email and in_app always exist",
                )
            )
            continue
        stem = channel_env_name(d.name)
        other = stems.get(stem)
        if other is not None:
            ctx.report(
                d.diag(
                    "E710",
                    ("metadata", "name"),
                    f"channels '{other.name}' and '{d.name}' would both be configured by {stem}_URL",
                    "rename one: '-' and '_' count as the same character in configuration names",
                )
            )
        stems.setdefault(stem, d)


CHANNEL_KIND = KindInfo(
    name="Channel",
    folder="channels",
    spec=ChannelSpec,
    document=document_type("Channel", ChannelSpec, "A chat or webhook channel notifications post to."),
    check=check,
)
