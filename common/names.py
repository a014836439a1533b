"""What a valid name is, for models, datasets and jobs, and how numbers are read from text.

One rule, ASCII only, checked with a full match: a name is 1-64 characters of ``A-Z a-z 0-9
. _ -`` that starts with a letter or digit. Python's ``\\d`` and ``str.isdigit`` accept any
Unicode digit (``١٧``) and ``$`` matches before a final newline, so neither is used for
anything that arrives from outside; numbers from text are ASCII digits only.
"""

from __future__ import annotations

import re
import unicodedata

NAME_RULE = "1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DIGITS = re.compile(r"[0-9]{1,18}")
# name or name@step, the way a model (and one of its checkpoints) is named in a request.
_MODEL_REF = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:@(?P<step>[0-9]{1,12}))?")


def is_valid_name(value: object) -> bool:
    """Whether ``value`` is a valid model, dataset or job name."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def parse_model_ref(value: str) -> tuple[str, int | None] | None:
    """``name`` -> (name, None), ``name@step`` -> (name, step); None for anything else."""
    match = _MODEL_REF.fullmatch(value)
    if match is None:
        return None
    step = match["step"]
    return match["name"], None if step is None else int(step)


def parse_ascii_int(value: str) -> int | None:
    """A non-negative integer written in ASCII digits only, else None."""
    return int(value) if _DIGITS.fullmatch(value) else None


def is_valid_class_name(value: str) -> bool:
    """Class names come from folder names: any printable Unicode, but no control characters,
    no path separators and not empty."""
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        return False
    return all(unicodedata.category(char)[0] != "C" for char in value)
