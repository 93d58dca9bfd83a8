"""One diagnostic shape for every problem found in a definition set.

Codes are stable: scripts, CI annotations and ``docs/diagnostics.md`` rely on them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

__all__ = ["CODES", "Diagnostic", "Severity", "did_you_mean", "format_diagnostics", "has_errors"]

Severity = Literal["error", "warning"]


class Diagnostic(msgspec.Struct, frozen=True, kw_only=True):
    """A problem found at one place of one definition file."""

    code: str
    file: str
    line: int
    col: int
    message: str
    hint: str | None = None

    @property
    def severity(self) -> Severity:
        return "warning" if self.code.startswith("W") else "error"

    def render(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.code} {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return text


# code -> one-line title. Every code has a section with an example in docs/diagnostics.md
# and a golden fixture under tests/schema/fixtures/.
CODES: dict[str, str] = {
    # reading files
    "E001": "YAML syntax error",
    "E002": "empty file",
    "E003": "document is not a mapping",
    "E004": "file too large",
    "E005": "too many nodes after alias expansion",
    "E006": "file is not valid UTF-8",
    "E007": "duplicate key",
    "E008": "more than one YAML document in a file",
    # envelope and structure
    "E101": "unknown key",
    "E102": "wrong type",
    "E103": "missing key",
    "E104": "invalid value",
    "E105": "duplicate id",
    "E106": "duplicate definition name",
    "E107": "unknown apiVersion",
    "E108": "unknown kind",
    # ticket types and fields
    "E201": "ticket type follows an unknown flow",
    "E202": "condition names an unknown field",
    "E203": "reference to an unknown state",
    "E204": "condition uses an unknown option value",
    "E205": "operator does not fit the field type",
    "E206": "required field is hidden on the create form",
    "E207": "invalid default value",
    "E208": "invalid regular expression",
    "E209": "minimum is greater than maximum",
    "E210": "option list does not fit the field type",
    "E211": "layout names an unknown field",
    "E212": "ticket type uses an unknown SLA policy",
    "E213": "reference to an unknown field",
    "W214": "field is not placed in any layout section",
    # flows
    "E301": "initial state is not declared",
    "E302": "state is unreachable from the initial state",
    "E303": "state has no way out",
    "E304": "no closing state can be reached",
    "E305": "transition cannot be performed by anyone who may view the type",
    "E306": "reference to an unknown role",
    "E307": "reference to an unknown team",
    "E308": "reference to an unknown org unit or level",
    "E309": "approvers cannot be resolved",
    "E310": "approval state is not a waiting state",
    "W311": "routing rule is never used",
    "W312": "rule is shadowed by an earlier rule",
    "W313": "flow is not used by any ticket type",
    # roles
    "E401": "role names an unknown ticket type",
    "E402": "sensitive-field grant names an unknown field",
    "W403": "role grants nothing",
    # org tree and teams
    "E501": "more than one org tree",
    "E502": "org unit is at an unknown level",
    # SLA and calendars
    "E601": "SLA uses an unknown calendar",
    "E602": "invalid duration",
    "E603": "invalid time zone",
    "E604": "invalid working hours",
    "E605": "warning threshold out of range",
    "E606": "invalid date",
    # notifications and channels
    "E701": "notification names an unknown ticket type",
    "E702": "unknown event",
    "E703": "states do not fit the rule's events",
    "E704": "unknown recipient relation",
    "E705": "recipient is not exactly one person or group",
    "E706": "invalid e-mail address",
    "E707": "unknown channel",
    "E708": "personal channel without recipients",
    "E709": "built-in channel name declared",
    "E710": "two channels share one configuration name",
    "E711": "message template does not compile",
    "E712": "message template uses an unknown variable",
    "E713": "SLA variables in a rule for other events",
    "E714": "the actor is notified and excluded",
    "W715": "address recipient without the email channel",
    # reports
    "E801": "report names an unknown ticket type",
    "E802": "invalid report dimension",
    "E803": "unknown report measure",
    "E804": "measure needs an SLA target the ticket types do not have",
    "E805": "invalid report time range",
    "E806": "chart does not fit the report",
}


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


def _github(d: Diagnostic) -> str:
    level = "error" if d.severity == "error" else "warning"
    message = d.message + (f"; {d.hint}" if d.hint else "")
    # Workflow commands need %, CR and LF escaped in the message.
    message = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{level} file={d.file},line={d.line},col={d.col},title={d.code}::{message}"


def format_diagnostics(diagnostics: Sequence[Diagnostic], fmt: str = "text") -> str:
    """Render diagnostics as plain lines, JSON or GitHub Actions annotations."""
    if fmt == "json":
        items = [
            {
                "code": d.code,
                "severity": d.severity,
                "file": d.file,
                "line": d.line,
                "col": d.col,
                "message": d.message,
                "hint": d.hint,
            }
            for d in diagnostics
        ]
        return json.dumps(items, ensure_ascii=False, indent=2)
    if fmt == "github":
        return "\n".join(_github(d) for d in diagnostics)
    return "\n".join(d.render() for d in diagnostics)
