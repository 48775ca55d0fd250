"""Normalization and hashing of user_data fields against Meta's official vectors (capi.md §3)."""

from __future__ import annotations

import pytest

from consumer.normalize import hash_value, normalize_email, normalize_phone, sha256_hex


class TestOfficialVectors:
    @pytest.mark.parametrize(
        ("field", "raw", "country", "expected"),
        [
            (
                "em",
                "John_Smith@gmail.com",
                None,
                "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
            ),
            (
                "ph",
                "(650)555-1212",
                "US",
                "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
            ),
        ],
        ids=["em", "ph-national-us"],
    )
    def test_vector(self, field: str, raw: str, country: str | None, expected: str) -> None:
        """Meta's published input hashes to Meta's published digest."""
        assert expected == hash_value(field, raw, country)


class TestEmail:
    @pytest.mark.parametrize("raw", ["  John_Smith@GMAIL.com ", "john_smith@gmail.com"])
    def test_trim_and_lowercase(self, raw: str) -> None:
        """Emails are trimmed and lowercased, nothing else."""
        assert "john_smith@gmail.com" == normalize_email(raw)

    @pytest.mark.parametrize("raw", ["john", "john@", "@gmail.com", "john@gmail", "", "   "])
    def test_invalid_dropped(self, raw: str) -> None:
        """A value that is not local@domain.tld cannot be normalized."""
        assert None is normalize_email(raw)


class TestPhone:
    @pytest.mark.parametrize(
        ("raw", "country", "expected"),
        [
            ("+1 (650) 555-1212", None, "16505551212"),
            ("001 650 555 1212", None, "16505551212"),
            ("020 7946 0958", "GB", "442079460958"),
            ("+44 020 7946 0958", None, "442079460958"),
            ("06 12 34 56 78", "FR", "33612345678"),
        ],
        ids=["plus", "00-prefix", "uk-national", "uk-trunk-zero", "fr-national"],
    )
    def test_e164_digits(self, raw: str, country: str | None, expected: str) -> None:
        """Numbers become E.164 digits with the country code and without trunk zeros."""
        assert expected == normalize_phone(raw, country)

    @pytest.mark.parametrize("raw", ["12", "abc", "", "+1"])
    def test_unusable_dropped(self, raw: str) -> None:
        """Too few digits or no digits at all cannot be a phone number."""
        assert None is normalize_phone(raw, "US")


class TestHashing:
    def test_prehashed_passthrough(self) -> None:
        """A value that already is a SHA-256 hex digest is passed through (lowercased)."""
        digest = sha256_hex("john_smith@gmail.com")

        assert digest == hash_value("em", digest.upper())

    def test_unusable_is_none(self) -> None:
        """hash_value says None (drop) rather than hashing a value it could not normalize."""
        assert None is hash_value("em", "not-an-email")
