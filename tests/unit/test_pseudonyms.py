"""User pseudonyms in logs: keyed, so a dictionary of candidates reveals nothing."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from consumer.app import build_pseudonyms
from consumer.core.observer import Pseudonyms
from consumer.settings import Settings


def test_a_pseudonym_is_an_hmac_under_the_key() -> None:
    expected = hmac.new(b"k", b"alice@example.com", hashlib.sha256).hexdigest()[:16]
    assert Pseudonyms(b"k")("alice@example.com") == expected
    assert Pseudonyms(b"k")("alice@example.com") == Pseudonyms(b"k")("alice@example.com")


def test_without_the_key_a_dictionary_attack_finds_nothing() -> None:
    candidates = [f"user-{n}" for n in range(1000)]
    unkeyed = {hashlib.sha256(c.encode()).hexdigest()[:16] for c in candidates}
    logged = Pseudonyms(b"deployment-secret")("user-42")
    assert logged not in unkeyed
    assert logged != Pseudonyms(b"another-deployment")("user-42")


def test_an_empty_key_is_refused_and_the_key_never_shows() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Pseudonyms(b"")
    assert "secret" not in repr(Pseudonyms(b"secret"))


def test_the_key_comes_from_the_settings_and_never_shows() -> None:
    settings = Settings(queue_url="q", pseudonym_key="s3cret")
    assert build_pseudonyms(settings)("u") == Pseudonyms(b"s3cret")("u")
    assert "s3cret" not in settings.model_dump_json()
    assert "s3cret" not in repr(settings)


def test_without_a_key_each_process_draws_its_own() -> None:
    # The start-up warning is tested with the start line (tests/ops/test_start_log.py).
    first = build_pseudonyms(Settings(queue_url="q"))
    second = build_pseudonyms(Settings(queue_url="q"))
    assert first("u") == first("u")
    assert first("u") != second("u")
