"""Parse conditional-independence queries such as ``Q _||_ M | X, Y``.

Grammar (whitespace is free)::

    query  := side OP side [ "|" nodes ]
    side   := ID | ID "," ID ... | "{" ID "," ... "}"
    OP     := "_||_" | "_|_" | "⟂" | "⊥"            (independence, "separated")
            | "!_||_" | "!_|_" | "!⟂" | "!⊥" | "⟂̸"   (dependence, "connected")

The conditioning set may be empty (``Q _||_ M`` or ``Q _||_ M |``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from causaliqa.errors import CausaliqaError
from causaliqa.serialize import Serializable

_NEGATED_OPS = ("!_||_", "!_|_", "!⟂", "!⊥", "⟂̸", "⊥̸")
_OPS = ("_||_", "_|_", "⟂", "⊥")
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^-?[0-9A-Za-z_.]+$")  # dagitty's bareword: ADCY9.8, 1 (resolved through a graph's aliases)
_PART = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^,"]*)\s*(?:,|$)')


@dataclass(frozen=True)
class Query(Serializable):
    """``left _||_ right | given``; ``expect_separated`` is False for a ``!_||_`` query."""

    json_properties = ('text',)
    @property
    def text(self) -> str:
        return str(self)

    left: frozenset[str]
    right: frozenset[str]
    given: frozenset[str] = field(default_factory=frozenset)
    expect_separated: bool = True

    @property
    def nodes(self) -> frozenset[str]:
        return self.left | self.right | self.given

    def __str__(self) -> str:
        op = "_||_" if self.expect_separated else "!_||_"
        text = f"{_format_side(self.left)} {op} {_format_side(self.right)}"
        if self.given:
            text += " | " + ", ".join(_format_name(n) for n in sorted(self.given))
        return text


def _format_name(name: str) -> str:
    return name if _NAME.match(name) else '"' + name.replace('"', '\\"') + '"'


def _format_side(nodes: frozenset[str]) -> str:
    names = [_format_name(n) for n in sorted(nodes)]
    return names[0] if len(names) == 1 else "{" + ", ".join(names) + "}"


def _find_operator(text: str) -> tuple[int, str, bool]:
    for ops, separated in ((_NEGATED_OPS, False), (_OPS, True)):
        for op in ops:
            at = text.find(op)
            if at >= 0:
                return at, op, separated
    return -1, "", True


def _parse_nodes(text: str, where: str, part: str, allow_empty: bool) -> frozenset[str]:
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    names = _split_names(body, where, part) if body.strip() else []
    if not names and not allow_empty:
        raise CausaliqaError(where, part, "at least one node id", repr(text.strip()))
    if len(set(names)) != len(names):
        raise CausaliqaError(where, part, "each node once", repr(text.strip()))
    return frozenset(names)


def _split_names(body: str, where: str, part: str) -> list[str]:
    """Comma-separated names: plain ids (Q, Yhat), dagitty barewords (ADCY9.8) or "quoted names"."""
    names, at = [], 0
    while at < len(body):
        match = _PART.match(body, at)
        token = match.group(1) if match else ""
        if not token or match.end() == at:
            raise CausaliqaError(where, part, 'node ids such as Q or Yhat (or "quoted names") separated by commas', repr(body.strip()))
        at = match.end()
        if token.startswith('"'):
            name = token[1:-1].replace('\\"', '"')
            if not name:
                raise CausaliqaError(where, part, "a non-empty quoted name", repr(token))
        elif _ID.match(token) or _NAME.match(token):
            name = token
        else:
            raise CausaliqaError(where, part, 'node ids such as Q or Yhat (or "quoted names") separated by commas', repr(token))
        names.append(name)
    return names


def parse_query(text: str, where: str = "query") -> Query:
    """Parse ``text`` into a :class:`Query`; raise :class:`CausaliqaError` on bad syntax."""
    if not isinstance(text, str) or not text.strip():
        raise CausaliqaError(where, None, "a query such as 'Q _||_ M | X'", repr(text))
    at, op, separated = _find_operator(text)
    if at < 0:
        raise CausaliqaError(where, None, "an independence operator _||_, ⟂ or ⊥ (negated: !_||_)", repr(text))
    left_text, rest = text[:at], text[at + len(op) :]
    right_text, _, given_text = rest.partition("|")
    if "|" in given_text:
        raise CausaliqaError(where, None, "a single '|' before the conditioning set", repr(text))
    left = _parse_nodes(left_text, where, "left side", allow_empty=False)
    right = _parse_nodes(right_text, where, "right side", allow_empty=False)
    given = _parse_nodes(given_text, where, "conditioning set", allow_empty=True)
    overlap = (left & right) | ((left | right) & given)
    if overlap:
        raise CausaliqaError(where, None, "disjoint sides and conditioning set", f"{sorted(overlap)} in two places of {text!r}")
    return Query(left, right, given, separated)
