"""What the environment got wrong about the settings (:mod:`models.settings`), said by the
variable that sets each value: a refused value, and a ``SHOPSTREAM_*`` variable that no
setting reads (a misspelt or shortened name, otherwise ignored without a word)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from pydantic import ValidationError

from models.settings import Settings


def settings_problems(error: ValidationError) -> str:
    """What the environment got wrong in a refused :class:`Settings`, by the variable that
    sets each value (for a one-line error rather than a traceback)."""
    problems = []
    for item in error.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else ""
        prefix = Settings.model_config.get("env_prefix", "")
        variable = _variable_set(name) if name.isupper() else f"{prefix}{name.upper()}"
        problems.append(f"{variable}={item.get('input')!r}: {item['msg']}")
    return "; ".join(problems)


# read outside the settings: the local broker's jar cache and Kafka version (deploy/local)
OTHER_VARIABLES = frozenset({"SHOPSTREAM_CACHE_DIR", "SHOPSTREAM_KAFKA_VERSION"})


def setting_variables() -> frozenset[str]:
    """Every environment variable shopstream reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set(OTHER_VARIABLES)
    for name, field in Settings.model_fields.items():
        names.add(f"{prefix}{name.upper()}")
        names.update(c for c in getattr(field.validation_alias, "choices", None) or []
                     if isinstance(c, str))
    return frozenset(names)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``SHOPSTREAM_*`` variables of ``environ`` that no setting reads (a misspelt name is
    otherwise ignored without a word), each with the closest known name when one is near."""
    known = sorted(setting_variables())
    out = []
    for name in sorted(environ):
        if name.startswith("SHOPSTREAM_") and name not in known:
            # a name shortened from the front (SHOPSTREAM_TOP_N: ..._TRENDING_TOP_N), else
            # one spelt a little differently
            rest = name.removeprefix("SHOPSTREAM_")
            near = [k for k in known if k.endswith(f"_{rest}")] or \
                difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            hint = f" (did you mean {' or '.join(near[:2])}?)" if near else ""
            out.append(f"{name} is not a setting{hint}; it is ignored")
    return out


def _variable_set(alias: str) -> str:
    """Of the names a setting may be given by (``CART_ABANDON_AFTER`` or
    ``SHOPSTREAM_CART_ABANDON_AFTER_S``), the one the environment sets (pydantic names the
    first in its errors, whichever was used)."""
    for field in Settings.model_fields.values():
        choices = getattr(field.validation_alias, "choices", None) or []
        names = [c for c in choices if isinstance(c, str)]
        if alias in names:
            return next((n for n in names if n in os.environ), alias)
    return alias

