"""Meta's Graph API schedule: the table, the standing of a version on a given day, the warnings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from consumer import cli
from consumer.core.graph_errors import Kind, classify
from consumer.core.graph_versions import (
    CHECKED_ON,
    KNOWN_VERSIONS,
    RECOMMENDED_VERSION,
    Standing,
    check_version,
    version_key,
)
from consumer.core.limits import PixelLimit
from consumer.devstack.emulator_versions import END_DATES, VersionGate
from consumer.errors import ConfigError
from consumer.metrics import Metrics
from consumer.settings import PixelSettings
from consumer.stats import RunStats
from consumer.version_check import check_pixel_versions, log_version_notes, today_utc

DAY = dt.date(2026, 12, 1)
PIXEL = "1000000000000001"


def _at(day: dt.date) -> float:
    """Unix seconds at noon UTC of ``day``."""
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp()


class TestTable:
    def test_newest_first_and_well_formed(self) -> None:
        """The table runs newest to oldest, each version introduced before it ends."""
        keys = [version_key(v.name) for v in KNOWN_VERSIONS]

        assert sorted(keys, reverse=True) == keys
        assert all(
            v.available_until is None or v.introduced < v.available_until for v in KNOWN_VERSIONS
        )

    def test_recommended_version_lasts_eighteen_months(self) -> None:
        """The default version was supported for at least 18 more months when the table was checked."""
        check = check_version(RECOMMENDED_VERSION, CHECKED_ON)

        assert Standing.SUPPORTED is check.standing
        assert check.days_left is not None and check.days_left >= 18 * 30

    def test_default_pixel_version_is_the_recommended_one(self) -> None:
        """A pixel without api_version uses the recommended version."""
        assert RECOMMENDED_VERSION == PixelSettings(access_token="t").api_version  # type: ignore[arg-type]

    def test_emulator_copy_agrees(self) -> None:
        """The emulator's own copy of the schedule has the same end dates (two copies, one truth)."""
        ours = {v.name: v.available_until for v in KNOWN_VERSIONS}

        assert ours == END_DATES


class TestStanding:
    @pytest.mark.parametrize(
        ("version", "day", "standing", "days_left"),
        [
            ("v25.0", DAY, Standing.SUPPORTED, 606),
            ("v21.0", DAY, Standing.EXPIRING, 51),  # the example: 51 days on 2026-12-01
            ("v21.0", dt.date(2026, 10, 22), Standing.SUPPORTED, 91),
            ("v21.0", dt.date(2026, 10, 23), Standing.EXPIRING, 90),
            ("v21.0", dt.date(2027, 1, 20), Standing.EXPIRING, 1),
            ("v21.0", dt.date(2027, 1, 21), Standing.EXPIRED, 0),  # gone on its end date
            ("v20.0", DAY, Standing.EXPIRED, -68),
            ("v27.0", DAY, Standing.SUPPORTED, None),  # end "TBD"
        ],
    )
    def test_listed(
        self, version: str, day: dt.date, standing: Standing, days_left: int | None
    ) -> None:
        """Listed versions: supported, expiring within 90 days, or expired from their end date."""
        check = check_version(version, day)

        assert (standing, days_left) == (check.standing, check.days_left)

    def test_unlisted_newer_is_accepted(self) -> None:
        """A version newer than the table is accepted (with a note), not refused."""
        check = check_version("v28.0", DAY)

        assert (Standing.UNLISTED_NEWER, False) == (check.standing, check.refused)

    @pytest.mark.parametrize("version", ["v15.0", "v2.12", "v24.5"])
    def test_unlisted_older_is_refused(self, version: str) -> None:
        """A version missing from the table and older than its newest entry is treated as expired."""
        assert check_version(version, DAY).refused


class TestPixelVersions:
    def _pixels(self, **versions: str) -> dict[str, PixelSettings]:
        return {
            pixel: PixelSettings(access_token="t", api_version=version)  # type: ignore[arg-type]
            for pixel, version in versions.items()
        }

    def test_expiring_warns_with_the_fix(self) -> None:
        """A version ending within 90 days gives a warning naming pixel, date, days and the upgrade."""
        notes = check_pixel_versions(self._pixels(p1="v21.0", p2="v25.0"), DAY)

        assert [("warning", "p1")] == [(n.level, n.pixel_id) for n in notes]
        assert (
            "pixel p1: Graph API v21.0 ends on 2027-01-21 (51 days); set pixels.p1.api_version "
            'to v25.0 or newer before then (see docs/operations.md "Graph API versions")'
        ) == notes[0].text

    def test_unlisted_newer_is_an_info_note(self) -> None:
        """A version newer than the table is noted, not warned about."""
        notes = check_pixel_versions(self._pixels(p1="v30.0"), DAY)

        assert ["info"] == [n.level for n in notes]

    def test_expired_is_refused_in_one_line(self) -> None:
        """An expired version raises ConfigError naming the pixel, the version and the fix."""
        with pytest.raises(ConfigError) as caught:
            check_pixel_versions(self._pixels(p1="v25.0", p2="v20.0"), DAY)

        assert (
            "pixels.p2.api_version: Graph API v20.0 ended on 2026-09-24; Meta refuses it. Set it "
            'to v25.0 or newer (see docs/operations.md "Graph API versions")'
        ) == str(caught.value)

    def test_today_comes_from_the_clock(self) -> None:
        """The day is the UTC date of the injected wall clock."""
        assert dt.date(2027, 1, 21) == today_utc(lambda: _at(dt.date(2027, 1, 21)))


class TestCheckConfig:
    def _config(self, tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> str:
        monkeypatch.setenv(f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN", "t")
        path = tmp_path / "config.yaml"
        path.write_text(f'pixels: {{"{PIXEL}": {{api_version: {version}}}}}\n')
        return str(path)

    def test_warns_on_stderr_and_passes(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """check-config prints the settings, warns about an expiring version, exits 0."""
        config = self._config(tmp_path, "v22.0", monkeypatch)

        code = cli.main(["check-config", config], wall_clock=lambda: _at(dt.date(2027, 3, 1)))

        err = capsys.readouterr().err
        assert 0 == code
        assert err.startswith(f"capi-consumer: warning: pixel {PIXEL}: Graph API v22.0 ends on")

    def test_refuses_an_expired_version(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """check-config exits 2 with one line naming the pixel and version once it has ended."""
        config = self._config(tmp_path, "v22.0", monkeypatch)

        code = cli.main(["check-config", config], wall_clock=lambda: _at(dt.date(2027, 5, 20)))

        err = capsys.readouterr().err
        assert 2 == code
        assert 1 == len(err.strip().splitlines())
        assert f"pixels.{PIXEL}.api_version: Graph API v22.0 ended on 2027-05-20" in err


class TestRefusedVersion:
    def test_meta_answers_are_classified_as_version(self) -> None:
        """2635 ("deprecated version of the Ads API") and 12 ("deprecated for versions") hold, never bisect."""
        body = (
            b'{"error": {"message": "(#2635) You are calling a deprecated version of the Ads API.'
            b' Please update to the latest version: v27.0.", "type": "OAuthException",'
            b' "code": 2635, "fbtrace_id": "A"}}'
        )

        assert Kind.VERSION is classify(400, body).kind
        assert Kind.VERSION is classify(400, b'{"error": {"code": 12, "message": "m"}}').kind

    def test_hold_starts_once_and_ends(self) -> None:
        """The first refusal starts a hold; refusals during it do not restart it; it ends on time."""
        limit = PixelLimit(maximum=4)

        started = limit.on_version_refused(now=10.0, hold_s=5.0)
        again = limit.on_version_refused(now=12.0, hold_s=5.0)

        assert (True, False) == (started, again)
        assert (True, 3.0, False) == (
            limit.version_held(14.0),
            limit.version_hold_s(14.0),
            limit.version_held(17.0),
        )


class TestEmulatorGate:
    @pytest.mark.parametrize(
        ("version", "day", "refused"),
        [
            ("v21.0", dt.date(2027, 1, 20), False),
            ("v21.0", dt.date(2027, 1, 21), True),
            ("v26.0", DAY, False),
            ("v99.0", DAY, False),
            ("v14.0", DAY, True),
        ],
    )
    def test_schedule(self, version: str, day: dt.date, refused: bool) -> None:
        """The emulator refuses a version from its end date with Meta's code 2635."""
        error = VersionGate().check(version, _at(day))

        assert refused == (error is not None)
        assert error is None or 2635 == error.code

    def test_overrides_win(self) -> None:
        """Forced lists override the schedule both ways."""
        gate = VersionGate()
        gate.set_overrides(refused=["v25.0"], accepted=["v20.0"])

        assert (True, False) == (
            gate.check("v25.0", _at(DAY)) is not None,
            gate.check("v20.0", _at(DAY)) is not None,
        )


class TestVersionMetrics:
    def test_held_and_days_left_per_pixel(self) -> None:
        """Each pixel exports whether it is held and, for dated versions, the days left (clock injected)."""
        metrics = Metrics(RunStats())
        metrics.watch_versions(
            {"p1": "v21.0", "p2": "v27.0"}, lambda: {"p1": "refused"}, lambda: DAY
        )

        found = {
            (s.name, s.labels["pixel_id"]): s.value
            for family in text_string_to_metric_families(metrics.exposition()[0].decode())
            for s in family.samples
            if s.name.startswith(("capi_pixel_version_held", "capi_graph_version_days_left"))
        }

        assert {
            ("capi_pixel_version_held", "p1"): 1.0,
            ("capi_pixel_version_held", "p2"): 0.0,
            ("capi_graph_version_days_left", "p1"): 51.0,
        } == found


class TestRunLog:
    def test_run_logs_one_warning_per_expiring_pixel(self) -> None:
        """``run`` logs graph_version.expiring (pixel, version, end, days, target) and an info note."""
        pixels = {
            "p1": PixelSettings(access_token="t", api_version="v21.0"),  # type: ignore[arg-type]
            "p2": PixelSettings(access_token="t", api_version="v31.0"),  # type: ignore[arg-type]
        }

        with structlog.testing.capture_logs() as logs:
            log_version_notes(check_pixel_versions(pixels, DAY))

        assert [
            {
                "event": "graph_version.expiring",
                "log_level": "warning",
                "pixel_id": "p1",
                "api_version": "v21.0",
                "available_until": "2027-01-21",
                "days_left": 51,
                "upgrade_to": "v25.0",
            },
            {
                "event": "graph_version.unlisted",
                "log_level": "info",
                "pixel_id": "p2",
                "api_version": "v31.0",
            },
        ] == logs
