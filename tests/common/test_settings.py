"""Settings are read once from an explicit mapping; the machine's environment never leaks in."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.settings import load_settings


def test_values_come_only_from_the_given_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAN_MAX_COUNT", "5")
    assert load_settings({}).max_count == 64
    assert load_settings().max_count == 5


def test_parsing_and_secrets() -> None:
    settings = load_settings(
        {"GAN_CORS_ORIGINS": "http://a, http://b", "GAN_API_KEY": "s3cret", "GAN_REDIS_URL": ""}
    )
    assert settings.cors_origins == ["http://a", "http://b"]
    assert settings.redis_url is None
    assert "s3cret" not in repr(settings)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret"


def test_bad_values_are_rejected_with_the_field_name() -> None:
    with pytest.raises(ValidationError, match="max_count"):
        load_settings({"GAN_MAX_COUNT": "lots"})


@pytest.mark.parametrize("key", ["cl\u00e9-secr\u00e8te", "with space", "tab\tkey", "\u5bc6\u94a5"])
def test_an_api_key_no_http_header_can_carry_is_refused_at_start_up(key: str) -> None:
    with pytest.raises(ValidationError, match="GAN_API_KEY must be printable ASCII"):
        load_settings({"GAN_API_KEY": key})
    assert load_settings({"GAN_API_KEY": "s3cr3t-Key_~!"}).api_key is not None
