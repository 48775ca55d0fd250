"""RegistryDouble: a **test double** of the Confluent Schema Registry REST API (aiohttp, in memory).

No Confluent-compatible registry can be installed on the dev machines, so the demo and the tests
run this double behind the *real* ``confluent_kafka.schema_registry.SchemaRegistryClient``. It
implements the endpoints that client calls, with Confluent's response fields and error shapes
(``{"error_code": 40401, "message": ...}``, content type ``application/vnd.schemaregistry.v1+json``):

- ``POST /subjects/{s}/versions`` register, ``POST /subjects/{s}`` lookup, ``GET /subjects``,
  ``GET /subjects/{s}/versions[/{v|latest}]``, ``DELETE /subjects/{s}[/versions/{v}]``
  (soft, then ``?permanent=true``);
- ``GET /schemas/ids/{id}``, ``GET /schemas/guids/{guid}``;
- ``GET|PUT /config[/{s}]``.

What it does NOT do: compatibility checks (every new schema is accepted and no
``/compatibility`` endpoint exists), contexts, schema references resolution, metadata/rule sets.
Ids start at 1; the same schema (after JSON canonicalisation) gets the same id in every subject.
Avro schemas are validated with fastavro (``42201`` when invalid). Optional HTTP basic auth,
from the ``CAPI_REGISTRY_BASIC_AUTH=user:pass`` environment variable. ``--state-file`` keeps the
state in a JSON file rewritten on every change, so a restarted double keeps its schemas and ids.
``docker-compose.yml`` runs the real registry.
"""

from __future__ import annotations

import base64
import hmac
import http.client
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from consumer.cli_errors import OneLineParser, port_number
from consumer.devstack.service import EmbeddedService
from consumer.errors import DevStackError

__all__ = ["AUTH_ENV", "EmbeddedRegistry", "RegistryDouble", "build_app", "main"]

AUTH_ENV = "CAPI_REGISTRY_BASIC_AUTH"  # "user:pass"; kept out of argv so it never shows in `ps`
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_LEVELS = frozenset(f"{d}{t}" for d in ("BACKWARD", "FORWARD", "FULL") for t in ("", "_TRANSITIVE"))
_LEVELS |= {"NONE"}
_Json = dict[str, Any]


class _Fail(Exception):
    """A Confluent-shaped error answer: HTTP ``status`` with body ``{error_code, message}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Version:
    version: int
    id: int
    deleted: bool = False


@dataclass
class _Schema:
    schema: str
    schemaType: str  # Confluent's field name, so asdict() is the wire shape
    references: list[_Json]
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def wire(self) -> _Json:
        """The schema fields as the registry answers them (``schemaType`` omitted for AVRO)."""
        body = asdict(self)
        if self.schemaType == "AVRO":
            del body["schemaType"]
        return body


def _canonical(schema: str, schema_type: str, references: list[_Json]) -> str:
    """Schema text with JSON whitespace and key order normalised; Avro is validated too."""
    if schema_type == "PROTOBUF":
        return schema
    try:
        parsed = json.loads(schema)
        if schema_type == "AVRO" and not references:
            fastavro.parse_schema(parsed)
    except Exception as exc:  # fastavro raises many types for a bad schema
        raise _Fail(422, 42201, f"Invalid schema: {exc}") from exc
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def _key(schema: _Schema) -> tuple[str, str, str]:
    """Identity of a schema: same type, canonical text and references means the same id."""
    refs = json.dumps(schema.references, sort_keys=True)
    return schema.schemaType, _canonical(schema.schema, schema.schemaType, schema.references), refs


class RegistryDouble:
    """The in-memory state of the double, optionally mirrored to a JSON ``state_file``."""

    def __init__(self, state_file: Path | None = None) -> None:
        self.state_file = state_file
        self.schemas: dict[int, _Schema] = {}
        self.subjects: dict[str, list[_Version]] = {}
        self.config: dict[str, str] = {}  # "" is the global level
        if state_file is not None and state_file.exists():
            self._load(json.loads(state_file.read_text()))
        self.config.setdefault("", "BACKWARD")
        self._index = {_key(s): schema_id for schema_id, s in self.schemas.items()}

    def _load(self, data: _Json) -> None:
        self.schemas = {int(k): _Schema(**v) for k, v in data["schemas"].items()}
        self.subjects = {s: [_Version(**v) for v in vs] for s, vs in data["subjects"].items()}
        self.config = dict(data["config"])

    def save(self) -> None:
        """Rewrite the state file atomically (small files; a test double, not a database)."""
        if self.state_file is None:
            return
        data = {
            "schemas": {k: asdict(v) for k, v in self.schemas.items()},
            "subjects": {s: [asdict(v) for v in vs] for s, vs in self.subjects.items()},
            "config": self.config,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def _find_id(self, body: _Json) -> tuple[int | None, _Schema]:
        text, kind = body.get("schema"), body.get("schemaType", "AVRO")
        if not isinstance(text, str) or not isinstance(kind, str):
            raise _Fail(422, 42201, "Invalid schema: 'schema' must be a string")
        candidate = _Schema(text, kind, list(body.get("references") or []))
        schema_id = self._index.get(_key(candidate))
        return schema_id, candidate if schema_id is None else self.schemas[schema_id]

    def versions(self, subject: str, *, deleted: bool = False) -> list[_Version]:
        """Versions of ``subject`` (soft-deleted ones only when asked), or 40401."""
        found = [v for v in self.subjects.get(subject, []) if deleted or not v.deleted]
        if not found:
            raise _Fail(404, 40401, f"Subject '{subject}' not found.")
        return found

    def version(self, subject: str, ref: str, *, deleted: bool = False) -> _Version:
        """One version by number, ``latest`` or ``-1``; 40401, 40402 or 42202 otherwise."""
        found = self.versions(subject, deleted=deleted)
        if ref in {"latest", "-1"}:
            return max(found, key=lambda v: v.version)
        if not ref.isdigit() or not 0 < int(ref) < 2**31:
            raise _Fail(422, 42202, f"The specified version '{ref}' is not a valid version id.")
        for item in found:
            if item.version == int(ref):
                return item
        raise _Fail(404, 40402, f"Version {ref} not found.")

    def answer(self, subject: str, item: _Version) -> _Json:
        """The full ``subject/version/id/schema`` record the registry returns."""
        body = {"subject": subject, "version": item.version, "id": item.id}
        return body | self.schemas[item.id].wire()

    def register(self, subject: str, body: _Json) -> _Json:
        """Register (idempotently) ``body``'s schema under ``subject``."""
        schema_id, schema = self._find_id(body)
        history = self.subjects.get(subject, [])
        for item in history:
            if item.id == schema_id and not item.deleted:
                return {"id": item.id, "version": item.version, "guid": schema.guid}
        if schema_id is None:
            schema_id = max(self.schemas, default=0) + 1
            self.schemas[schema_id] = schema
            self._index[_key(schema)] = schema_id
        item = _Version(max((v.version for v in history), default=0) + 1, schema_id)
        self.subjects[subject] = [*history, item]
        self.save()
        return {"id": schema_id, "version": item.version, "guid": schema.guid}

    def lookup(self, subject: str, body: _Json, *, deleted: bool) -> _Json:
        """The registration of ``body``'s schema under ``subject``, or 40401/40403."""
        found = self.versions(subject, deleted=deleted)
        schema_id, _ = self._find_id(body)
        for item in sorted(found, key=lambda v: v.version, reverse=True):
            if item.id == schema_id:
                return self.answer(subject, item)
        raise _Fail(404, 40403, "Schema not found")

    def schema(self, schema_id: int) -> _Schema:
        """The schema with ``schema_id``, or 40403."""
        if schema_id not in self.schemas:
            raise _Fail(404, 40403, f"Schema {schema_id} not found")
        return self.schemas[schema_id]

    def delete(self, subject: str, items: list[_Version], *, permanent: bool) -> None:
        """Soft-delete ``items``, or with ``permanent`` remove soft-deleted ones (40405 if not)."""
        for item in items:
            if item.deleted != permanent:  # permanent needs a soft delete first; soft needs none
                code, what = (
                    (40405, "was not soft deleted first")
                    if permanent
                    else (40406, "was soft deleted")
                )
                raise _Fail(404, code, f"Subject '{subject}' version {item.version} {what}")
        if permanent:
            kept = [v for v in self.subjects[subject] if v not in items]
            self.subjects[subject] = kept
            if not kept:
                del self.subjects[subject]
        for item in items:
            item.deleted = True
        self.save()


_STATE = web.AppKey("state", RegistryDouble)
routes = web.RouteTableDef()


def _reply(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, content_type=_CONTENT_TYPE)


async def _body(request: web.Request) -> _Json:
    try:
        body = await request.json()
    except ValueError as exc:
        raise _Fail(400, 400, f"Unrecognized request body: {exc}") from exc
    if not isinstance(body, dict):
        raise _Fail(422, 422, "Request body must be a JSON object")
    return body


def _args(request: web.Request) -> tuple[RegistryDouble, str, bool]:
    """The state, the ``{subject}`` in the path and the ``deleted`` (or ``permanent``) flag."""
    flag = request.query.get("deleted", request.query.get("permanent", "false"))
    return request.app[_STATE], request.match_info.get("subject", ""), flag.lower() == "true"


@routes.get("/subjects")
async def _subjects(request: web.Request) -> web.Response:
    state, _, deleted = _args(request)
    prefix = request.query.get("subjectPrefix", "")
    live = {s for s, vs in state.subjects.items() if deleted or any(not v.deleted for v in vs)}
    return _reply(sorted(s for s in live if s.startswith(prefix)))


@routes.post("/subjects/{subject}/versions")
async def _register(request: web.Request) -> web.Response:
    state, subject, _ = _args(request)
    return _reply(state.register(subject, await _body(request)))


@routes.post("/subjects/{subject}")
async def _lookup(request: web.Request) -> web.Response:
    state, subject, deleted = _args(request)
    return _reply(state.lookup(subject, await _body(request), deleted=deleted))


@routes.get("/subjects/{subject}/versions")
@routes.get("/subjects/{subject}/versions/{version}")
async def _versions(request: web.Request) -> web.Response:
    state, subject, deleted = _args(request)
    if "version" not in request.match_info:
        return _reply([v.version for v in state.versions(subject, deleted=deleted)])
    item = state.version(subject, request.match_info["version"], deleted=deleted)
    return _reply(state.answer(subject, item))


@routes.delete("/subjects/{subject}")
@routes.delete("/subjects/{subject}/versions/{version}")
async def _delete(request: web.Request) -> web.Response:
    state, subject, permanent = _args(request)
    if "version" not in request.match_info:
        items = state.versions(subject, deleted=permanent)
        state.delete(subject, items, permanent=permanent)
        return _reply([v.version for v in items])
    item = state.version(subject, request.match_info["version"], deleted=permanent)
    state.delete(subject, [item], permanent=permanent)
    return _reply(item.version)


@routes.get(r"/schemas/ids/{schema_id:\d+}")
async def _schema_by_id(request: web.Request) -> web.Response:
    return _reply(request.app[_STATE].schema(int(request.match_info["schema_id"])).wire())


@routes.get("/schemas/guids/{guid}")
async def _schema_by_guid(request: web.Request) -> web.Response:
    for schema in request.app[_STATE].schemas.values():
        if schema.guid == request.match_info["guid"]:
            return _reply(schema.wire())
    raise _Fail(404, 40403, "Schema not found")


@routes.get("/config")
@routes.get("/config/{subject}")
async def _get_config(request: web.Request) -> web.Response:
    state, subject, _ = _args(request)
    if subject in state.config:
        return _reply({"compatibilityLevel": state.config[subject]})
    if request.query.get("defaultToGlobal", "false").lower() == "true":
        return _reply({"compatibilityLevel": state.config[""]})
    raise _Fail(404, 40408, f"Subject '{subject}' has no subject-level compatibility level")


@routes.put("/config")
@routes.put("/config/{subject}")
async def _put_config(request: web.Request) -> web.Response:
    state, subject, _ = _args(request)
    level = (await _body(request)).get("compatibility")
    if level not in _LEVELS:
        raise _Fail(422, 42203, f"Invalid compatibility level: {level}")
    state.config[subject] = level
    state.save()
    return _reply({"compatibility": level})


def _errors_middleware(basic_auth: tuple[str, str] | None) -> Middleware:
    """Basic auth (when configured) and Confluent-shaped error bodies for every failure."""
    expected = f"Basic {_b64(basic_auth)}".encode() if basic_auth is not None else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if expected is not None and not hmac.compare_digest(given, expected):
            return _reply({"error_code": 40101, "message": "Unauthorized"}, 401)
        try:
            return await handler(request)
        except _Fail as fail:
            return _reply({"error_code": fail.code, "message": fail.message}, fail.status)
        except web.HTTPException as exc:  # unknown path or method, in Confluent's shape
            return _reply({"error_code": exc.status, "message": exc.reason}, exc.status)

    return middleware


def _b64(user_pass: tuple[str, str]) -> str:
    return base64.b64encode(":".join(user_pass).encode()).decode()


def build_app(
    *, basic_auth: tuple[str, str] | None = None, state_file: Path | None = None
) -> web.Application:
    """The RegistryDouble aiohttp application (state loaded from ``state_file`` when it exists)."""
    app = web.Application(middlewares=[_errors_middleware(basic_auth)])
    app[_STATE] = RegistryDouble(state_file)
    app.add_routes(routes)
    return app


def _auth_from_env() -> tuple[str, str] | None:
    value = os.environ.get(AUTH_ENV)
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep:
        raise DevStackError(f"{AUTH_ENV} must look like user:pass")
    return user, password


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the RegistryDouble until SIGTERM/SIGINT: ``python -m consumer.devstack.registry``."""
    parser = OneLineParser(prog="python -m consumer.devstack.registry")
    parser.add_argument("--port", type=port_number, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state-file", type=Path, default=None)
    args = parser.parse_args(argv)
    app = build_app(basic_auth=_auth_from_env(), state_file=args.state_file)
    web.run_app(app, host=args.host, port=args.port, print=None, shutdown_timeout=1.0)
    return 0


class EmbeddedRegistry(EmbeddedService):
    """A RegistryDouble child process on a loopback port, kept across restarts.

    Its state lives in ``state_file`` (a temporary file by default, removed by :meth:`stop`), so
    :meth:`restart` keeps every schema and id, like a real registry restarting would.
    """

    process_name = "schema-registry-double"

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        basic_auth: tuple[str, str] | None = None,
        state_file: Path | None = None,
    ) -> None:
        super().__init__(port=port, host=host)
        self.basic_auth, self.state_file = basic_auth, state_file
        self._tmpdir: Path | None = None

    @property
    def url(self) -> str:
        """The client's ``url`` setting."""
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return self.url

    def _command(self) -> tuple[list[str], dict[str, str]]:
        if self.state_file is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="capi-registry-"))
            self.state_file = self._tmpdir / "state.json"
        argv = [sys.executable, "-m", "consumer.devstack.registry", "--host", self.host]
        argv += ["--port", str(self.port), "--state-file", str(self.state_file)]
        env = {k: v for k, v in os.environ.items() if k != AUTH_ENV}
        root = str(Path(__file__).resolve().parents[2])  # importable even without an install
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        if self.basic_auth is not None:
            env[AUTH_ENV] = ":".join(self.basic_auth)
        return argv, env

    def _ready(self) -> bool:
        auth = self.basic_auth
        headers = {} if auth is None else {"Authorization": f"Basic {_b64(auth)}"}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=0.5)
        try:
            conn.request("GET", "/subjects", headers=headers)
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the process and remove a temporary state file (``restart`` keeps it). Idempotent."""
        self._halt()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir, self.state_file = None, None


if __name__ == "__main__":
    raise SystemExit(main())
