"""Amazon CloudWatch: ``GetMetricData``, one query per metric.

botocore does what AWS defines — the credential chain (environment, shared files, SSO,
container and instance roles), the endpoint of a region, the wire format (the protocol
botocore itself picks for CloudWatch: AWS JSON 1.0 today) and Signature V4 — while the
request itself goes through Shiplane's HTTP seam like every other source's, so that it is
async, bounded and retried the same way. botocore's own calls are blocking (credentials
may come from the instance metadata service), so they run in a worker thread, once.

``query`` is a metric math expression (``SEARCH(...)``, a Metrics Insights ``SELECT``)
or ``Namespace|MetricName|Statistic|Dim=Value,Dim2=Value2`` for one metric's
``MetricStat``. Several series (a ``SEARCH``) are summed per timestamp.
Reference: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import botocore.session
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ParamValidationError
from botocore.parsers import PROTOCOL_PARSERS, ResponseParserError
from botocore.serialize import create_serializer
from botocore.utils import parse_timestamp

from shiplane import clock, http
from shiplane.health.sources.base import Point, SourceError
from shiplane.health.sources.common import sum_series
from shiplane.http import PermanentError, TransientError

WHAT = "CloudWatch GetMetricData"
MAX_PAGES = 10  # one window at one step is a page; NextToken is followed this far at most
MAX_QUERIES = 500  # GetMetricData's limit of queries in one call
GATHER = 0.005  # seconds a batch waits for the other metrics of the same look
CREDENTIALS = "sources.cloudwatch"
CREDENTIALS_FOR = 60.0  # seconds a frozen copy of the chain's credentials is used
# Error codes that mean "these credentials will not do", whatever the query:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html
_AUTH_CODES = {
    "AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException", "IncompleteSignature",
    "InvalidAccessKeyId", "InvalidClientTokenId", "MissingAuthenticationToken", "NotAuthorized",
    "SignatureDoesNotMatch", "UnrecognizedClientException",
}
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,500})</\1>")


@dataclass
class Aws:
    """What botocore gives once per region and endpoint."""

    session: Any
    endpoint: str
    signing_name: str
    serializer: Any
    parser: Any
    operation: Any
    known_region: bool
    _frozen: tuple[float, Any] | None = None  # (monotonic expiry, frozen credentials)

    async def frozen(self) -> Any:
        """Credentials for a request: read through the chain (in a thread: it may call the instance
        metadata service or refresh a role) at most once a minute, well inside botocore's own
        refresh margin, so that 200 requests at once do not make 200 thread hops."""
        if self._frozen is None or self._frozen[0] <= clock.monotonic():
            self._frozen = (clock.monotonic() + CREDENTIALS_FOR, await anyio.to_thread.run_sync(self.credentials))
        return self._frozen[1]

    def credentials(self) -> Any:
        """The standard chain's credentials, frozen for one request (blocking: call from a thread)."""
        found = self.session.get_credentials()
        if found is None:
            raise SourceError(
                "no AWS credentials found (the standard chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE and ~/.aws, web identity, a container or instance role)",
                setting=CREDENTIALS,
            )
        return found.get_frozen_credentials()


_MAKING = threading.Lock()
_MADE: dict[tuple[str, str], Aws] = {}  # one per (region, endpoint): a config has one


def made(region: str, endpoint_url: str) -> Aws | None:
    """The engine for a region and endpoint when it is made already (no thread hop), else None."""
    return _MADE.get((region, endpoint_url))


def forget() -> None:
    """Drop what was made (tests change the credential chain's environment between cases)."""
    with _MAKING:
        _MADE.clear()


def aws(region: str, endpoint_url: str) -> Aws:
    """botocore's session, endpoint and wire format for CloudWatch, made once (blocking: call from a thread)."""
    with _MAKING:  # 200 metrics fetched at once must not make 200 botocore clients side by side
        if (region, endpoint_url) not in _MADE:
            if len(_MADE) >= 8:
                _MADE.clear()
            _MADE[(region, endpoint_url)] = _make(region, endpoint_url)
        return _MADE[(region, endpoint_url)]


def _make(region: str, endpoint_url: str) -> Aws:
    session = botocore.session.get_session()
    client = session.create_client("cloudwatch", region_name=region, endpoint_url=endpoint_url or None)
    model = client.meta.service_model
    protocol = getattr(model, "resolved_protocol", model.protocol)  # botocore ≥ 1.38 picks among several
    known = any(region in session.get_available_regions("cloudwatch", partition_name=p) for p in session.get_available_partitions())
    return Aws(
        session=session,
        endpoint=client.meta.endpoint_url.rstrip("/"),
        signing_name=model.signing_name,
        serializer=create_serializer(protocol, include_validation=True),
        parser=PROTOCOL_PARSERS[protocol](timestamp_parser=_instant),
        operation=model.operation_model("GetMetricData"),
        known_region=known,
    )


def _instant(value: Any) -> datetime:
    """A timestamp of the answer: AWS JSON sends epoch seconds; botocore's default reads them into local-time
    datetimes through dateutil, which costs more than the rest of the answer."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return parse_timestamp(value)


def period(step: float, start: datetime, now: datetime) -> int:
    """CloudWatch's period for a step: whole minutes, at least one step wide, and as coarse as
    CloudWatch still keeps data that old (1 minute for 15 days, 5 minutes for 63 days, then 1 hour;
    a finer period there returns nothing). Coarser than the step is judged at that resolution."""
    unit = 60 if now - start <= timedelta(days=15) else 300 if now - start <= timedelta(days=63) else 3600
    return max(unit, math.ceil(step / unit) * unit)


def data_query(query: str, seconds: int) -> dict[str, Any]:
    """One ``MetricDataQuery`` from a metric's ``query``."""
    parts = [p.strip() for p in query.strip().split("|")]
    if len(parts) not in (3, 4) or any("(" in p for p in parts[:3]):
        return {"Id": "shiplane", "Expression": query.strip(), "Period": seconds, "ReturnData": True}
    namespace, name, stat = parts[:3]
    dimensions = []
    for pair in (parts[3].split(",") if len(parts) == 4 else []):
        key, sep, value = pair.partition("=")
        if not pair.strip():
            continue
        if not sep or not key.strip():
            raise SourceError(f"dimension {pair.strip()!r} is not Name=Value (query is Namespace|MetricName|Statistic|Dim=Value,...)",
                              setting="query")
        dimensions.append({"Name": key.strip(), "Value": value.strip()})
    if not namespace or not name or not stat:
        raise SourceError("query is Namespace|MetricName|Statistic|Dim=Value,... with none of the first three empty", setting="query")
    metric = {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions}
    return {"Id": "shiplane", "MetricStat": {"Metric": metric, "Period": seconds, "Stat": stat}, "ReturnData": True}


def aws_error(response: httpx.Response, parser: Any, operation: Any) -> tuple[str, str]:
    """(code, message) of an AWS error answer, as botocore reads it, else from an XML ErrorResponse."""
    code = message = ""
    try:
        parsed = parser.parse(
            {"status_code": response.status_code, "headers": dict(response.headers), "body": response.content},
            operation.output_shape,
        )
        error = parsed.get("Error") or {}
        code, message = str(error.get("Code") or ""), str(error.get("Message") or "")
    except (ResponseParserError, ValueError, TypeError):
        pass
    if not message or message.lstrip().startswith("<"):  # the query protocol's XML (and moto's)
        fields = dict(_XML_FIELD.findall(response.text))
        code, message = fields.get("Code", code), fields.get("Message", message)
    return code, message


@dataclass
class _Batch:
    """The metrics of one look that ask for the same range, sent as one GetMetricData."""

    queries: list[dict[str, Any]] = field(default_factory=list)
    done: anyio.Event = field(default_factory=anyio.Event)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    errors: dict[str, SourceError] = field(default_factory=dict)

    def add(self, query: dict[str, Any]) -> str:
        qid = f"q{len(self.queries)}"
        self.queries.append({**query, "Id": qid})
        return qid

    def answer(self, qid: str) -> list[Point]:
        if qid in self.errors:
            raise self.errors[qid]
        return sum_series([self.series.get(qid, [])], unit=1.0)


_OPEN: dict[tuple[Any, ...], _Batch] = {}  # batches still taking queries, by (client, region, endpoint, start, end)


class CloudWatch:
    """Fetches are batched: the lifecycle asks for many metrics' same range at once, and one
    GetMetricData takes up to 500 queries, which keeps a deploy's look far inside CloudWatch's
    default quota of 50 calls a second. A call that fails as a whole because of one query is
    asked again query by query, so each metric gets its own answer or its own error."""

    def __init__(self, region: str, endpoint_url: str, client: httpx.AsyncClient) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.client = client

    async def fetch(self, query: str, start: datetime, end: datetime, step: float) -> list[Point]:
        try:
            engine = made(self.region, self.endpoint_url) or await anyio.to_thread.run_sync(aws, self.region, self.endpoint_url)
        except BotoCoreError as exc:
            raise SourceError(f"botocore: {exc}", setting="sources.cloudwatch.region") from exc
        if not engine.known_region and not self.endpoint_url:
            raise SourceError(f"{self.region!r} is not an AWS region with CloudWatch (as botocore knows them)",
                              setting="sources.cloudwatch.region")
        one = data_query(query, period(step, start, clock.now()))
        key = (id(self.client), self.region, self.endpoint_url, start, end)
        batch = _OPEN.get(key)
        leader = batch is None or len(batch.queries) >= MAX_QUERIES
        if leader:
            batch = _OPEN[key] = _Batch()
        qid = batch.add(one)
        if leader:
            await self._lead(engine, key, batch, start, end)
        else:
            await batch.done.wait()
        return batch.answer(qid)

    async def _lead(self, engine: Aws, key: tuple[Any, ...], batch: _Batch, start: datetime, end: datetime) -> None:
        try:
            try:
                await anyio.sleep(GATHER)  # the other metrics of this look join meanwhile
            finally:
                if _OPEN.get(key) is batch:
                    del _OPEN[key]
            try:
                batch.series, batch.errors = await self._get(engine, batch.queries, start, end)
            except SourceError as exc:
                if len(batch.queries) == 1 or exc.setting != "query":
                    batch.errors = {q["Id"]: exc for q in batch.queries}
                else:
                    for q in batch.queries:
                        try:
                            series, errors = await self._get(engine, [q], start, end)
                            batch.series.update(series)
                            batch.errors.update(errors)
                        except SourceError as alone:
                            batch.errors[q["Id"]] = alone
        finally:
            for q in batch.queries:  # cancelled half-way: no metric may read "no answer" as an empty series
                if q["Id"] not in batch.series and q["Id"] not in batch.errors:
                    batch.errors[q["Id"]] = SourceError("the GetMetricData call was cancelled")
            batch.done.set()

    async def _get(self, engine: Aws, queries: list[dict[str, Any]], start: datetime,
                   end: datetime) -> tuple[dict[str, list[tuple[float, float]]], dict[str, SourceError]]:
        """One GetMetricData (with its pages): each query's pairs, and the queries CloudWatch failed."""
        params: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
        series: dict[str, list[tuple[float, float]]] = {q["Id"]: [] for q in queries}
        errors: dict[str, SourceError] = {}
        for _ in range(MAX_PAGES):
            body = await self._call(engine, params)
            for result in body["MetricDataResults"]:
                qid = result.get("Id", "")
                if result.get("StatusCode") in ("InternalError", "Forbidden"):
                    words = "; ".join(m.get("Value", "") for m in result.get("Messages") or []) or result["StatusCode"]
                    errors[qid] = SourceError(f"{result['StatusCode']}: {words}")
                    continue
                stamps = [t.astimezone(UTC).timestamp() for t in result.get("Timestamps") or []]
                series.setdefault(qid, []).extend(zip(stamps, result.get("Values") or []))
            if not body.get("NextToken"):
                break
            params["NextToken"] = body["NextToken"]
        for message in body.get("Messages") or []:  # whole-request problems, such as a bad expression's
            if message.get("Code") in ("InternalError", "Forbidden", "MaxQueryTimeRangeExceed", "MaxMetricsExceeded"):
                raise SourceError(f"{message['Code']}: {message.get('Value', '')}", setting="query")
        return series, errors

    async def _call(self, engine: Aws, params: dict[str, Any]) -> dict[str, Any]:
        try:
            request = engine.serializer.serialize_to_request(params, engine.operation)
        except ParamValidationError as exc:
            raise SourceError(f"not a valid GetMetricData query: {exc}", setting="query") from exc
        credentials = await engine.frozen()
        url = engine.endpoint + request["url_path"]
        if request.get("query_string"):
            url += "?" + str(httpx.QueryParams(request["query_string"]))
        signed = AWSRequest(method=request["method"], url=url, data=request["body"], headers=request["headers"])
        SigV4Auth(credentials, engine.signing_name, self.region).add_auth(signed)
        try:
            response = await http.send(self.client, request["method"], url, WHAT, content=request["body"],
                                       headers=dict(signed.headers.items()))
        except (PermanentError, TransientError) as exc:
            raise self._failure(exc, engine) from exc
        try:
            body = engine.parser.parse(
                {"status_code": response.status_code, "headers": dict(response.headers), "body": response.content},
                engine.operation.output_shape,
            )
        except (ResponseParserError, ValueError, TypeError) as exc:
            raise SourceError(f"{WHAT} answered with something unreadable: {response.text[:200]!r}") from exc
        if "MetricDataResults" not in body:
            raise SourceError(f"{WHAT} answered without MetricDataResults: {response.text[:200]!r}")
        return body

    def _failure(self, exc: PermanentError | TransientError, engine: Aws) -> SourceError:
        if exc.response is None:  # no answer at all: the endpoint is wrong or unreachable
            setting = "sources.cloudwatch.endpoint_url" if self.endpoint_url else "sources.cloudwatch.region"
            return SourceError(f"cannot reach {engine.endpoint} (region {self.region!r}): {exc}", setting=setting)
        code, message = aws_error(exc.response, engine.parser, engine.operation)
        words = f"HTTP {exc.response.status_code}: {code}: {message}" if code else f"HTTP {exc.response.status_code}: {message or exc}"
        if code in _AUTH_CODES:
            return SourceError(f"AWS refused the credentials (from the standard chain) for region {self.region!r}: {words}",
                               setting=CREDENTIALS)
        return SourceError(words, setting="query" if exc.response.status_code == 400 else "")
