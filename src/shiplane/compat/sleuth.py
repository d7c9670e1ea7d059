"""Sleuth-compatible intake: existing clients keep working unchanged.

Translated onto the deploys service; nothing here decides anything. Wire
formats as sent by the real clients (see docs/api.md, "Sleuth compatibility"):

* the GitHub Action posts JSON ``{"api_key","sha","environment","email"}``
  with unset inputs as ``""`` (v2 sends the key as ``Basic base64(key:undefined)``);
* the sleuth CLI sends ``AUTHORIZATION: apikey KEY``, ``commits``, ``files``,
  ``ignore_if_duplicate: "true"`` and a naive UTC ``date``, after asking
  ``GET /graphql`` for the latest change;
* 2020-era docs and scripts send a form body, some labelled JSON.

Responses are Sleuth's: 200 ``Success`` and plain-text 400/401 reasons.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from sqlalchemy import select

from shiplane import clock
from shiplane.auth.deps import Unauthorized, principal_for
from shiplane.auth.service import Principal
from shiplane.context import AppContext, get_context
from shiplane.deploys.intake import intake_for
from shiplane.deploys.register import register
from shiplane.deploys.schemas import DeployIn
from shiplane.errors import DomainError, NotFound
from shiplane.events import service as events
from shiplane.health import push
from shiplane.health import service as health_service
from shiplane.schemas import in_range
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys as deploys_table

router = APIRouter(tags=["sleuth-compatible"])

_TRUE = {"true", "1", "yes", "on"}


class BadRequest(Exception):
    def __init__(self, text: str, status: int = 400) -> None:
        self.text = text
        self.status = status


def _json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:  # the C decoder stops at Python's recursion limit: bounded, but not a 500
        raise BadRequest("Body is nested too deeply") from None
    except ValueError:
        raise BadRequest("Body is not valid JSON") from None


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if "multipart/form-data" in ctype:
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    if raw.strip().startswith(b"{"):
        data = _json(raw)
        if not isinstance(data, dict):
            raise BadRequest("Body must be a JSON object")
        return data
    # Form bodies, including ones mislabelled as JSON by some clients.
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise BadRequest("Body is not UTF-8") from None


def _api_key(request: Request, body: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme in ("apikey", "bearer", "token") and value:
        return value
    if scheme == "basic" and value:
        # sleuth-action v2 sends Basic base64("<key>:undefined"): the key is the user part.
        try:
            return base64.b64decode(value).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    key = body.get("api_key")
    return key if isinstance(key, str) and key else None


async def _auth(ctx: AppContext, request: Request, body: dict[str, Any], role: str = "deployer") -> Principal:
    try:
        principal = await principal_for(ctx, _api_key(request, body))
    except Unauthorized:
        raise BadRequest("Unauthorized", 401) from None
    if not principal.has(role):
        raise BadRequest(f"Forbidden: this needs the {role} role", 403)
    return principal


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        raise BadRequest(f"{key} must not contain NUL characters")
    value = value.strip()
    return value or None  # the GitHub Action always sends every key, unset ones as ""


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in _TRUE


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(t).strip().lstrip("#") for t in items if str(t).strip().lstrip("#")]


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return in_range(clock.parse_iso(value))
    except ValueError:
        raise BadRequest(f"Invalid date format {value!r}. Must be in ISO 8601 format") from None


def _slug(value: str, what: str) -> str:
    slug = value.strip().lower()
    if not re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", slug):
        # Sleuth answers 404 for a deployment it cannot find; clients probe with "-".
        raise BadRequest(f"{what.capitalize()} {value!r} not found", 404 if what == "deployment" else 400)
    return slug


def _segment(value: str, what: str) -> str:
    """A free-text path segment (``{org}``, ``{metric}``): no NUL, at most 200 characters."""
    if "\x00" in value or len(value) > 200:
        raise BadRequest(f"Invalid {what}: at most 200 characters, and no NUL")
    return value


def _deploy_in(deployment: str, body: dict[str, Any]) -> tuple[DeployIn, bool]:
    sha = _text(body, "sha")
    if not sha:
        raise BadRequest("Missing sha")
    data: dict[str, Any] = {
        "service": _slug(deployment, "deployment"),
        "environment": _slug(_text(body, "environment") or "production", "environment"),
        "sha": sha,
        "status": "succeeded",
        "finished_at": _date(_text(body, "date")),
        "email": _text(body, "email"),
        "author": _text(body, "email"),
        "tags": _tags(body.get("tags")),
    }
    links = body.get("links")
    if isinstance(links, dict) and links:
        data["url"] = str(next(iter(links.values())))[:2000]
    elif isinstance(links, str) and "=" in links:
        data["url"] = links.partition("=")[2][:2000]
    commits = body.get("commits")
    if isinstance(commits, str) and commits.strip():
        try:
            commits = _json(commits)
        except BadRequest:
            raise BadRequest("commits is not valid JSON") from None
    if commits:
        data["commits"] = commits
    try:
        return DeployIn.model_validate(data), _flag(body, "ignore_if_duplicate")
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise BadRequest(f"Invalid {field}: {err['msg']}") from None


async def register_deploy(request: Request, org: str, deployment: str) -> PlainTextResponse:
    ctx = get_context(request)
    try:
        body = await _body(request)
        who = await _auth(ctx, request, body)
        deploy_in, ignore_duplicate = _deploy_in(deployment, body)
        result = await ctx.db.run_write(
            _register_unless_duplicate, deploy_in, actor=who.name, now=clock.now(), intake=intake_for(ctx)
        )
    except BadRequest as exc:
        return PlainTextResponse(exc.text, status_code=exc.status)
    except DomainError as exc:
        status = 404 if exc.status_code == 404 else 400
        return PlainTextResponse(exc.detail, status_code=status)
    if (result is None or not result.changed) and not ignore_duplicate:
        return PlainTextResponse(f"Deploy for sha {deploy_in.sha} has already been registered", status_code=400)
    return PlainTextResponse("Success")


def _register_unless_duplicate(conn: Any, body: DeployIn, *, actor: str, now: datetime, intake: Any) -> Any:
    """Sleuth's duplicates (SPEC 8.5): a retried call is never a second deploy, nor a rollback.

    A duplicate is the same sha in the same place with the same ``date`` when the
    request gives one, or, without a date, the sha that is already the latest
    deploy there (which ``register`` answers as an idempotent repeat). Returns None
    for a duplicate, having written nothing.
    """
    if body.finished_at is not None and _same_sha_and_date(conn, body):
        return None
    return register(conn, body, actor=actor, now=now, intake=intake)


def _same_sha_and_date(conn: Any, body: DeployIn) -> bool:
    return (
        conn.execute(
            select(deploys_table.c.id)
            .join(services, services.c.id == deploys_table.c.service_id)
            .join(environments, environments.c.id == deploys_table.c.environment_id)
            .where(
                services.c.slug == body.service,
                environments.c.slug == body.environment,
                deploys_table.c.sha == body.sha,
                deploys_table.c.finished_at == body.finished_at,
            )
            .limit(1)
        ).first()
        is not None
    )


@router.post("/api/1/deployments/{org}/{deployment}/register_deploy", summary="Sleuth: register a deploy")
async def register_deploy_current(request: Request, org: str, deployment: str) -> PlainTextResponse:
    return await register_deploy(request, org, deployment)


@router.post("/api/1/{org}/{deployment}/register_deploy", summary="Sleuth (legacy path): register a deploy")
async def register_deploy_legacy(request: Request, org: str, deployment: str) -> PlainTextResponse:
    return await register_deploy(request, org, deployment)


@router.post(
    "/api/1/deployments/{org}/{deployment}/register_manual_deploy", summary="Sleuth: register a manual change"
)
async def register_manual_deploy(request: Request, org: str, deployment: str) -> PlainTextResponse:
    ctx = get_context(request)
    try:
        body = await _body(request)
        who = await _auth(ctx, request, body)
        org = _segment(org, "org")
        name = _text(body, "name")
        if not name:
            raise BadRequest("Name is required.", 422)
        environment = _slug(_text(body, "environment") or "production", "environment")
        service = _slug(deployment, "deployment")
        data = {
            "name": name[:500],
            "description": (_text(body, "description") or "")[:5000],
            "tags": _tags(body.get("tags")),
            "author": _text(body, "author") or _text(body, "Author") or _text(body, "email"),
            "org": org,
        }

        def write(conn: Any) -> None:
            events.record(
                conn, "manual_change", clock.now(), actor=who.name, environment=environment, service=service, data=data
            )

        await ctx.db.run_write(write)
    except BadRequest as exc:
        return PlainTextResponse(exc.text, status_code=exc.status)
    return PlainTextResponse("Success")


@router.post("/api/1/impact/{metric}/register_impact", summary="Sleuth: push a custom metric value")
async def register_impact(request: Request, metric: str) -> PlainTextResponse:
    ctx = get_context(request)
    try:
        body = await _body(request)
        await _auth(ctx, request, body)
        try:
            value = float(body.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequest("Bad Request - impact value must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise BadRequest("Bad Request - impact value must be a finite number")
        at = _date(_text(body, "date")) or clock.now()
        environment = _slug(_text(body, "environment") or "production", "environment")
        service = _text(body, "service")
        service = _slug(service, "service") if service else None
        sample = push.Sample(metric=_segment(metric, "metric"), environment=environment, service=service, value=value, at=at)
        await ctx.db.run_write(push.store, [sample])
    except BadRequest as exc:
        return PlainTextResponse(exc.text, status_code=exc.status)
    return PlainTextResponse("Success")


# --- the sleuth CLI asks for the latest change before it registers a deploy ---

_ARG = r'{name}\s*:\s*"([^"]*)"'


def _arg(query: str, name: str) -> str | None:
    m = re.search(_ARG.format(name=name), query)
    return m.group(1) if m else None


def _latest_change(conn: Any, service_slug: str, env_slug: str) -> str | None:
    return conn.execute(
        select(deploys_table.c.sha)
        .join(services, services.c.id == deploys_table.c.service_id)
        .join(environments, environments.c.id == deploys_table.c.environment_id)
        .where(
            services.c.slug == service_slug,
            environments.c.slug == env_slug,
            deploys_table.c.status == "succeeded",
        )
        .order_by(deploys_table.c.deployed_at.desc(), deploys_table.c.id.desc())
        .limit(1)
    ).scalar()


@router.get("/graphql", summary="Sleuth: the CLI's latestChange query")
async def graphql_get(request: Request) -> JSONResponse:
    return await graphql(request)


@router.post("/graphql", summary="Sleuth: the CLI's latestChange query (POST)")
async def graphql_post(request: Request) -> JSONResponse:
    return await graphql(request)


async def graphql(request: Request) -> JSONResponse:
    """Answers the two operations the sleuth CLI sends (latestChange, setHealth); anything else is a GraphQL error."""
    ctx = get_context(request)
    try:
        raw = await request.body()
        payload = _json(raw) if raw.strip() else dict(request.query_params)
        query = payload.get("query", "") if isinstance(payload, dict) else ""
        query = query if isinstance(query, str) else ""
        mutation = re.match(r"\s*mutation\b", query) is not None
        who = await _auth(ctx, request, {}, role="deployer" if mutation else "viewer")
    except BadRequest as exc:
        return JSONResponse({"errors": [{"message": exc.text}]}, status_code=exc.status)
    if mutation and "setHealth" in query:
        return await _set_health(ctx, query, who)
    deployment = _arg(query, "deploymentSlug")
    if mutation or not deployment or "latestChange" not in query:
        return JSONResponse(
            {"errors": [{"message": "only deployment { latestChange } and mutation { setHealth } are supported"}]}
        )
    environment = (_arg(query, "environmentSlug") or "production").lower()
    sha = await ctx.db.run_read(_latest_change, deployment.lower(), environment)
    change = {"revision": sha, "slug": sha[:12], "url": None} if sha else None
    return JSONResponse({"data": {"deployment": {"latestChange": change}}})


_HEALTHS = {"HEALTHY": "healthy", "AILING": "ailing", "UNHEALTHY": "unhealthy"}


async def _set_health(ctx: AppContext, query: str, who: Principal) -> JSONResponse:
    """``setHealth(orgSlug, deploymentSlug, deploySlug, health)``: a manual verdict, or ``reset`` to the judge's.

    ``deploySlug`` is the ``slug`` that latestChange returned: the first 12 hex digits of the sha.
    """
    deployment, slug, health = _arg(query, "deploymentSlug"), _arg(query, "deploySlug"), _arg(query, "health")
    state = _HEALTHS.get((health or "").upper())
    if not deployment or not slug or (state is None and (health or "").lower() != "reset"):
        return JSONResponse(
            {"errors": [{"message": "setHealth needs deploymentSlug, deploySlug and health HEALTHY, AILING, UNHEALTHY or reset"}]}
        )
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", slug):
        return JSONResponse({"errors": [{"message": f"no deploy {slug!r} of {deployment!r}"}]})
    try:
        await ctx.db.run_write(
            _apply_health, deployment.strip().lower(), slug.lower(), state, actor=who.name, now=clock.now()
        )
    except DomainError as exc:
        return JSONResponse({"errors": [{"message": exc.detail}]})
    ctx.gate_may_have_changed()
    return JSONResponse({"data": {"setHealth": {"success": True}}})


def _apply_health(conn: Any, service_slug: str, sha_prefix: str, state: str | None, *, actor: str, now: datetime) -> None:
    deploy_id = conn.execute(
        select(deploys_table.c.id)
        .join(services, services.c.id == deploys_table.c.service_id)
        .where(services.c.slug == service_slug, deploys_table.c.sha.startswith(sha_prefix, autoescape=True))
        .order_by(deploys_table.c.deployed_at.desc(), deploys_table.c.id.desc())
        .limit(1)
    ).scalar()
    if deploy_id is None:
        raise NotFound(f"no deploy {sha_prefix!r} of {service_slug!r}")
    if state is None:
        health_service.reset_verdict(conn, deploy_id, actor=actor, now=now)
    else:
        health_service.manual_verdict(conn, deploy_id, state, "set with the sleuth CLI", actor=actor, now=now)
