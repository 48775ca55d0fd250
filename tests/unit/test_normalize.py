"""Normalization and hashing of user_data fields against Meta's vectors and tricky inputs (capi.md §3)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core import normalize
from consumer.core.normalize import (
    HASHED_FIELDS,
    Rejected,
    hash_field,
    hash_value,
    normalize_date_of_birth,
    normalize_email,
    normalize_phone,
    sha256_hex,
)


class TestOfficialVectors:
    @pytest.mark.parametrize(
        ("field", "raw", "country", "expected"),
        [
            ("em", "John_Smith@gmail.com", None, "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
            ("ph", "(650)555-1212", "US", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
            ("fn", "Mary", None, "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
            ("fn", "정", None, "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
            ("fn", "Valéry", None, "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
            ("db", "2/16/1997", None, "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c"),
            ("country", "United States", None, "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"),
        ],
        ids=["em", "ph-national-us", "fn-mary", "fn-hangul", "fn-accent", "db-us-slashes", "country-name"],
    )  # fmt: skip
    def test_vector(self, field: str, raw: str, country: str | None, expected: str) -> None:
        """Meta's published input hashes to Meta's published digest."""
        assert expected == hash_value(field, raw, country)

    @pytest.mark.parametrize(
        ("field", "raw", "country", "expected"),
        [
            ("st", "CA", "US", "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"),
            ("zp", "94035", "US", "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e"),
            ("ge", "f", None, "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"),
            ("ge", "m", None, "62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a"),
            ("ct", "New York", None, "350c754ba4d38897693aa077ef43072a859d23f613443133fecbbd90a3512ca5"),
            ("zp", "M1 1AE", "GB", "1dc694c2070e697769fb959b50671d76cafd430d8ca191fbdd0affcaea344ac5"),
            ("ct", "Paris", "FR", "1670f2e42fefa5044d59a65349e47c566009488fc57d7b4376dd5787b59e3c57"),
        ],
        ids=["st-ca", "zp-us", "ge-f", "ge-m", "ct-newyork", "zp-uk", "ct-paris"],
    )  # fmt: skip
    def test_documented_examples(
        self, field: str, raw: str, country: str | None, expected: str
    ) -> None:
        """The docs' normalized examples (hashes computed in capi.md §3) come out of our rules."""
        assert expected == hash_value(field, raw, country)


# (field, raw input, customer country, expected normalized value or None = dropped)
TRICKY: list[tuple[str, str, str | None, str | None]] = [
    ("em", "  John.Smith+Shop@Example.COM ", None, "john.smith+shop@example.com"),
    ("em", "john@localhost", None, None),
    ("em", "", None, None),
    ("em", "   ", None, None),
    ("ph", "+1 (650) 555-1212", None, "16505551212"),
    ("ph", "001 650 555 1212", None, "16505551212"),
    ("ph", "00 44 20 7946 0958", None, "442079460958"),
    ("ph", "020 7946 0958", "GB", "442079460958"),
    ("ph", "+44 (0)20 7946 0958", None, "442079460958"),
    ("ph", "06 12 34 56 78", "FR", "33612345678"),
    ("ph", "030 1234567", "DE", "49301234567"),
    ("ph", "650.555.1212", "US", "16505551212"),
    ("ph", "1-650-555-1212", "US", "16505551212"),
    ("ph", "+39 06 1234 5678", None, "390612345678"),
    ("ph", "12", "US", None),
    ("ph", "   ", "US", None),
    ("fn", "  MARY ", None, "mary"),
    ("fn", "O'Brien", None, "obrien"),
    ("ln", "Smith-Jones", None, "smithjones"),
    ("ln", "García Márquez", None, "garcía márquez"),
    ("fn", "Vale\u0301ry", None, "valéry"),  # decomposed accent: NFC first
    ("fn", "Zoë 🙂", None, "zoë"),
    ("fn", "!!!", None, None),
    ("db", "1997-02-16", None, "19970216"),
    ("db", "19970216", None, "19970216"),
    ("db", "16.02.1997", None, "19970216"),
    ("db", "1997/02/16", None, "19970216"),
    ("db", "02/30/1997", None, None),
    ("db", "1850-01-01", None, None),
    ("ge", "Female", None, "f"),
    ("ge", " MALE ", None, "m"),
    ("ge", "Frau", None, "f"),
    ("ge", "nonbinary", None, None),
    ("ct", "San Francisco", None, "sanfrancisco"),
    ("ct", "Saint-Étienne", "FR", "saintétienne"),
    ("ct", "123", None, None),
    ("st", "California", "US", "ca"),
    ("st", "new york", None, "ny"),
    ("st", "N.Y.", "US", "ny"),
    ("st", "Atlantis", "US", None),
    ("st", "Île-de-France", "FR", "îledefrance"),
    ("zp", "94103-1234", "US", "94103"),
    ("zp", "941031234", "US", "94103"),
    ("zp", "941", "US", None),
    ("zp", "SW1A 1AA", "GB", "sw1a1aa"),
    ("zp", "75018", "FR", "75018"),
    ("zp", "1987", "AT", "1987"),
    ("country", "us", None, "us"),
    ("country", "USA", None, "us"),
    ("country", "Germany", None, "de"),
    ("country", "Narnia", None, None),
    ("country", "U.S.A.", None, "us"),
    ("country", "UK", None, "gb"),
    ("country", "The Netherlands", None, "nl"),
    ("external_id", "  cust-1 ", None, "cust-1"),
    ("external_id", "CUST-1", None, "CUST-1"),
]


class TestTrickyInputs:
    @pytest.mark.parametrize(
        ("field", "raw", "country", "expected"), TRICKY, ids=[f"{t[0]}:{t[1]!r}" for t in TRICKY]
    )
    def test_normalized(
        self, field: str, raw: str, country: str | None, expected: str | None
    ) -> None:
        """Each tricky input normalizes to the documented form, or is dropped."""
        assert expected == HASHED_FIELDS[field](raw, country)

    @pytest.mark.parametrize(
        ("field", "raw", "country", "expected"), TRICKY, ids=[f"{t[0]}:{t[1]!r}" for t in TRICKY]
    )
    def test_hashed(self, field: str, raw: str, country: str | None, expected: str | None) -> None:
        """The hash is SHA-256 of the normalized form; a dropped value has a reason, never a hash."""
        result = hash_field(field, raw, country)

        if expected is None:
            assert isinstance(result, Rejected)
        else:
            assert sha256_hex(expected) == result


class TestLettersOnly:
    """capi.md §3 ct / st (outside the US): lowercase, no punctuation, special characters or
    spaces. Combining marks are part of a letter, not punctuation: a Devanagari or Tamil vowel sign
    stays, and a decomposed accent composes (NFC) like a precomposed one, so one place hashes one way.
    """

    @pytest.mark.parametrize(
        ("field", "raw", "country", "expected"),
        [
            ("ct", "नई दिल्ली", "IN", "नईदिल्ली"),
            ("ct", "தமிழ்நாடு", "IN", "தமிழ்நாடு"),
            ("ct", "Ha\u0300 No\u0302\u0323i", "VN", "hànội"),
            ("ct", "Sai\u0308nt-E\u0301tienne", "FR", "saïntétienne"),
            ("st", "I\u0302le-de-France", "FR", "îledefrance"),
            ("st", "महाराष्ट्र", "IN", "महाराष्ट्र"),
        ],
        ids=["ct-devanagari", "ct-tamil", "ct-vietnamese-nfd", "ct-nfd", "st-nfd", "st-devanagari"],
    )
    def test_marks_kept_and_composed(
        self, field: str, raw: str, country: str, expected: str
    ) -> None:
        """Letters keep their combining marks, composed to NFC; only punctuation and spaces go."""
        assert expected == HASHED_FIELDS[field](raw, country)


class TestEmail:
    @pytest.mark.parametrize("raw", ["  John_Smith@GMAIL.com ", "john_smith@gmail.com"])
    def test_trim_and_lowercase(self, raw: str) -> None:
        """Emails are trimmed and lowercased, nothing else."""
        assert "john_smith@gmail.com" == normalize_email(raw)

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [("john", "no_at_sign"), ("john@", "no_domain"), ("john@gmail", "no_domain")],
    )
    def test_reason(self, raw: str, reason: str) -> None:
        """A dropped email says why: no @ at all, or no domain with a dot."""
        assert Rejected(reason) == hash_field("em", raw)


class TestPhone:
    @pytest.mark.parametrize(
        ("raw", "reason"), [("12", "too_few_digits"), ("+1 000 000 0000 0000 00", "not_a_phone_number")]
    )  # fmt: skip
    def test_reason(self, raw: str, reason: str) -> None:
        """A dropped phone number says whether it had too few digits or was not a number."""
        assert Rejected(reason) == hash_field("ph", raw, "US")

    @pytest.mark.parametrize("raw", ["+\u00b21234567", "00\u00b2123456789", "+\u00b9650 555 1212"])
    def test_superscript_digits_rejected(self, raw: str) -> None:
        """capi.md §3 ph: the digits of the number. Superscript digits pass str.isdigit() but are no
        decimal digits (int() raises on them): the value is rejected, never a ValueError."""
        assert isinstance(hash_field("ph", raw, "US"), Rejected)

    def test_national_without_country_unparseable(self) -> None:
        """A national number without the customer's country cannot get its country code."""
        assert None is normalize_phone("(650)555-1212", None)


class TestHashing:
    def test_prehashed_passthrough(self) -> None:
        """A value that already is a SHA-256 hex digest is passed through (lowercased)."""
        digest = sha256_hex("john_smith@gmail.com")

        assert digest == hash_value("em", f" {digest.upper()} ")

    @pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
    def test_empty_is_rejected(self, raw: str) -> None:
        """Empty and whitespace-only strings are dropped as empty for every field."""
        assert {Rejected("empty")} == {hash_field(field, raw, "US") for field in HASHED_FIELDS}

    def test_avro_date(self) -> None:
        """An Avro ``date`` logical value (a datetime.date) becomes YYYYMMDD."""
        assert "19970216" == normalize_date_of_birth(dt.date(1997, 2, 16))


class TestNameFastPath:
    """A plain ASCII word skips the drop table, NFC and the whitespace fold, and letters with
    spaces skip the drop table: the same result as the full rules."""

    @given(st.text())
    def test_agrees_with_the_full_rules_on_any_text(self, text: str) -> None:
        assert normalize.normalize_name(text) == normalize._normalize_name_full(text)

    @given(st.text(st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Zs"])))
    def test_agrees_on_letters_and_spaces(self, text: str) -> None:
        """Names of letters and spaces in any script take the second fast path; combining marks
        and spaces other than U+0020 must leave it for the full rules."""
        assert normalize.normalize_name(text) == normalize._normalize_name_full(text)

    @given(st.text(st.characters(max_codepoint=127)))
    def test_agrees_on_ascii_text(self, text: str) -> None:
        """ASCII draws punctuation, digits, controls and whitespace far more often."""
        assert normalize.normalize_name(text) == normalize._normalize_name_full(text)

    @pytest.mark.parametrize(
        ("name", "expected"),
        [("John", "john"), ("SMITH", "smith"), ("O'Brien", "obrien"), ("Ana María", "ana maría")],
    )
    def test_plain_and_not_so_plain_names(self, name: str, expected: str) -> None:
        assert expected == normalize.normalize_name(name)
