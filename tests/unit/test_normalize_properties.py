"""Property tests: normalization is idempotent, total on unicode, and hashes are always 64-hex."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from consumer.core.normalize import HASHED_FIELDS, Rejected, hash_field
from consumer.core.phone import _fast, normalize_phone_slow

FIELDS = sorted(HASHED_FIELDS)
COUNTRIES = st.sampled_from([None, "US", "GB", "FR", "DE", "IT", "BR", "IN", "JP", "CA", "MX"])
HEX64 = re.compile(r"[0-9a-f]{64}")


@settings(max_examples=600)
@given(st.sampled_from(FIELDS), st.text(), COUNTRIES)
@example("fn", "Vale\u0301ry", None)
@example("ph", "+44 020 7946 0958", None)
def test_never_raises_and_only_hashes(field: str, raw: str, country: str | None) -> None:
    """Any unicode string either hashes to 64 lowercase hex characters or is rejected with a reason."""
    result = hash_field(field, raw, country)

    assert isinstance(result, Rejected) or HEX64.fullmatch(result) is not None


@settings(max_examples=600)
@given(st.sampled_from(FIELDS), st.text(), COUNTRIES)
@example("st", "California", "US")
@example("zp", "94103-1234", "US")
@example("fn", "C:\u0327", None)  # the colon dropped, c + cedilla must still compose
def test_idempotent(field: str, raw: str, country: str | None) -> None:
    """Normalizing a normalized value changes nothing."""
    normalize = HASHED_FIELDS[field]
    once = normalize(raw, country)

    assert once is None or once == normalize(once, country)


@settings(max_examples=300)
@given(st.sampled_from(FIELDS), st.text(min_size=1), COUNTRIES)
def test_prehashed_idempotent(field: str, raw: str, country: str | None) -> None:
    """Hashing an already hashed value returns it unchanged (it passes through)."""
    result = hash_field(field, raw, country)

    assert isinstance(result, Rejected) or result == hash_field(field, result, country)


@settings(max_examples=3000)
@given(
    st.sampled_from(
        ["", "+", "00", "0", "1", "+1 ", "+44 ", "+49", "+33 0", "+39 0", "+7", "0180020", "011"]
    ),
    st.text("0123456789 -().", max_size=18),
    COUNTRIES,
)
@example("", "(650)555-1212", "US")
@example("", "06 12 34 56 78", "FR")
def test_phone_fast_path_agrees_with_phonenumbers(
    prefix: str, body: str, country: str | None
) -> None:
    """Whenever the metadata fast path answers, phonenumbers' full parser gives the same digits."""
    raw = prefix + body
    fast = _fast(raw.strip(), country)

    assert fast is None or len(fast) < 7 or normalize_phone_slow(raw, country) == fast


def test_phone_fast_path_is_taken() -> None:
    """Common formats really take the fast path (so the agreement test above is not vacuous)."""
    assert ["16505551212", "442079460958", "442079460958", "33612345678"] == [
        _fast("(650)555-1212", "US"),
        _fast("020 7946 0958", "GB"),
        _fast("+44 020 7946 0958", None),
        _fast("06 12 34 56 78", "FR"),
    ]
