"""The one name rule (common.names)."""

from __future__ import annotations

import pytest

from common.names import is_valid_class_name, is_valid_name, parse_ascii_int, parse_model_ref

# Each passes a `$`-anchored or `\d` check, or str.isdigit: the holes this rule closes.
HOSTILE_NAMES = ["x\n", "x\r\n", "x\t", "\u0661\u0667", "caf\u00e9", "x\x00", "x ", "-x", "a" * 65, ""]


@pytest.mark.parametrize("name", ["a", "mnist-dcgan", "A.b_c-9", "0" * 64])
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused(name: str) -> None:
    assert not is_valid_name(name)


def test_model_refs_and_numbers_take_ascii_digits_only() -> None:
    assert parse_model_ref("m") == ("m", None)
    assert parse_model_ref("m@17000") == ("m", 17000)
    for bad in ("m@\u0661\u0667\u0660\u0660\u0660", "m@17000\n", "m@", "@1", "m@1@2", "m@-1", "m\n"):
        assert parse_model_ref(bad) is None, bad
    assert parse_ascii_int("123") == 123
    for bad in ("\u0661\u0662", "12\n", "", "-1", "1.0", "\uff11"):
        assert parse_ascii_int(bad) is None, bad


def test_class_names_are_printable_unicode_without_separators() -> None:
    assert is_valid_class_name("chats") and is_valid_class_name("\u732b") and is_valid_class_name("a b")
    for bad in ("a\nb", "a/b", "a\\b", "..", "", "\u200eleft-to-right mark"):
        assert not is_valid_class_name(bad), repr(bad)
