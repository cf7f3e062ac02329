"""Limits of the contract: what every later stage can hold, checked before an event is
accepted (pure).

An accepted event must fit everywhere it goes: the canonical serialiser (nesting depth),
ClickHouse's columns (``Int32`` quantities, ``Decimal(18, 4)`` money: at most 14 integer
digits and 4 decimals, nothing silently rounded), Kafka's message limit (the live state's
snapshots carry ids and categories: bounded lengths). The checks apply to every event,
typed or custom, for the property fields the ClickHouse rows read.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from models.errors import Code, Issue
from models.money import InvalidMoney, cacheable, parse_money
from models.orders import line_total

MAX_DEPTH = 32                 # nesting of objects and arrays, in every field
MAX_FIELDS = 2_000             # keys and array items in one event, all levels together
MAX_ID_CHARS = 1_024           # ids and the short texts the live state and columns keep
MAX_URL_CHARS = 8_192          # page url, path, referrer, title
MONEY_EXPONENT_LIMIT = 14  # Decimal(18, 4): |amount| < 10^14, i.e. Decimal.adjusted() < 14
MONEY_LIMIT = Decimal(10) ** MONEY_EXPONENT_LIMIT
MONEY_DECIMALS = 4
# canonical events carry money as JSON numbers with their exact digits; readers that parse
# JSON numbers as binary floats (orjson, most JSON libraries) keep 15 significant digits
MONEY_DIGITS = 15
INT32_MAX = 2**31 - 1

ID_FIELDS = ("userId", "anonymousId", "messageId", "tenant", "event", "previousId", "groupId")
PROPERTY_IDS = ("product_id", "cart_id", "order_id", "checkout_id", "category", "brand",
                "coupon", "coupon_id", "coupon_name", "currency", "name", "sku", "list_id")
MONEY_FIELDS = ("price", "revenue", "value", "discount", "total", "subtotal", "tax",
                "shipping", "line_total")
PAGE_FIELDS = ("url", "path", "referrer", "title", "search")
ID_KEYS, MONEY_KEYS, PAGE_KEYS = frozenset(PROPERTY_IDS), frozenset(MONEY_FIELDS), frozenset(PAGE_FIELDS)


def shape_issues(data: dict[str, Any]) -> list[Issue]:
    """Depth and size of every field of ``data`` (checked on the original of a flat event,
    whose id is derived from all of it)."""
    issues: list[Issue] = []
    for key, value in data.items():
        issues.extend(_shape_issues(value, str(key)))
    return issues


def small_enough(raw: bytes) -> bool:
    """Whether the bytes of an event alone rule out the depth and size limits (cheap: most
    events are small with a few brackets), so the walk over every field can be skipped."""
    return len(raw) <= MAX_FIELDS and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH


def short_enough(raw: bytes) -> bool:
    """Whether the bytes of an event alone rule out every text limit: a decoded text (or an
    integer's digits) is never longer than the bytes it came from, and the shortest limit is
    ``MAX_ID_CHARS`` (most events are a few hundred bytes)."""
    return len(raw) <= MAX_ID_CHARS


def limit_issues(data: dict[str, Any], shape_checked: bool = False,
                 texts_checked: bool = False) -> list[Issue]:
    """Every limit ``data`` (a decoded event, before the contract's models) breaks.
    ``shape_checked``: depth and size are known to be within bounds (:func:`small_enough`);
    ``texts_checked``: so are the lengths of texts (:func:`short_enough`)."""
    # every field: extra top-level keys are kept and serialised too
    issues = [] if shape_checked else shape_issues(data)
    if issues:  # too deep or too big: the fields below are not looked at
        return issues
    if not texts_checked:
        issues.extend(_text_limit_issues(data))
    props = data.get("properties")
    if isinstance(props, dict):
        issues.extend(_column_issues(props, "properties", texts_checked))
        if not texts_checked:
            issues.extend(_texts_issues(props, "properties", MAX_URL_CHARS))
        products = props.get("products")
        if isinstance(products, list):
            for index, line in enumerate(products):
                if isinstance(line, dict):
                    issues.extend(_column_issues(line, f"properties.products.{index}", texts_checked))
            if not issues:
                issues.extend(_lines_issues(products, "properties.products"))
    return issues


def _text_limit_issues(data: dict[str, Any]) -> list[Issue]:
    """The top-level ids and the page context's texts of ``data`` over their length limits
    (the properties' are checked with their columns)."""
    issues: list[Issue] = []
    for key in ID_FIELDS:  # (the common case, a short text, costs one test)
        value = data.get(key)
        if value is not None and (type(value) is not str or len(value) > MAX_ID_CHARS):
            issues.extend(_id_issue(value, key))
    context = data.get("context")
    if isinstance(context, dict):
        page = context.get("page")
        if isinstance(page, dict):
            issues.extend(_texts_issues(page, "context.page", MAX_URL_CHARS))
        issues.extend(_text_issue(context.get("sessionId"), "context.sessionId", MAX_ID_CHARS))
    return issues


def _shape_issues(value: Any, path: str) -> list[Issue]:
    fields = 0
    for depth, _ in _walk(value, 1):
        fields += 1
        if depth > MAX_DEPTH:
            return [Issue(Code.TOO_DEEP, path, f"nested more than {MAX_DEPTH} levels deep")]
        if fields > MAX_FIELDS:
            return [Issue(Code.TOO_MANY_FIELDS, path, f"more than {MAX_FIELDS} fields")]
    return []


def _walk(value: Any, depth: int) -> Iterator[tuple[int, Any]]:
    """(depth, child) for every key or item below ``value``, stopping below MAX_DEPTH + 1."""
    if depth > MAX_DEPTH + 1:
        return
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield depth, child
        if isinstance(child, dict | list):
            yield from _walk(child, depth + 1)


def _id_issue(value: Any, path: str) -> list[Issue]:
    """A top-level id over the limit, as its text (the common case, a short text, is ruled
    out by the caller)."""
    if len(str(value or "")) > MAX_ID_CHARS:
        return _text_issue(value, path, MAX_ID_CHARS)
    return []


def _text_issue(value: Any, path: str, limit: int) -> list[Issue]:
    if isinstance(value, str) and len(value) > limit:
        return [Issue(Code.TOO_LONG, path, f"{len(value)} characters, the limit is {limit}")]
    return []


def _texts_issues(obj: dict[str, Any], path: str, limit: int) -> list[Issue]:
    """The page fields of ``obj`` (url, path, ...) that are texts over ``limit``."""
    if PAGE_KEYS.isdisjoint(obj):  # most events: nothing to look at
        return []
    return [issue for key in PAGE_FIELDS if key in obj
            for issue in _text_issue(obj[key], f"{path}.{key}", limit)]


def _column_issues(obj: dict[str, Any], path: str, texts_checked: bool = False) -> list[Issue]:
    issues: list[Issue] = []
    for key, value in obj.items():  # one pass over the fields (most are neither kind)
        if key in ID_KEYS:
            if texts_checked:
                continue
            if isinstance(value, str) and len(value) > MAX_ID_CHARS or (
                    isinstance(value, int) and not isinstance(value, bool)
                    and len(str(value)) > MAX_ID_CHARS):
                issues.extend(_text_issue(str(value), f"{path}.{key}", MAX_ID_CHARS))
        elif key in MONEY_KEYS:
            if value is not None:
                issues.extend(_money_issue(value, f"{path}.{key}"))
        elif key == "quantity" and value is not None:
            issues.extend(_quantity_issue(value, f"{path}.quantity"))
    return issues


def _money_issue(value: Any, path: str) -> list[Issue]:
    problem = _money_problem_cached(value) if cacheable(value) else _money_problem(value)
    return [] if problem is None else [Issue(problem[0], path, problem[1])]


@lru_cache(maxsize=8192, typed=True)  # typed: 1 and 1.0 (and True) are cached apart
def _money_problem_cached(value: float | int | str) -> tuple[str, str] | None:
    return _money_problem(value)


def _money_problem(value: Any) -> tuple[str, str] | None:
    """(code, message) of an amount that breaks a limit, else None."""
    try:
        amount = parse_money(value)
    except InvalidMoney as exc:
        return Code.TYPE_INVALID, str(exc)
    # (no arithmetic before this: an exponent like 1e1000000 overflows any operation)
    if amount and amount.adjusted() >= MONEY_EXPONENT_LIMIT:
        return (Code.VALUE_OUT_OF_RANGE,
                f"{str(amount)[:40]} is out of range: amounts are below 10^14 in size")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MONEY_DECIMALS and amount != amount.quantize(
            Decimal(1).scaleb(-MONEY_DECIMALS)):
        return Code.PRECISION_EXCEEDED, f"{amount} has more than {MONEY_DECIMALS} decimal places"
    if len(amount.normalize().as_tuple().digits) > MONEY_DIGITS:
        return Code.PRECISION_EXCEEDED, f"{amount} has more than {MONEY_DIGITS} significant digits"
    return None


def _lines_issues(products: list[Any], path: str) -> list[Issue]:
    """What the rows derive from valid lines fits too: each line total (quantity x price -
    discount), their sum (an order's revenue without a total) and the sum of quantities."""
    lines = [line for line in products if isinstance(line, dict)]
    quantity = sum(int(line.get("quantity") or 1) for line in lines)
    if abs(quantity) > INT32_MAX:
        return [Issue(Code.VALUE_OUT_OF_RANGE, path, f"the lines' quantities add up to {quantity} "
                      f"(at most {INT32_MAX})")]
    totals = [line_total(line) for line in lines]
    for index, total in enumerate(totals):
        if abs(total) >= MONEY_LIMIT:
            return [Issue(Code.VALUE_OUT_OF_RANGE, f"{path}.{index}",
                          f"the line total {total} is out of range: amounts are below 10^14 in size")]
    if abs(sum(totals, Decimal(0))) >= MONEY_LIMIT:
        return [Issue(Code.VALUE_OUT_OF_RANGE, path,
                      "the line totals add up to 10^14 or more: amounts are below 10^14 in size")]
    return []


def _quantity_issue(value: Any, path: str) -> list[Issue]:
    if isinstance(value, bool):
        return [Issue(Code.TYPE_INVALID, path, "quantity must be an integer")]
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if not digits.isdecimal():  # (what int() reads: not "²", not "--1")
            return [Issue(Code.TYPE_INVALID, path, "quantity must be an integer")]
        if len(digits.lstrip("0")) > len(str(INT32_MAX)):  # before int(): no 5000-digit parse
            return [Issue(Code.VALUE_OUT_OF_RANGE, path, f"quantity {text[:20]}... is out of "
                          f"range (at most {INT32_MAX})")]
        value = int(text)
    if isinstance(value, float):
        if not value.is_integer():
            return [Issue(Code.TYPE_INVALID, path, "quantity must be an integer")]
        value = int(value)
    if not isinstance(value, int):
        return [Issue(Code.TYPE_INVALID, path, "quantity must be an integer")]
    if abs(value) > INT32_MAX:
        return [Issue(Code.VALUE_OUT_OF_RANGE, path, f"quantity {value} is out of range "
                      f"(at most {INT32_MAX})")]
    return []
