"""Token rotation without a restart: pixel credentials follow their mounted files, and the sender
re-reads a refused token's file before the pixel's auth cool-down (against the real emulator)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from consumer.delivery import Deliverer
from consumer.devstack.emulator import EmulatorClient
from consumer.pixel_credentials import PixelCredentials
from consumer.sender import CapiSender
from consumer.settings import DeliverySettings, MetaSettings, PixelSettings
from consumer.stats import RunStats
from tests.component.test_delivery import _batch
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN
from tests.fixtures.secret_volume import project_secret

OLD = str(EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"])
NEW = "rotated-token-plain"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="volume")
def fixture_volume(tmp_path: Path) -> Path:
    """A Secret volume holding the old token under the key ``token``."""
    project_secret(tmp_path / "secret", {"token": OLD})
    return tmp_path / "secret"


def _from_file(volume: Path) -> PixelSettings:
    return PixelSettings.model_validate({"access_token_file": volume / "token"})


class TestPixelCredentials:
    async def test_secret_volume_update_is_picked_up_after_the_interval(self, volume: Path) -> None:
        """A kubelet-style swap of ..data is seen at the next check, not before; logs name no token."""
        clock = FakeClock()
        credentials = PixelCredentials("p1", _from_file(volume), clock=clock, check_interval_s=5)
        await credentials.refresh_if_due()
        project_secret(volume, {"token": NEW})

        with capture_logs() as logs:
            clock.now += 4
            await credentials.refresh_if_due()
            early = credentials.access_token
            clock.now += 1
            await credentials.refresh_if_due()

        assert (OLD, NEW) == (early, credentials.access_token)
        assert [("pixel.credentials_reloaded", "file_changed")] == [
            (line["event"], line["trigger"]) for line in logs
        ]
        assert NEW not in str(logs)

    async def test_rewrite_in_place_is_picked_up(self, tmp_path: Path) -> None:
        """A plain file rewritten in place (same inode, new mtime) is re-read too."""
        path = tmp_path / "token"
        path.write_text(OLD + "\n")
        clock = FakeClock()
        credentials = PixelCredentials(
            "p1", PixelSettings.model_validate({"access_token_file": path}), clock=clock
        )
        await credentials.refresh_if_due()
        path.write_text(NEW + "\n")
        clock.now += 5

        await credentials.refresh_if_due()

        assert NEW == credentials.access_token

    @pytest.mark.parametrize("state", ["missing", "empty"])
    async def test_missing_or_empty_file_keeps_the_token(self, tmp_path: Path, state: str) -> None:
        """Mid-swap or a careless writer: the token we have stays in use."""
        path = tmp_path / "token"
        path.write_text(OLD)
        credentials = PixelCredentials(
            "p1", PixelSettings.model_validate({"access_token_file": path})
        )
        if state == "missing":
            path.unlink()
        else:
            path.write_text("")

        changed = await credentials.reload_after_auth_failure(OLD)

        assert (False, OLD) == (changed, credentials.access_token)

    async def test_auth_failure_forces_a_read_within_the_interval(self, volume: Path) -> None:
        """After a refusal the file is read at once, whatever the check interval says."""
        credentials = PixelCredentials("p1", _from_file(volume), check_interval_s=3600)
        await credentials.refresh_if_due()
        project_secret(volume, {"token": NEW})

        with capture_logs() as logs:
            changed = await credentials.reload_after_auth_failure(OLD)
            again = await credentials.reload_after_auth_failure(NEW)

        assert (True, False, NEW) == (changed, again, credentials.access_token)
        assert ["auth_failure"] == [line["trigger"] for line in logs]

    async def test_environment_token_is_fixed(self) -> None:
        """A token from the environment has no file to re-read: a refusal is final."""
        credentials = PixelCredentials("p1", PixelSettings(access_token=SecretStr(OLD)))

        changed = await credentials.reload_after_auth_failure(OLD)

        assert (False, OLD) == (changed, credentials.access_token)

    def test_token_and_token_file_together_are_refused(self, volume: Path) -> None:
        """One source per secret: an environment token next to access_token_file is an error."""
        with pytest.raises(ValueError, match=r"access_token is set .* and so is access_token_file"):
            PixelSettings(access_token=SecretStr(OLD), access_token_file=volume / "token")


def _sender(base_url: str, volume: Path) -> CapiSender:
    meta = MetaSettings(base_url=base_url, request_timeout_s=2, secret_file_check_s=3600)
    return CapiSender(meta, {PIXEL_PLAIN: _from_file(volume)})


class TestSenderRotation:
    async def test_refused_token_is_reread_and_the_batch_retried(
        self, emulator_client: EmulatorClient, volume: Path
    ) -> None:
        """Meta now accepts only the rotated token: 190, file re-read, same batch sent, no DLQ,
        and the pixel never enters its auth cool-down."""
        sender = _sender(emulator_client.base_url, volume)
        deliverer = Deliverer(sender, DeliverySettings(), RunStats())
        try:
            first = await deliverer.deliver(_batch(PIXEL_PLAIN, 3))
            project_secret(volume, {"token": NEW})
            emulator_client.set_pixel(PIXEL_PLAIN, NEW)
            second = await deliverer.deliver(_batch(PIXEL_PLAIN, 3))
        finally:
            await sender.close()
        statuses = [(r["status"], r["error_code"]) for r in emulator_client.requests()]

        assert ([0, 1, 2], [0, 1, 2], [], []) == (
            first.sent,
            second.sent,
            first.failed,
            second.failed,
        )
        assert [(200, None), (400, 190), (200, None)] == statuses
        assert False is deliverer.pixel_limit(PIXEL_PLAIN).in_auth_cooldown(0.0)

    async def test_refusal_without_rotation_is_one_request_and_dead_letters(
        self, emulator_client: EmulatorClient, volume: Path
    ) -> None:
        """The file still holds the refused token: no second request, the batch fails as auth."""
        emulator_client.set_pixel(PIXEL_PLAIN, NEW)
        sender = _sender(emulator_client.base_url, volume)
        deliverer = Deliverer(sender, DeliverySettings(), RunStats())
        try:
            report = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
        finally:
            await sender.close()

        assert ({"auth"}, 1) == ({f.reason for _, f in report.failed}, report.requests)
        assert 1 == len(emulator_client.requests())

    async def test_rotation_during_the_cooldown_ends_it(
        self, emulator_client: EmulatorClient, volume: Path
    ) -> None:
        """Refused, so the pixel cools down and its next batch fails without a request; once the
        file holds a new token, the following batch is sent with it at once, cool-down or not."""
        emulator_client.set_pixel(PIXEL_PLAIN, NEW)
        meta = MetaSettings(
            base_url=emulator_client.base_url, request_timeout_s=2, secret_file_check_s=0.001
        )
        sender = CapiSender(meta, {PIXEL_PLAIN: _from_file(volume)})
        deliverer = Deliverer(sender, DeliverySettings(auth_cooldown_s=600), RunStats())
        try:
            refused = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
            held = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
            project_secret(volume, {"token": NEW})
            await asyncio.sleep(0.01)  # past secret_file_check_s: the next send looks at the file
            with capture_logs() as logs:
                rotated = await deliverer.deliver(_batch(PIXEL_PLAIN, 2))
        finally:
            await sender.close()

        assert ({"auth"}, {"auth"}, 0) == (
            {f.reason for _, f in refused.failed},
            {f.reason for _, f in held.failed},
            held.requests,
        )
        assert ([0, 1], []) == (rotated.sent, rotated.failed)
        assert [(400, 190), (200, None)] == [
            (r["status"], r["error_code"]) for r in emulator_client.requests()
        ]
        assert "pixel.auth_cooldown_ended" in [line["event"] for line in logs]
        assert NEW not in str(logs)
