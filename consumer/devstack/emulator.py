"""The CAPI emulator: an aiohttp server that judges what we send to Meta, independently.

It serves ``POST /{version}/{pixel_id}/events`` with Meta's documented rules (see
:mod:`emulator_rules`), answers in Meta's success and error shapes, records what it accepted and
injects faults on demand (:mod:`emulator_faults`). It imports nothing of the consumer except
``consumer.errors`` and the dev stack's process handling (``procs``, ``service``), so a bug in our
mapping or validation cannot hide behind the same bug here.

A request goes: version format check → body decode → Meta's version schedule (``emulator_versions``) → delay faults (latency, stall) → at most one answer
fault → auth (pixel, token, ``appsecret_proof``) → body errors → rules → 200 and recording.

Control API (JSON): ``POST/GET/DELETE /_emulator/faults``, ``GET /_emulator/events[?pixel_id=]``,
``GET /_emulator/requests``, ``GET /_emulator/stats``, ``DELETE /_emulator/events`` (reset the
recordings), ``PUT /_emulator/pixels/{pixel_id}``, ``GET/PUT/DELETE /_emulator/versions``
(force versions refused or accepted), ``PUT /_emulator/dataset_quality/{pixel_id}`` (the pixel's
Dataset Quality token) and ``GET /_emulator/health``. It also serves Meta's Dataset Quality API,
``GET /{version}/dataset_quality`` (:mod:`emulator_quality`).

Run it with ``python -m consumer.devstack.emulator --port N --pixels-file FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import re
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from consumer.cli_errors import OneLineParser
from consumer.devstack.emulator_args import add_emulator_arguments
from consumer.devstack.emulator_client import EmbeddedEmulator, EmulatorClient
from consumer.devstack.emulator_errors import (
    GraphError,
    bad_token,
    invalid_parameter,
    new_fbtrace_id,
    unknown_object,
    unknown_path,
)
from consumer.devstack.emulator_faults import Fault, fault_error
from consumer.devstack.emulator_quality import quality_answer
from consumer.devstack.emulator_rules import (
    DEFAULT_FUTURE_TOLERANCE_S,
    PixelAuth,
    check_auth,
    check_event_count,
    decode_data,
    validate_body,
)
from consumer.devstack.emulator_state import EmulatorState, RecordedEvent, to_pixel_auth

__all__ = [
    "STATE_KEY",
    "EmbeddedEmulator",
    "EmulatorClient",
    "EmulatorState",
    "PixelAuth",
    "RecordedEvent",
    "build_app",
    "main",
    "serve",
]

STATE_KEY = web.AppKey("capi_emulator_state", EmulatorState)
_VERSION = re.compile(r"v\d+\.\d+")  # the SDK's own check (capi.md §1.1)
# Meta documents no payload byte limit (capi.md §5); 1000 rich events fit well inside 64 MiB,
# while aiohttp's 1 MiB default would refuse legitimate full batches.
_MAX_BODY_BYTES = 64 * 1024 * 1024
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_LATENCY_RNG = random.Random()  # latency_dist draws (not security-sensitive)
_BAD_GATEWAY_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass(frozen=True, slots=True)
class _Body:
    """A decoded request body, or the code-100 error that decoding it produced."""

    fields: Mapping[str, object]
    error: GraphError | None = None

    @property
    def events(self) -> list[object]:
        """The items of ``data`` (empty when ``data`` is not a list)."""
        data = self.fields.get("data")
        return list(data) if isinstance(data, list) else []

    @property
    def event_ids(self) -> set[str]:
        """The string ``event_id`` values in ``data``, for ``reject_event`` faults."""
        return {
            str(event["event_id"])
            for event in self.events
            if isinstance(event, Mapping) and isinstance(event.get("event_id"), str)
        }


def build_app(
    pixels: Mapping[str, PixelAuth | Mapping[str, str | None]],
    *,
    clock: Callable[[], float] = time.time,
    light: bool = False,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
) -> web.Application:
    """The emulator application for ``pixels`` (``{pixel_id: {"access_token", "app_secret"}}``)."""
    state = EmulatorState(
        pixels={pixel_id: to_pixel_auth(auth) for pixel_id, auth in pixels.items()},
        clock=clock,
        light=light,
        future_tolerance_s=future_tolerance_s,
    )
    app = web.Application(client_max_size=_MAX_BODY_BYTES)
    app[STATE_KEY] = state
    app.router.add_get("/_emulator/health", _health)
    app.router.add_route("*", "/_emulator/faults", _faults)
    app.router.add_route("*", "/_emulator/events", _recorded_events)
    app.router.add_get("/_emulator/requests", _requests)
    app.router.add_get("/_emulator/stats", _stats)
    app.router.add_put("/_emulator/pixels/{pixel_id}", _put_pixel)
    app.router.add_route("*", "/_emulator/versions", _versions)
    app.router.add_put("/_emulator/dataset_quality/{pixel_id}", _put_quality_token)
    app.router.add_post("/{version}/{pixel_id}/events", _post_events)
    app.router.add_get("/{version}/dataset_quality", _dataset_quality)
    app.on_shutdown.append(_release_on_shutdown)
    return app


async def _release_on_shutdown(app: web.Application) -> None:
    """Let stalled requests finish so shutdown does not wait for them."""
    app[STATE_KEY].clear_faults()


def _json(payload: object, status: int = 200) -> web.Response:
    """A JSON response serialized with orjson."""
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


# ---- the Conversions API edge ---------------------------------------------------------------


async def _post_events(request: web.Request) -> web.StreamResponse:
    """``POST /{version}/{pixel_id}/events``: faults, then auth, then the rules."""
    state = request.app[STATE_KEY]
    pixel_id = request.match_info["pixel_id"]
    if _VERSION.fullmatch(request.match_info["version"]) is None:
        return _reject(state, pixel_id, unknown_path(request.path), 0)
    body = await _read_body(request)
    events = body.events
    version_error = state.versions.check(request.match_info["version"], state.clock())
    if version_error is not None:  # read first only so the request log counts the events
        return _reject(state, pixel_id, version_error, len(events))
    for delay in state.faults.take_delays(pixel_id):
        await _delay(state, delay)
    fault = state.faults.take_answer(pixel_id, body.event_ids)
    if fault is not None:
        return _answer_fault(request, state, pixel_id, fault, len(events))
    error = _judge(request, state, pixel_id, body)
    if error is not None:
        return _reject(state, pixel_id, error, len(events))
    test_event_code = body.fields.get("test_event_code")
    state.record_accepted(
        pixel_id, test_event_code if isinstance(test_event_code, str) else None, events
    )
    state.record_request(pixel_id, 200, len(events))
    return _json({"events_received": len(events), "messages": [], "fbtrace_id": new_fbtrace_id()})


def _judge(
    request: web.Request, state: EmulatorState, pixel_id: str, body: _Body
) -> GraphError | None:
    """Auth first, then the body: Graph refuses a bad token before it reads the payload."""
    token, proof = _credentials(request, body.fields)
    error = check_auth(pixel_id, state.pixels.get(pixel_id), token, proof)
    if error is not None or body.error is not None:
        return error or body.error
    if state.light:
        return check_event_count(body.fields.get("data"))
    return validate_body(
        body.fields, now=state.clock(), future_tolerance_s=state.future_tolerance_s
    )


def _credentials(
    request: web.Request, fields: Mapping[str, object]
) -> tuple[str | None, str | None]:
    """The access token (query, body, then ``Authorization: Bearer``) and ``appsecret_proof``."""
    header = request.headers.get("Authorization", "")
    bearer = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else None
    token = request.query.get("access_token") or _text(fields.get("access_token")) or bearer
    proof = request.query.get("appsecret_proof") or _text(fields.get("appsecret_proof"))
    return token, proof


def _text(value: object) -> str | None:
    """``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


async def _read_body(request: web.Request) -> _Body:
    """Decode a JSON, urlencoded or multipart body; ``data`` may be JSON text (capi.md §1.3)."""
    try:
        if request.content_type == "application/json":
            raw = orjson.loads(await request.read())
            if not isinstance(raw, dict):
                return _Body({}, invalid_parameter("the JSON body must be an object"))
            fields: dict[str, object] = dict(raw)
        elif request.content_type in _FORM_TYPES:
            form = await request.post()
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
        else:
            return _Body({}, invalid_parameter(f"unsupported content type {request.content_type}"))
        if "data" in fields:
            fields["data"] = decode_data(fields["data"])
    except ValueError:
        return _Body({}, invalid_parameter("the body or its data parameter is not valid JSON"))
    return _Body(fields)


async def _delay(state: EmulatorState, fault: Fault) -> None:
    """Apply a delay fault: sleep (``ms`` or a draw), or wait until the faults are cleared."""
    if fault.kind in ("latency", "latency_dist"):
        await asyncio.sleep(fault.delay_s(_LATENCY_RNG))
    else:
        await state.stall_gate.wait()


def _answer_fault(
    request: web.Request, state: EmulatorState, pixel_id: str, fault: Fault, count: int
) -> web.StreamResponse:
    """Answer with an injected fault instead of judging the request."""
    if fault.kind == "drop":
        state.record_request(pixel_id, None, count, fault="drop")
        if request.transport is not None:
            request.transport.abort()  # no answer at all: the client sees a disconnect
        return web.Response(status=499)  # never reaches the client: the socket is gone
    error = fault_error(fault)
    if fault.kind == "http_5xx" and fault.status == 502:
        state.record_request(pixel_id, 502, count, error, fault=fault.kind)
        return web.Response(status=502, text=_BAD_GATEWAY_HTML, content_type="text/html")
    return _reject(state, pixel_id, error, count, fault=fault.kind)


def _reject(
    state: EmulatorState, pixel_id: str, error: GraphError, count: int, fault: str | None = None
) -> web.Response:
    """Log and send a Graph error answer."""
    state.record_request(pixel_id, error.status, count, error, fault=fault)
    return _json(error.body(new_fbtrace_id()), status=error.status)


async def _dataset_quality(request: web.Request) -> web.Response:
    """``GET /{version}/dataset_quality?dataset_id=``: EMQ per event name from accepted events."""
    state = request.app[STATE_KEY]
    version, pixel_id = request.match_info["version"], request.query.get("dataset_id", "")
    error = (
        unknown_path(request.path)
        if _VERSION.fullmatch(version) is None
        else state.versions.check(version, state.clock())
    )
    pixel = state.pixels.get(pixel_id)
    if error is None and pixel is None:
        error = unknown_object(pixel_id)
    if error is None and pixel is not None:
        token, _proof = _credentials(request, {})
        if token != state.quality_tokens.get(pixel_id, pixel.access_token):
            error = bad_token("the token cannot read this dataset's quality")
    if error is not None:
        return _json(error.body(new_fbtrace_id()), status=error.status)
    return _json(quality_answer(r.event for r in state.events_of(pixel_id)))


# ---- control API ----------------------------------------------------------------------------


def _json_object(raw: bytes) -> dict[str, Any]:
    """Decode a control-API body that must be a JSON object (ValueError/TypeError otherwise)."""
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise TypeError("the body must be a JSON object")
    return value


async def _health(request: web.Request) -> web.Response:
    """``GET /_emulator/health``: the server answers."""
    return _json({"status": "ok", "light": request.app[STATE_KEY].light})


async def _faults(request: web.Request) -> web.Response:
    """``POST`` adds a fault, ``GET`` lists them, ``DELETE [?pixel_id=]`` clears them."""
    state = request.app[STATE_KEY]
    if request.method == "GET":
        return _json([fault.to_dict() for fault in state.faults.active()])
    if request.method == "DELETE":
        state.clear_faults(request.query.get("pixel_id"))
        return _json({"cleared": True})
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST", "DELETE"])
    try:
        spec = _json_object(await request.read())
        kind = spec.pop("kind", None)
        fault = state.inject(str(kind), **spec)
    except (ValueError, TypeError) as exc:
        return _json({"error": str(exc)}, status=400)
    return _json({"fault": fault.to_dict()}, status=201)


async def _recorded_events(request: web.Request) -> web.Response:
    """``GET [?pixel_id=]`` lists accepted events; ``DELETE`` resets every recording."""
    state = request.app[STATE_KEY]
    if request.method == "DELETE":
        state.reset()
        return _json({"reset": True})
    if request.method != "GET":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "DELETE"])
    return _json([r.to_dict() for r in state.events_of(request.query.get("pixel_id"))])


async def _requests(request: web.Request) -> web.Response:
    """``GET /_emulator/requests``: every CAPI request, accepted or not."""
    return _json(request.app[STATE_KEY].requests)


async def _stats(request: web.Request) -> web.Response:
    """``GET /_emulator/stats``: counters per pixel."""
    return _json(request.app[STATE_KEY].stats_view())


async def _put_pixel(request: web.Request) -> web.Response:
    """``PUT /_emulator/pixels/{pixel_id}``: set or replace a pixel's token and app secret."""
    try:
        spec = _json_object(await request.read())
        request.app[STATE_KEY].set_pixel(request.match_info["pixel_id"], spec)
    except (ValueError, TypeError) as exc:
        return _json({"error": str(exc)}, status=400)
    return _json({"pixel_id": request.match_info["pixel_id"]})


async def _versions(request: web.Request) -> web.Response:
    """``PUT {"refused": [...], "accepted": [...]}`` forces versions; ``DELETE`` clears; ``GET``."""
    gate = request.app[STATE_KEY].versions
    if request.method == "DELETE":
        gate.set_overrides((), ())
    elif request.method == "PUT":
        try:
            spec = _json_object(await request.read())
            gate.set_overrides(_strings(spec, "refused"), _strings(spec, "accepted"))
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, status=400)
    elif request.method != "GET":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "PUT", "DELETE"])
    return _json(gate.to_dict())


def _strings(spec: Mapping[str, object], key: str) -> list[str]:
    """``spec[key]`` as a list of strings (missing: empty); TypeError otherwise."""
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{key} must be a list of version strings")
    return list(value)


async def _put_quality_token(request: web.Request) -> web.Response:
    """``PUT /_emulator/dataset_quality/{pixel_id}`` ``{"access_token"}``: its quality token."""
    try:
        token = _json_object(await request.read()).get("access_token")
    except (ValueError, TypeError) as exc:
        return _json({"error": str(exc)}, status=400)
    if not isinstance(token, str) or not token:
        return _json({"error": "access_token must be a non-empty string"}, status=400)
    request.app[STATE_KEY].quality_tokens[request.match_info["pixel_id"]] = token
    return _json({"pixel_id": request.match_info["pixel_id"]})


# ---- command line ---------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse ``--port --host --pixels-json|--pixels-file --light --future-tolerance-s``."""
    parser = OneLineParser(
        prog="capi-emulator", description="Serve the CAPI emulator until SIGTERM/SIGINT."
    )
    add_emulator_arguments(parser)
    return parser.parse_args(argv)


def _load_pixels(args: argparse.Namespace) -> dict[str, PixelAuth]:
    """The pixels from ``--pixels-json`` or ``--pixels-file`` (none: every request gets 100/33)."""
    if args.pixels_file is not None:
        raw = json.loads(Path(args.pixels_file).read_text())
    elif args.pixels_json is not None:
        raw = json.loads(args.pixels_json)
    else:
        raw = {}
    if not isinstance(raw, dict):
        raise SystemExit("pixels must be a JSON object {pixel_id: {access_token, app_secret}}")
    return {str(pixel_id): to_pixel_auth(auth) for pixel_id, auth in raw.items()}


async def _serve(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then shut down cleanly."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        bound_host, bound_port = runner.addresses[0][:2]
        print(f"capi emulator listening on http://{bound_host}:{bound_port}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


_GC_THRESHOLDS = (50_000, 20, 20)  # as ``capi-consumer run`` (consumer/cli.py)


def main(argv: list[str] | None = None) -> int:
    """``python -m consumer.devstack.emulator``: serve until SIGTERM/SIGINT, then exit 0."""
    return serve(_parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Serve with parsed :func:`add_emulator_arguments` options until SIGTERM/SIGINT."""
    app = build_app(
        _load_pixels(args), light=args.light, future_tolerance_s=args.future_tolerance_s
    )
    # Requests held by a latency or stall fault keep their parsed bodies (~100k objects for
    # 1000 events) alive. With CPython's default collector thresholds every new body set off
    # collections that walked all the held ones: at Meta's latency with 32 requests in flight
    # the emulator took more than a core, starving the consumer it measures on a 2-core
    # machine. Bodies hold no cycles; the consumer's own thresholds do here too.
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    asyncio.run(_serve(app, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
