"""Meta's Dataset Quality API: parsing its answer, and the emulator's independent answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consumer.core.dataset_quality import (
    MAX_EVENTS_PER_PIXEL,
    EventQuality,
    QualityAnswerError,
    parse_answer,
)
from consumer.devstack.emulator_quality import IDENTIFIERS, quality_answer
from consumer.emq_poller import MetaEmqBook, quality_tokens
from consumer.errors import ConfigError
from consumer.settings import DatasetQualitySettings, PixelSettings, load_settings, masked


class TestParseAnswer:
    def test_scores_per_event_name(self) -> None:
        """Each web entry with a composite score becomes one EventQuality; others are skipped."""
        body = {
            "web": [
                {
                    "event_name": "Purchase",
                    "event_match_quality": {
                        "composite_score": 7.8,
                        "match_key_feedback": [
                            {"identifier": "email", "coverage": {"percentage": 92.5}}
                        ],
                    },
                },
                {"event_name": "Lead", "event_match_quality": {"composite_score": 6}},
                {"event_name": "PageView"},  # no score (yet)
                {"event_match_quality": {"composite_score": 1.0}},  # no name
            ]
        }

        assert [EventQuality("Purchase", 7.8), EventQuality("Lead", 6.0)] == parse_answer(body)

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"error": {"code": 190, "message": "Error validating access token"}}, 190),
            ({"data": []}, None),
            ([], None),
        ],
    )
    def test_errors_and_foreign_shapes_raise(self, body: Any, code: int | None) -> None:
        """A Graph error or an answer without a 'web' list is an error, with Graph's code if any."""
        with pytest.raises(QualityAnswerError) as caught:
            parse_answer(body)

        assert code == caught.value.code

    def test_label_values_are_capped(self) -> None:
        """At most MAX_EVENTS_PER_PIXEL event names per pixel reach the metrics."""
        web = [
            {"event_name": f"e{n}", "event_match_quality": {"composite_score": 5.0}}
            for n in range(MAX_EVENTS_PER_PIXEL + 5)
        ]

        assert MAX_EVENTS_PER_PIXEL == len(parse_answer({"web": web}))


class TestBook:
    def test_a_fresh_answer_replaces_the_pixels_scores(self) -> None:
        """Event names gone from Meta's answer disappear; other pixels keep theirs."""
        book = MetaEmqBook()
        book.record("p1", {"Purchase": 5.0, "Lead": 4.0}, at=1.0)
        book.record("p2", {"Purchase": 9.0}, at=1.0)

        book.record("p1", {"Purchase": 6.0}, at=2.0)

        assert {("p1", "Purchase"): 6.0, ("p2", "Purchase"): 9.0} == book.scores
        assert {"p1": 2.0, "p2": 1.0} == book.last_success


class TestTokens:
    def test_pixel_token_wins_then_the_shared_one(self) -> None:
        """A pixel's own quality token wins; the shared one covers the rest; never the CAPI token."""
        pixels = {
            "p1": PixelSettings(access_token="capi", dataset_quality_token="own"),  # type: ignore[arg-type]
            "p2": PixelSettings(access_token="capi"),  # type: ignore[arg-type]
        }

        assert {"p1": "own"} == quality_tokens(pixels, DatasetQualitySettings())
        shared = DatasetQualitySettings(access_token="shared")  # type: ignore[arg-type]
        assert {"p1": "own", "p2": "shared"} == quality_tokens(pixels, shared)
        off = DatasetQualitySettings(enabled=False, access_token="shared")  # type: ignore[arg-type]
        assert {} == quality_tokens(pixels, off)


class TestEmulatorAnswer:
    def test_web_events_only_scored_by_coverage(self) -> None:
        """The emulator scores website events per name from identifier coverage (weights sum to 10)."""
        both = {"em": "h", "ph": "h"}
        events = [
            {"event_name": "Purchase", "action_source": "website", "user_data": both},
            {"event_name": "Purchase", "action_source": "website", "user_data": both},
            {"event_name": "Purchase", "action_source": "website", "user_data": {"em": "h"}},
            {"event_name": "Lead", "action_source": "system_generated", "user_data": {"em": "h"}},
        ]

        answer = quality_answer(events)

        assert ["Purchase"] == [entry["event_name"] for entry in answer["web"]]  # type: ignore[index]
        quality = answer["web"][0]["event_match_quality"]  # type: ignore[index]
        assert 3.5 == quality["composite_score"]  # em 2.5 x 100% + ph 1.5 x 2/3
        assert [
            {"identifier": "email", "coverage": {"percentage": 100.0}},
            {"identifier": "phone", "coverage": {"percentage": 66.7}},
        ] == quality["match_key_feedback"]
        assert [EventQuality("Purchase", 3.5)] == parse_answer(answer)

    def test_weights_add_up_to_ten(self) -> None:
        """An event carrying every identifier scores exactly Meta's maximum, 10."""
        assert 10.0 == round(sum(weight for _name, weight in IDENTIFIERS.values()), 6)


class TestSettings:
    PIXEL = "1000000000000001"

    def test_quality_tokens_are_refused_in_the_file(self, tmp_path: Path) -> None:
        """Like access tokens, Dataset Quality tokens never come from the YAML file."""
        path = tmp_path / "c.yaml"
        path.write_text(f'pixels: {{"{self.PIXEL}": {{dataset_quality_token: x}}}}\n')

        with pytest.raises(ConfigError, match="dataset_quality_token: secrets are not allowed"):
            load_settings(path)

    def test_tokens_are_read_from_mounted_files(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The global and the per-pixel quality tokens come from *_file paths; check-config masks them."""
        monkeypatch.setenv(f"CAPI_PIXELS__{self.PIXEL}__ACCESS_TOKEN", "capi")
        (tmp_path / "shared").write_text("shared-token\n")
        (tmp_path / "own").write_text("own-token\n")
        path = tmp_path / "c.yaml"
        path.write_text(
            f"dataset_quality: {{access_token_file: {tmp_path / 'shared'}, interval_s: 600}}\n"
            f'pixels: {{"{self.PIXEL}": {{dataset_quality_token_file: {tmp_path / "own"}}}}}\n'
        )

        settings = load_settings(path)

        pixel = settings.pixels[self.PIXEL]
        assert "capi" == pixel.access_token.get_secret_value()  # type: ignore[union-attr]
        assert "own-token" == pixel.dataset_quality_token.get_secret_value()  # type: ignore[union-attr]
        assert "shared-token" == settings.dataset_quality.access_token.get_secret_value()  # type: ignore[union-attr]
        shown = masked(settings)
        assert ("***", "***") == (
            shown["dataset_quality"]["access_token"],
            shown["pixels"][self.PIXEL]["dataset_quality_token"],
        )

    def test_a_quality_token_is_no_capi_token(self, tmp_path: Path) -> None:
        """A pixel with only a Dataset Quality token still lacks its CAPI access token."""
        (tmp_path / "own").write_text("own-token\n")
        path = tmp_path / "c.yaml"
        path.write_text(
            f'pixels: {{"{self.PIXEL}": {{dataset_quality_token_file: {tmp_path / "own"}}}}}\n'
        )

        with pytest.raises(ConfigError, match="no access token"):
            load_settings(path)
