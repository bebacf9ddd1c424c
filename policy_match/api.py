"""HTTP API for the city's platforms (``policy-match serve``, README "HTTP API").

A thin FastAPI layer over the same library as the CLI and the app: profiles go through
``parse_profile`` and the bundled matcher; the answers are the contract's JSON, passed through
unchanged. What this module adds is only what an HTTP edge needs:

- limits, enforced before any parsing: request bodies by size (``BodySizeLimit``, on the
  declared Content-Length and on the bytes actually streamed), batches by count;
- every error as a Chinese JSON body naming the field and the value (``ErrorBody``), never a
  traceback or a server path;
- one fitted matcher per process, shared by all requests (see ``MatcherGate``).

``create_app()`` is the application factory; uvicorn calls it once in each worker process.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .fields import LISTING_STAGES, OPERATOR_ROLES, PROFILE_FIELDS, QUALIFICATIONS, SECTORS, TOWNS
from .matcher import Matcher, MatchResult, default_matcher, parse_as_of
from .profile import FieldProblem, ProfileError, ProfileParse, parse_profile
from .schema import PolicyRecord
from .validity import record_validity

log = logging.getLogger("policy_match.api")

# -- limits (README "HTTP API") ------------------------------------------------------------------
# One profile is a few hundred bytes; 1 MiB leaves room for very long 发展计划 text.
MAX_MATCH_BODY_BYTES = 1024 * 1024
# A batch body: up to MAX_BATCH_PROFILES profiles of ordinary size.
MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024
MAX_BATCH_PROFILES = 1000
# Everything else (GET requests carry no body).
MAX_OTHER_BODY_BYTES = 64 * 1024
# The same cut as `policy-match search`.
MAX_SEARCH_CHARS = 20_000
# Batch profiles are matched this many at a time, each chunk under the matcher's lock, so a
# large batch does not hold up the single-profile requests of other clients for long.
BATCH_CHUNK = 64

BATCH_ELSEWHERE = "更大的名单请用命令行 policy-match batch（CSV/Excel，带进度）或 Dask 流水线分批处理"

# The bundled example profile (examples/guzhen-lighting.json; a test keeps the two identical).
# It is copied here because the examples folder is not part of the installed package.
EXAMPLE_PROFILE: dict[str, Any] = {
    "name": "古镇某灯饰有限公司",
    "town": "古镇镇",
    "registered_in_zhongshan": True,
    "sector": "C",
    "industry": "灯饰照明制造",
    "above_scale": True,
    "annual_revenue_wan": 30000,
    "employees": 400,
    "credit_ok": True,
    "qualifications": ["高新技术企业"],
    "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间",
    "equipment_software_investment_wan": 3000,
    "digital_level": 3,
}
EXAMPLE_AS_OF = "2026-12-01"


# -- error bodies ---------------------------------------------------------------------------------
class Problem(BaseModel):
    """一项被拒绝的输入：字段、提交的值、原因。"""

    field: str = Field(description="字段名（企业画像字段、查询参数名，或 profile / body 表示整个请求体）")
    value: Any = Field(default=None, description="提交的值（过长的文本只显示开头）")
    message: str = Field(description="原因（中文）")


class ErrorBody(BaseModel):
    """所有错误响应的格式：中文说明；输入有误时逐项列出字段和值。"""

    detail: str = Field(description="错误说明（中文）")
    problems: list[Problem] = Field(default_factory=list, description="逐项列出有误的字段、提交的值和原因")


def _shown_value(value: Any) -> Any:
    """The submitted value as it is echoed back: JSON-safe and short."""
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "…"
    if value is None or isinstance(value, (bool, int, float)):
        if isinstance(value, float) and value != value:  # NaN cannot be written as JSON
            return "NaN"
        return value
    if isinstance(value, bytes):
        return _shown_value(value.decode("utf-8", errors="replace"))
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    return _shown_value(text) if len(text) > 200 else value


def _problem_dict(p: FieldProblem) -> dict[str, Any]:
    return {"field": p.field, "value": _shown_value(p.value), "message": p.message}


def json_response(content: Any, status_code: int = 200) -> Response:
    """A freshly serialised JSON document (UTF-8, Chinese unescaped)."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(content=body, status_code=status_code, media_type="application/json")


def error_response(status_code: int, detail: str, problems: list[dict[str, Any]] | None = None) -> Response:
    return json_response({"detail": detail, "problems": problems or []}, status_code)


def profile_error_detail(problems: list[FieldProblem]) -> str:
    return "企业画像字段有误：" + "；".join(p.line() for p in problems)


# Pydantic's error types → the Chinese reason shown for a query parameter or the body.
_VALIDATION_MESSAGES = {
    "missing": "缺少此项",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "list_type": "应为 JSON 数组（[…]）",
    "dict_type": "应为 JSON 对象（{…}）",
    "string_type": "应为文本",
    "string_pattern_mismatch": "格式不符",
    "json_invalid": "请求体不是有效的 JSON",
    "json_type": "请求体不是有效的 JSON",
}


def _validation_problem(err: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in err.get("loc", ())]
    where = loc[0] if loc else "body"
    field = ".".join(loc[1:]) if len(loc) > 1 and where != "body" else ("body" if where == "body" else where)
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "json_invalid":
        position = loc[1] if len(loc) > 1 else None
        message = "请求体不是有效的 JSON" + (f"（第 {position} 个字符附近）" if position is not None else "")
        return {"field": "body", "value": None, "message": message}
    if kind in _VALIDATION_MESSAGES:
        message = _VALIDATION_MESSAGES[kind]
    elif kind == "greater_than_equal":
        message = f"不能小于 {ctx.get('ge')}"
    elif kind == "greater_than":
        message = f"应大于 {ctx.get('gt')}"
    elif kind == "less_than_equal":
        message = f"不能大于 {ctx.get('le')}"
    elif kind == "string_too_short":
        message = "不能为空"
    elif kind == "string_too_long":
        message = f"不能超过 {ctx.get('max_length')} 个字符"
    else:
        message = "取值无效"
    value = None if kind == "missing" else err.get("input")
    return {"field": field, "value": _shown_value(value), "message": message}


_STATUS_MESSAGES = {
    400: "请求无效",
    404: "没有这个接口（可用接口见 /openapi.json）",
    405: "此接口不支持该请求方法",
    406: "不支持请求的响应格式，本服务只返回 JSON",
    413: "请求体过大",
    415: "请求体应为 JSON（Content-Type: application/json）",
    429: "请求过于频繁，请稍后再试",
}


# -- body size limit (pure ASGI, before FastAPI reads or parses anything) -----------------------
class BodySizeLimit:
    """Refuse a request body larger than its path's limit with 413, before it is parsed.

    The declared Content-Length is checked first (nothing is read); a body sent without one
    (chunked) is read up to the limit and refused as soon as it passes it. The bytes read are
    then handed on to the application unchanged.
    """

    def __init__(self, app: ASGIApp, limits: dict[str, int], default: int):
        self.app = app
        self.limits = limits
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"].rstrip("/") or "/", self.default)
        declared = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                await self._refuse(scope, receive, send, 400, "Content-Length 请求头无效")
                return
            if length > limit:
                await self._too_large(scope, receive, send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client has gone: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"请求体过大：此接口最多接受 {_size_text(limit)}"
        if scope["path"].rstrip("/") == "/v1/batch":
            detail += f"、{MAX_BATCH_PROFILES} 家企业；{BATCH_ELSEWHERE}"
        await self._refuse(scope, receive, send, 413, detail)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        response = error_response(status, detail)
        response.headers["Connection"] = "close"  # the unread rest of the body is not wanted
        await response(scope, receive, send)


def _size_text(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


# -- the shared matcher ---------------------------------------------------------------------------
class MatcherGate:
    """The process's one fitted matcher, and the lock every use of it goes through.

    Why a lock in sync endpoints: matching is CPU-bound Python (the GIL lets one thread run at a
    time anyway), and the matcher keeps memo caches (verdicts, conditions, validity per date) that
    it fills and clears while matching. Sync endpoints run in the threadpool, so the event loop stays
    free for /healthz and for reading other requests, while the lock lets exactly one request at a
    time use the matcher: no interleaved cache updates, no half-built state seen by another request.
    Parallelism comes from worker processes (``--workers``), each with its own matcher.

    Results are serialised to JSON bytes while the lock is held, so no object that might share
    structure with the matcher's caches outlives the request: each response is a fresh document.
    """

    def __init__(self, matcher: Matcher):
        self.matcher = matcher
        self.lock = threading.Lock()
        self.items_by_id = {it.item_id: (p, it) for p, it in matcher.pairs_}
        self.policies_by_id = {p.policy_id: p for p in matcher.kb_.policies}

    def match_json(self, parsed: ProfileParse, *, as_of: date, include_expired: bool, top: int | None) -> bytes:
        """One validated profile's answer as JSON bytes. Call with the lock held."""
        result = self.matcher.match(parsed.profile, as_of=as_of, include_expired=include_expired, top=top)
        result.warnings[:0] = parsed.warnings  # what parsing said, as `match(dict)` reports it
        return _match_json(result)

    def match_many_json(self, parsed: list[ProfileParse], *, as_of: date, include_expired: bool,
                        top: int | None) -> list[bytes]:
        """The same for several profiles, their queries vectorised together. Call with the lock held."""
        results = self.matcher.match_many([p.profile for p in parsed], as_of=as_of,
                                          include_expired=include_expired, top=top)
        out = []
        for p, result in zip(parsed, results, strict=True):
            result.warnings[:0] = p.warnings
            out.append(_match_json(result))
        return out


def _match_json(result: MatchResult) -> bytes:
    """The contract's JSON, exactly as `policy-match match --format json` builds it (compact)."""
    return json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def search_rows(gate: MatcherGate, query: str, top: int) -> list[dict[str, Any]]:
    """The rows `policy-match search QUERY --format json` prints (a test keeps them equal)."""
    hits = gate.matcher.index_.search(query[:MAX_SEARCH_CHARS], k=top)
    by_id = gate.items_by_id
    return [{"item_id": i, "score": round(s, 4), "policy_id": by_id[i][0].policy_id,
             "policy_title": by_id[i][0].title, "title": by_id[i][1].title, "amount": by_id[i][1].amount.text}
            for i, s in hits]


def policy_summary(policy: PolicyRecord, day: date) -> dict[str, Any]:
    status = record_validity(policy, day)
    return {
        "policy_id": policy.policy_id,
        "title": policy.title,
        "short_title": policy.short_title,
        "doc_number": policy.doc_number,
        "issuer": policy.issuer,
        "issued": policy.issued,
        "level": policy.level,
        "town_scope": policy.town_scope,
        "package_2022_02_15": policy.package_2022_02_15,
        "summary": policy.summary,
        "validity": status.validity,
        "validity_note": status.note,
        "deadline": status.deadline.isoformat() if status.deadline else None,
        "document_status": policy.validity.document_status,
        "items": [{"item_id": it.item_id, "title": it.title, "support_type": it.support_type,
                   "applicant": it.applicant, "amount_text": it.amount.text} for it in policy.items],
    }


# -- OpenAPI documentation models (documentation only: validation is parse_profile's) -----------
_KIND_TYPES = {"str": "string", "choice": "string", "bool": "boolean", "int": "integer", "float": "number"}


def profile_json_schema() -> dict[str, Any]:
    """The contract's profile (§2) as JSON Schema, from the field metadata, with Chinese labels."""
    props: dict[str, Any] = {}
    for name, info in PROFILE_FIELDS.items():
        label = info.label + (f"（{info.unit}）" if info.unit and info.unit not in {"年", "级"} else "")
        if info.kind == "list":
            vocabulary = QUALIFICATIONS if name == "qualifications" else OPERATOR_ROLES
            prop: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": list(vocabulary)}}
        else:
            prop = {"type": _KIND_TYPES[info.kind]}
        if info.minimum is not None:
            prop["minimum"] = info.minimum
        if info.maximum is not None:
            prop["maximum"] = info.maximum
        if name == "town":
            prop["enum"] = list(TOWNS)
        elif name == "sector":
            prop["enum"] = list(SECTORS)
            label += "：国民经济行业门类字母 A–T（C = 制造业）"
        elif name == "listing_stage":
            prop["enum"] = list(LISTING_STAGES)
        elif name == "credit_code":
            prop["pattern"] = r"^[0-9A-HJ-NP-RT-UW-Y]{2}\d{6}[0-9A-HJ-NP-RT-UW-Y]{10}$"
        prop["description"] = label
        props[name] = {"anyOf": [prop, {"type": "null"}], "description": label, "title": name}
    return {
        "title": "EnterpriseProfile",
        "type": "object",
        "description": (
            "企业画像（契约第 2 节）。所有字段均可省略，省略或 null 表示“未知”：需要它的条件判为“待核实”，"
            "绝不当作满足。金额单位为万元。也接受表单和表格里的常见写法（是/否、1,500万、古镇、高企、小巨人 等）；"
            "无效的值返回 422 并逐项说明字段和值；未知字段忽略并在 warnings 中提示。"
        ),
        "properties": props,
        "additionalProperties": True,
        "example": EXAMPLE_PROFILE,
    }


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AmountOut(_Open):
    """可得金额区间（万元）。"""

    low: float = Field(description="确定可得（万元）")
    high: float = Field(description="最高可得（万元，整个政策期合计）")


class ConditionOut(_Open):
    """一项申报条件及其判断。"""

    text: str = Field(description="条件原文要点")
    verdict: Literal["met", "unmet", "unknown"] = Field(description="满足 / 不满足 / 待核实")
    source: str = Field(description="出处")


FitLiteral = Literal["recommended", "general", "other", "ruled_out"]


class ItemOut(_Open):
    """政策下的一个支持事项。"""

    item_id: str
    title: str
    status: Literal["eligible", "possible", "ineligible"]
    fit: FitLiteral = Field(description="recommended 推荐申报 / general 普遍适用 / other 其他可能 / ruled_out 不符合")
    score: float
    amount_wan: AmountOut | None
    conditions: list[ConditionOut]
    matched_terms: list[str]


class PolicyOut(_Open):
    """一项政策的匹配结果（其支持事项中最好的结论）。"""

    policy_id: str
    title: str
    status: Literal["eligible", "possible", "ineligible"] = Field(description="可申请 / 可能符合 / 不符合")
    fit: FitLiteral = Field(description="其支持事项中最好的一档")
    validity: Literal["current", "expired", "unknown"] = Field(description="在基准日是否有效")
    validity_note: str = Field(description="有效性判断的原因")
    deadline: date | None = Field(description="申报窗口或政策的截止日期（有记载时）")
    score: float
    amount_wan: AmountOut | None
    items: list[ItemOut]


class SummaryOut(_Open):
    """结论摘要（契约第 4 节）。"""

    recommended: int
    general: int
    other: int
    ruled_out: int
    amount_wan: dict[str, Any]


class MatchOut(_Open):
    """契约规定的匹配结果（第 3、4 节），与 `policy-match match --format json` 相同；可能含更多字段。"""

    as_of: date = Field(description="判断有效性的基准日")
    summary: SummaryOut = Field(description="按适合程度统计的政策数，以及推荐事项的金额合计（不受 top 影响）")
    results: list[PolicyOut] = Field(description="每个政策一条，最推荐的在前")
    near_misses: list[dict[str, Any]] = Field(description="差一点就能享受的支持事项")
    warnings: list[str] = Field(description="提示（如忽略的未知字段）")


class BatchEntry(BaseModel):
    """批量中一家企业的结果或错误。"""

    index: int = Field(description="在请求数组中的位置（从 0 开始）")
    ok: bool = Field(description="true：result 为匹配结果；false：problems 说明哪些字段有误")
    result: MatchOut | None = Field(default=None, description="与 POST /v1/match 相同的结果")
    detail: str | None = Field(default=None, description="错误说明（中文）")
    problems: list[Problem] | None = None


class BatchOut(BaseModel):
    """批量匹配结果。"""

    as_of: date
    count: int = Field(description="提交的企业数")
    matched: int = Field(description="匹配成功的企业数")
    failed: int = Field(description="画像有误的企业数")
    results: list[BatchEntry] = Field(description="与请求数组一一对应")


class PolicyListOut(BaseModel):
    """政策列表。"""

    as_of: date
    count: int
    policies: list[dict[str, Any]] = Field(description="政策概要：编号、标题、文号、层级、有效性、支持事项")


class PolicyDetailOut(BaseModel):
    """一项政策的完整记录及其在基准日的有效性。"""

    as_of: date
    validity: Literal["current", "expired", "unknown"]
    validity_note: str
    deadline: str | None
    record: dict[str, Any] = Field(description="完整政策记录（格式见 data/policies/README.md）")


class SearchRow(BaseModel):
    """一条检索结果（支持事项）。"""

    item_id: str
    score: float
    policy_id: str
    policy_title: str
    title: str
    amount: str


class SearchOut(BaseModel):
    """检索结果，最相关的在前。"""

    query: str
    results: list[SearchRow]


class HealthOut(BaseModel):
    """服务状态。"""

    status: Literal["ok"]
    version: str
    policies: int
    items: int


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {404: "找不到该政策", 413: "请求体或名单过大（在解析之前拒绝）", 422: "输入有误：逐项说明字段、值和原因",
            500: "服务器内部错误（不含任何内部细节）"}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


# -- query parameters shared by match and batch ---------------------------------------------------
AsOfQuery = Annotated[str | None, Query(
    description="判断有效性的基准日 YYYY-MM-DD（默认今天），与命令行 --as-of 相同",
    examples=[EXAMPLE_AS_OF], json_schema_extra={"format": "date"},
)]
IncludeExpiredQuery = Annotated[bool, Query(description="保留已过期/未生效的政策并标注（命令行 --include-expired）")]
TopQuery = Annotated[int | None, Query(
    ge=1, description="只返回前 K 条政策（命令行 --top K）；summary 等汇总不受影响", examples=[3],
)]


def _day(as_of: str | None) -> date:
    try:
        return parse_as_of(as_of)
    except ValueError:
        raise _InputProblems("参数有误：as_of 日期应为 YYYY-MM-DD",
                             [{"field": "as_of", "value": _shown_value(as_of), "message": "日期应为 YYYY-MM-DD"}]) from None


class _InputProblems(Exception):
    """Invalid input found by an endpoint (rendered as 422 like every other input error)."""

    def __init__(self, detail: str, problems: list[dict[str, Any]]):
        self.detail = detail
        self.problems = problems


async def json_body(request: Request) -> Any:
    """The request body as JSON, read and parsed here rather than by FastAPI so that every way a
    body can be wrong gets the same Chinese 422 (and the content type is not held against a
    client: ``curl -d`` sends JSON labelled as a form). Its size was checked by ``BodySizeLimit``."""
    raw = await request.body()

    def bad(message: str) -> _InputProblems:
        return _InputProblems(f"请求体有误：{message}", [{"field": "body", "value": None, "message": message}])

    if not raw.strip():
        raise bad("请求体为空，应为 JSON")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad("请求体应为 UTF-8 编码的 JSON") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列）") from None
    except RecursionError:
        raise bad("JSON 嵌套层数过多") from None
    except ValueError:  # e.g. an integer literal with thousands of digits
        raise bad("JSON 中有无法读取的数值") from None


class _TooMany(Exception):
    def __init__(self, detail: str):
        self.detail = detail


DESCRIPTION = """
中山惠企政策匹配的 HTTP 接口，供中易办、粤商通、镇街门户等平台调用。与命令行 `policy-match`、Python 接口和
网页版使用同一套政策数据、同一套校验和同一个匹配引擎：规则判断是否符合（满足 / 不满足 / 待核实），
TF-IDF 判断与企业计划的相关度，每条结论都附依据和出处。

- 请求和响应均为 UTF-8 JSON；企业画像字段见契约（下方 EnterpriseProfile），全部可省略，省略即“未知”。
- 输入有误返回 422，逐项说明字段、提交的值和原因（中文）；请求体过大返回 413（在解析之前拒绝）；
  找不到政策返回 404；内部错误返回 500，不含任何内部细节。
- 限制：单个画像请求体 ≤ 1 MiB；批量 ≤ 1000 家企业且请求体 ≤ 16 MiB，更大的名单请用命令行
  `policy-match batch` 或 Dask 流水线。
- 鉴权、TLS 和限流由平台网关负责；本服务默认只监听 127.0.0.1。
"""

TAGS = [
    {"name": "匹配", "description": "输入企业画像，返回推荐政策（与 `policy-match match` 的 JSON 完全相同）"},
    {"name": "政策库", "description": "浏览和检索政策及支持事项"},
    {"name": "运维", "description": "健康检查"},
]


def create_app(matcher: Matcher | None = None) -> FastAPI:
    """The API application. The matcher (default: the bundled data) is fitted here, once per
    process, before the server accepts a request."""
    gate = MatcherGate(matcher if matcher is not None else default_matcher())
    example_result = json.loads(gate.match_json(parse_profile(EXAMPLE_PROFILE), as_of=parse_as_of(EXAMPLE_AS_OF),
                                                include_expired=False, top=1))

    app = FastAPI(
        title="中山惠企政策匹配 API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        # The interactive pages load their scripts from a CDN; nothing is fetched at run time, so
        # only the machine-readable /openapi.json is served (import it into the gateway's tools).
        docs_url=None,
        redoc_url=None,
    )
    app.state.gate = gate
    app.add_middleware(
        BodySizeLimit,
        limits={"/v1/match": MAX_MATCH_BODY_BYTES, "/v1/batch": MAX_BATCH_BODY_BYTES},
        default=MAX_OTHER_BODY_BYTES,
    )
    _install_error_handlers(app)

    profile_body = {
        "required": True,
        "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/EnterpriseProfile"},
            "examples": {"古镇灯饰企业": {"summary": "内置示例画像 examples/guzhen-lighting.json",
                                          "value": EXAMPLE_PROFILE}},
        }},
    }
    batch_body = {
        "required": True,
        "content": {"application/json": {
            "schema": {"type": "array", "maxItems": MAX_BATCH_PROFILES,
                       "items": {"$ref": "#/components/schemas/EnterpriseProfile"}},
            "examples": {"两家企业": {"summary": "内置示例画像，及一家镇街填错的企业",
                                      "value": [EXAMPLE_PROFILE, {"name": "某企业", "town": "天河区"}]}},
        }},
    }

    @app.post(
        "/v1/match", tags=["匹配"], summary="匹配一家企业",
        description=("请求体是企业画像本身（与 `policy-match match PROFILE.json` 读取的文件相同），"
                     "选项放在查询参数里。返回契约规定的 JSON，与 "
                     "`policy-match match PROFILE.json --format json` 输出完全一致。"),
        response_model=None, openapi_extra={"requestBody": profile_body},
        responses={200: {"model": MatchOut, "description": "匹配结果（契约第 3、4 节）",
                         "content": {"application/json": {"example": example_result}}},
                   **_errors(413, 422, 500)},
    )
    def match_one(
        profile: Annotated[Any, Depends(json_body)],
        as_of: AsOfQuery = None,
        include_expired: IncludeExpiredQuery = False,
        top: TopQuery = None,
    ) -> Response:
        day = _day(as_of)
        try:
            parsed = parse_profile(profile)
        except ProfileError as exc:
            raise _InputProblems(profile_error_detail(exc.problems), [_problem_dict(p) for p in exc.problems]) from None
        with gate.lock:
            body = gate.match_json(parsed, as_of=day, include_expired=include_expired, top=top)
        return Response(content=body, media_type="application/json")

    @app.post(
        "/v1/batch", tags=["匹配"], summary="批量匹配（最多 1000 家）",
        description=(f"请求体是企业画像的 JSON 数组，最多 {MAX_BATCH_PROFILES} 家、{_size_text(MAX_BATCH_BODY_BYTES)}；"
                     "查询参数与 /v1/match 相同，作用于每一家。结果与请求数组一一对应：画像有效的给出与 "
                     "/v1/match 相同的结果，画像有误的给出逐项原因，互不影响。超出上限返回 413；"
                     f"{BATCH_ELSEWHERE}。"),
        response_model=None, openapi_extra={"requestBody": batch_body},
        responses={200: {"model": BatchOut, "description": "逐家结果或错误"}, **_errors(413, 422, 500)},
    )
    def match_batch(
        profiles: Annotated[Any, Depends(json_body)],
        as_of: AsOfQuery = None,
        include_expired: IncludeExpiredQuery = False,
        top: TopQuery = None,
    ) -> Response:
        if not isinstance(profiles, list):
            raise _InputProblems("请求体有误：应为企业画像的 JSON 数组（[{…}, {…}]）",
                                 [{"field": "body", "value": type(profiles).__name__,
                                   "message": "应为 JSON 数组，每个元素是一家企业的画像"}])
        if len(profiles) > MAX_BATCH_PROFILES:
            raise _TooMany(f"名单过大：一次最多 {MAX_BATCH_PROFILES} 家企业，本次 {len(profiles)} 家；{BATCH_ELSEWHERE}")
        day = _day(as_of)
        errors: dict[int, dict[str, Any]] = {}
        parsed: dict[int, ProfileParse] = {}
        for index, raw in enumerate(profiles):
            try:
                parsed[index] = parse_profile(raw)
            except ProfileError as exc:
                errors[index] = {"index": index, "ok": False, "detail": profile_error_detail(exc.problems),
                                 "problems": [_problem_dict(p) for p in exc.problems]}
        head = {"as_of": day.isoformat(), "count": len(profiles), "matched": len(parsed), "failed": len(errors)}

        def document() -> Iterator[bytes]:
            # Streamed: a full batch is large (each result is the whole contract JSON, ~200 KB for
            # the example firm), so it is written as it is matched, one chunk under the lock at a
            # time, and single-profile requests get their turn between chunks. Every profile was
            # validated above, so the status (200) is known before the first byte is sent.
            yield json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1].encode("utf-8") + b',"results":['
            for start in range(0, len(profiles), BATCH_CHUNK):
                span = range(start, min(start + BATCH_CHUNK, len(profiles)))
                todo = [i for i in span if i in parsed]
                pieces: dict[int, bytes] = {}
                if todo:
                    with gate.lock:
                        answers = gate.match_many_json([parsed[i] for i in todo], as_of=day,
                                                       include_expired=include_expired, top=top)
                    for i, answer in zip(todo, answers, strict=True):
                        pieces[i] = b'{"index":%d,"ok":true,"result":%s}' % (i, answer)
                for i in span:
                    piece = pieces[i] if i in pieces else json.dumps(
                        errors[i], ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
                    yield piece if i == 0 else b"," + piece
            yield b"]}"

        return StreamingResponse(document(), media_type="application/json")

    @app.get(
        "/v1/policies", tags=["政策库"], summary="政策列表",
        description="政策库中的全部政策（含已过期的），每条带基准日的有效性、原因和截止日期，以及支持事项概要。",
        response_model=None,
        responses={200: {"model": PolicyListOut, "description": "政策列表"}, **_errors(422, 500)},
    )
    def list_policies(as_of: AsOfQuery = None) -> Response:
        day = _day(as_of)
        policies = [policy_summary(p, day) for p in gate.matcher.kb_.policies]
        return json_response({"as_of": day.isoformat(), "count": len(policies), "policies": policies})

    @app.get(
        "/v1/policies/{policy_id}", tags=["政策库"], summary="一项政策的完整记录",
        description="按政策编号（如 zs-2022-digital-transformation）返回完整记录及其在基准日的有效性。",
        response_model=None,
        responses={200: {"model": PolicyDetailOut, "description": "政策记录"}, **_errors(404, 422, 500)},
    )
    def get_policy(
        policy_id: Annotated[str, Path(description="政策编号（见 GET /v1/policies）",
                                       examples=["zs-2022-digital-transformation"])],
        as_of: AsOfQuery = None,
    ) -> Response:
        day = _day(as_of)
        policy = gate.policies_by_id.get(policy_id)
        if policy is None:
            shown = policy_id if len(policy_id) <= 100 else policy_id[:100] + "…"
            return error_response(404, f"没有编号为“{shown}”的政策；全部编号见 GET /v1/policies",
                                  [{"field": "policy_id", "value": shown, "message": "政策库中没有此编号"}])
        status = record_validity(policy, day)
        return json_response({
            "as_of": day.isoformat(),
            "validity": status.validity,
            "validity_note": status.note,
            "deadline": status.deadline.isoformat() if status.deadline else None,
            "record": policy.model_dump(mode="json", by_alias=True, exclude_none=True),
        })

    @app.get(
        "/v1/search", tags=["政策库"], summary="关键词检索支持事项",
        description="与 `policy-match search QUERY --format json` 相同：按相关度返回支持事项。",
        response_model=None,
        responses={200: {"model": SearchOut, "description": "检索结果（最相关的在前）"}, **_errors(422, 500)},
    )
    def search(
        q: Annotated[str, Query(min_length=1, description="关键词，如“数字化车间 贴息”", examples=["数字化车间 贴息"])],
        top: Annotated[int, Query(ge=1, description="返回前 K 个支持事项")] = 10,
    ) -> Response:
        if not q.strip():
            raise _InputProblems("参数有误：q 关键词为空", [{"field": "q", "value": q, "message": "关键词为空"}])
        with gate.lock:
            rows = search_rows(gate, q, top)
        return json_response({"query": q, "results": rows})

    @app.get("/healthz", tags=["运维"], summary="健康检查",
             description="进程已就绪（政策库已加载、索引已拟合）时返回 200。供网关或负载均衡探活。",
             response_model=None, responses={200: {"model": HealthOut, "description": "就绪"}})
    async def healthz() -> Response:
        # async: answered on the event loop, never queued behind matching work.
        return json_response({"status": "ok", "version": __version__,
                              "policies": len(gate.policies_by_id), "items": len(gate.items_by_id)})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            schema.setdefault("components", {}).setdefault("schemas", {})["EnterpriseProfile"] = profile_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(_InputProblems)
    async def _input(request: Request, exc: _InputProblems) -> Response:
        return error_response(422, exc.detail, exc.problems)

    @app.exception_handler(_TooMany)
    async def _too_many(request: Request, exc: _TooMany) -> Response:
        return error_response(413, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [_validation_problem(e) for e in exc.errors()]
        names = "、".join(dict.fromkeys(p["field"] for p in problems))
        if any(p["field"] == "body" for p in problems):
            detail = "请求体有误：" + "；".join(p["message"] for p in problems if p["field"] == "body")
        else:
            detail = f"参数有误：{names}"
        return error_response(422, detail, problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and _has_cjk(exc.detail) else None
        response = error_response(exc.status_code, detail or _STATUS_MESSAGES.get(exc.status_code, "请求无法处理"))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        # Logged here, with the traceback, for the operator; the client gets no detail at all.
        log.error("内部错误：%s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "服务器内部错误，请稍后重试；如持续出现请联系服务管理员")


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
