"""Input at the boundaries: the strict scalar types of events and secrets, and the one translator of
pydantic's ValidationError into InvalidInputError.

Strict, because a safety flag must never be guessed: `"dry_run": "no"` is not false, it is an error. Booleans
are JSON true/false only; counts are JSON integers only; amounts are JSON numbers or plain decimal strings
(OKX itself writes amounts as strings), never true/false, never "1e3" or " 2 ".

One wording for every source (settings, events, secrets): `<source>: field '<path>': <problem>`, where a
missing field "is missing", an unknown one "is not a known field (check its spelling)", and an invalid one
says what is expected. Messages are built from field paths and pydantic's message templates only, never
from the input. For secrets (`secret=True`) that is not enough: a key/value swap in the console puts the
secret where a field name belongs, so an unknown field's name is never repeated either. The message then
says how many unknown fields there are and which known fields are missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator, StrictBool, StrictInt, ValidationError

from okxcore.errors import InvalidInputError

__all__ = [
    "DecimalInput",
    "Flag",
    "IsoTimeText",
    "WholeNumber",
    "form",
    "input_error",
    "json_file",
    "problems_of",
]

Flag = StrictBool  # JSON true/false only
WholeNumber = StrictInt  # a JSON integer only: not "600", not 600.0, not true

_DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
DECIMAL_EXPECTED = 'must be a JSON number or a decimal string such as "100.5"'


def _decimal_input(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(DECIMAL_EXPECTED + ", not true/false")
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        return value
    raise ValueError(DECIMAL_EXPECTED)


DecimalInput = Annotated[Decimal, BeforeValidator(_decimal_input)]


def _iso_text(value: object) -> object:
    # pydantic would read a number as Unix time: one more spelling of an instant, and an easy slip.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time string, e.g. 2026-01-05T09:00:00Z")
    return value


IsoTimeText = BeforeValidator(_iso_text)  # put before a datetime type in Annotated[...]


def form(pattern: str, words: str) -> AfterValidator:
    """A text's required form, checked with `pattern` and explained in `words` ("must be ... e.g. BTC-USDT"):
    a person gets the words, never the regular expression."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(words)
        return value

    return AfterValidator(check)

UNKNOWN_FIELD = "is not a known field (check its spelling)"
WHOLE_EVENT = "(whole event)"
WHOLE_SECRET = "(whole secret)"  # noqa: S105 (a field label, not a password)

# Problems worded by error type; the rest use pydantic's message, a template filled from the schema
# (limits, patterns, expected values), never from the input. The union-tag messages do carry the input's
# tag, so they are worded here from the expected tags alone.
_WORDING = {
    "missing": "is missing",
    "extra_forbidden": UNKNOWN_FIELD,
    "timezone_aware": "must include a time zone, e.g. 2026-01-05T09:00:00Z",
    "bool_type": "must be true or false (a JSON boolean, not a string or number)",
    "int_type": "must be a whole JSON number (not a string)",
    "tuple_type": 'must be a JSON list, e.g. ["1.2.3.4", "5.6.7.8"], not a single string',
    "list_type": 'must be a JSON list, e.g. ["a", "b"], not a single string',
    "string_pattern_mismatch": "does not have the required form (see the hint)",
}


def _problem(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in _WORDING:
        return _WORDING[kind]
    if kind == "union_tag_invalid":
        return f"{_unquote(ctx.get('discriminator', 'kind'))} must be one of {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return f"needs a '{_unquote(ctx.get('discriminator', 'kind'))}'"
    return str(error.get("msg", "is invalid")).removeprefix("Value error, ")


def _unquote(text: object) -> str:
    return str(text).strip("'\"")


def _path(loc: tuple[int | str, ...], tags: Collection[str], whole: str) -> str:
    """pydantic's loc as people write it: legs[0].quote_amount (a discriminated union's tag is dropped)."""
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in tags and (index == 0 or isinstance(loc[index - 1], int)):
            continue  # a discriminated union's tag: the union itself, or a list item of one
        else:
            out += f".{part}" if out else str(part)
    return out or whole


def problems_of(
    exc: ValidationError,
    *,
    secret: bool = False,
    known_fields: Collection[str] = (),
    union_tags: Collection[str] = (),
    whole: str = WHOLE_EVENT,
) -> list[tuple[str, str]]:
    """Every (field, problem) of a ValidationError, worded once for all sources.

    With secret=True, unknown fields become one entry that counts them and lists the missing known fields,
    and a path is shown only as far as it consists of known field names and list indexes.
    """
    errors = exc.errors(include_input=False, include_url=False, include_context=True)
    if not secret:
        return [(_path(err["loc"], union_tags, whole), _problem(err)) for err in errors]
    unknown = [err for err in errors if err["type"] == "extra_forbidden"]
    rest = [err for err in errors if err["type"] != "extra_forbidden"]
    out: list[tuple[str, str]] = []
    if unknown:
        missing = [str(err["loc"][0]) for err in rest if err["type"] == "missing" and err["loc"]]
        problem = f"has {len(unknown)} unknown field(s), not named here (a secret pasted as a field name stays hidden)"
        problem += f"; missing: {', '.join(missing)}" if missing else ""
        out.append((whole, problem))
    for err in rest:
        loc = err["loc"]
        known = loc[:1] if loc and loc[0] in known_fields else ()
        known += tuple(part for part in loc[1:] if isinstance(part, int)) if known else ()
        out.append((_path(known, (), whole), _problem(err)))
    return out


ErrorT = TypeVar("ErrorT", bound=InvalidInputError)


def input_error(
    exc: ValidationError,
    *,
    source: str,
    hint: str,
    secret: bool = False,
    known_fields: Collection[str] = (),
    union_tags: Collection[str] = (),
    whole: str | None = None,
    error_class: type[ErrorT] = InvalidInputError,  # type: ignore[assignment]
) -> ErrorT:
    """The InvalidInputError for a ValidationError: the first problem named, the count of the others."""
    problems = problems_of(
        exc,
        secret=secret,
        known_fields=known_fields,
        union_tags=union_tags,
        whole=whole or (WHOLE_SECRET if secret else WHOLE_EVENT),
    )
    return error_class.from_problems(source, problems, hint=hint)


def json_file(path: Path, *, option: str, source: str = "okx-shield") -> Any:
    """A JSON file a person named (an event, a seed): its value, or an InvalidInputError naming the option and the
    file, with what is wrong in words (no such file; not JSON, at line and column), never a traceback."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(source, option, f"{path}: no such file", hint="Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise InvalidInputError(source, option, f"{path} cannot be read ({why})", hint="Check the file.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            source,
            option,
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint="Fix the JSON (a missing comma or quote, a trailing comma), or restore the file.",
        ) from None
