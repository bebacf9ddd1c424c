"""The HTTP API (policy_match/api.py, `policy-match serve`): every endpoint and every error class
through FastAPI's TestClient against the real matcher; the same JSON as the CLI; a bounded,
seeded schemathesis run over the OpenAPI schema; one live server through the entry point."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection

with warnings.catch_warnings():  # starlette's TestClient announces its move to httpx2; it works the same
    warnings.filterwarnings("ignore", message=".*httpx2")
    from fastapi.testclient import TestClient

from policy_match.api import (
    EXAMPLE_PROFILE,
    MAX_BATCH_BODY_BYTES,
    MAX_BATCH_PROFILES,
    MAX_MATCH_BODY_BYTES,
    create_app,
)

from .conftest import ROOT, run_cli
from .test_profile import BAD_VALUES

EXAMPLE = ROOT / "examples" / "guzhen-lighting.json"


@pytest.fixture(scope="module")
def app():
    return create_app()


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def assert_chinese_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), body
    assert "Traceback" not in response.text and str(ROOT) not in response.text
    return body


# -- the bundled example, exactly as the CLI prints it --------------------------------------------
def test_example_profile_is_the_bundled_file():
    assert json.loads(EXAMPLE.read_text(encoding="utf-8")) == EXAMPLE_PROFILE


@pytest.mark.parametrize("top", [None, 3])
def test_match_returns_the_same_json_as_the_cli(client, top):
    args = ["match", str(EXAMPLE), "--as-of", "2026-12-01"] + (["--top", str(top)] if top else [])
    cli = run_cli(*args)
    assert cli.returncode == 0, cli.stderr
    params = {"as_of": "2026-12-01"} | ({"top": top} if top else {})
    response = client.post("/v1/match", params=params, content=EXAMPLE.read_bytes(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(cli.stdout)
    if top:
        assert len(response.json()["results"]) == top


def test_match_include_expired_keeps_expired_policies_marked(client):
    default = client.post("/v1/match", params={"as_of": "2026-12-01"}, json=EXAMPLE_PROFILE).json()
    kept = client.post("/v1/match", params={"as_of": "2026-12-01", "include_expired": "true"},
                       json=EXAMPLE_PROFILE).json()
    assert all(r["validity"] != "expired" for r in default["results"])
    assert any(r["validity"] == "expired" for r in kept["results"])
    assert len(kept["results"]) > len(default["results"])


def test_match_warns_about_unknown_fields_and_keeps_the_rest(client):
    body = client.post("/v1/match", json={"sector": "C", "legal_person": "张三"}).json()
    assert body["warnings"] == ["忽略未知字段 legal_person"]
    assert body["results"]


def test_concurrent_requests_get_their_own_answers(app):
    """Threads hammering one app: each firm gets exactly the answer it gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    firms = [{"sector": "C", "plans": "建设数字化车间，上MES"}, {"sector": "F", "cross_border_ecommerce": True,
             "plans": "做跨境电商独立站"}, {**EXAMPLE_PROFILE}, {"relocating_from_renovation_area": True}]
    with TestClient(app) as c:
        alone = [c.post("/v1/match", params={"as_of": "2026-12-01"}, json=f).json() for f in firms]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda i: (i % 4, c.post("/v1/match", params={"as_of": "2026-12-01"},
                                                               json=firms[i % 4]).json()), range(40)))
    for k, body in together:
        assert body == alone[k]


# -- batch ------------------------------------------------------------------------------------------
def test_batch_gives_each_result_or_error_by_index(client):
    good = {"sector": "C", "plans": "购置数控机床，技术改造"}
    response = client.post("/v1/batch", params={"as_of": "2026-12-01", "top": 2},
                           json=[EXAMPLE_PROFILE, {"town": "天河区", "digital_level": 9}, "not a profile", good])
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["matched"], body["failed"]) == (4, 2, 2)
    assert [e["index"] for e in body["results"]] == [0, 1, 2, 3]
    assert [e["ok"] for e in body["results"]] == [True, False, False, True]
    single = client.post("/v1/match", params={"as_of": "2026-12-01", "top": 2}, json=EXAMPLE_PROFILE).json()
    assert body["results"][0]["result"] == single
    assert {p["field"] for p in body["results"][1]["problems"]} == {"town", "digital_level"}
    assert "天河区" in body["results"][1]["detail"]
    assert body["results"][2]["problems"][0]["field"] == "profile"
    assert len(body["results"][3]["result"]["results"]) == 2


def test_batch_over_the_chunk_size_keeps_order(client):
    firms = [{"name": f"企业{i}", "sector": "C", "employees": i} for i in range(150)]
    firms[70] = {"employees": -1}
    body = client.post("/v1/batch", params={"top": 1}, json=firms).json()
    assert [e["index"] for e in body["results"]] == list(range(150))
    assert body["failed"] == 1 and body["results"][70]["problems"][0]["field"] == "employees"


def test_batch_over_the_maximum_is_refused_with_the_way_out(client):
    body = assert_chinese_error(client.post("/v1/batch", json=[{}] * (MAX_BATCH_PROFILES + 1)), 413)
    assert str(MAX_BATCH_PROFILES) in body["detail"] and "policy-match batch" in body["detail"]


def test_batch_body_must_be_a_list(client):
    body = assert_chinese_error(client.post("/v1/batch", json=EXAMPLE_PROFILE), 422)
    assert body["problems"][0]["field"] == "body"


# -- policies, search, health --------------------------------------------------------------------
def test_policies_list_every_record_with_validity(client, kb):
    body = client.get("/v1/policies", params={"as_of": "2026-12-01"}).json()
    assert body["count"] == len(kb.policies) == len(body["policies"])
    assert {p["policy_id"] for p in body["policies"]} == {p.policy_id for p in kb.policies}
    assert all(p["validity"] in {"current", "expired", "unknown"} and p["items"] for p in body["policies"])


def test_policy_detail_is_the_full_record(client, kb):
    record = kb.policy("zs-2022-digital-transformation")
    body = client.get("/v1/policies/zs-2022-digital-transformation", params={"as_of": "2026-12-01"}).json()
    assert body["record"]["title"] == record.title
    assert [it["item_id"] for it in body["record"]["items"]] == [it.item_id for it in record.items]
    assert body["validity"] in {"current", "expired", "unknown"} and body["validity_note"]


def test_unknown_policy_is_404_in_chinese(client):
    body = assert_chinese_error(client.get("/v1/policies/no-such-policy"), 404)
    assert "no-such-policy" in body["detail"]
    assert body["problems"][0]["field"] == "policy_id"


def test_search_is_the_cli_search(client):
    cli = run_cli("search", "数字化车间 贴息", "--top", "5", "--format", "json")
    assert cli.returncode == 0, cli.stderr
    api = client.get("/v1/search", params={"q": "数字化车间 贴息", "top": 5}).json()
    assert api == json.loads(cli.stdout)
    assert api["results"]


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "贴息", "top": 0}])
def test_search_bad_query_is_422_naming_the_parameter(client, params):
    body = assert_chinese_error(client.get("/v1/search", params=params), 422)
    assert body["problems"][0]["field"] in {"q", "top"}


def test_healthz(client, kb):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["policies"] == len(kb.policies)


def test_openapi_is_documented_in_chinese_with_the_example(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/v1/match", "/v1/batch", "/v1/policies", "/v1/policies/{policy_id}",
                                  "/v1/search", "/healthz"}
    match_op = spec["paths"]["/v1/match"]["post"]
    example = match_op["requestBody"]["content"]["application/json"]["examples"]["古镇灯饰企业"]["value"]
    assert example == EXAMPLE_PROFILE
    assert "匹配" in match_op["summary"]
    profile = spec["components"]["schemas"]["EnterpriseProfile"]
    assert profile["properties"]["annual_revenue_wan"]["description"].startswith("上年度营业收入")
    assert {"413", "422", "500"} <= set(match_op["responses"])


# -- every bad-input class of tests/test_profile.py → 422 naming the field and the value -----------
@pytest.mark.parametrize(("field", "value", "fragment"), BAD_VALUES)
def test_bad_profile_value_is_422_naming_field_and_value(client, field, value, fragment):
    body = assert_chinese_error(client.post("/v1/match", json={"name": "测试企业", field: value}), 422)
    [problem] = body["problems"]
    assert problem["field"] == field
    assert problem["value"] == value
    assert fragment in problem["message"]
    assert field in body["detail"]


def test_all_bad_fields_reported_together(client):
    body = assert_chinese_error(
        client.post("/v1/match", json={"annual_revenue_wan": -1, "digital_level": 0, "town": "深圳"}), 422)
    assert {p["field"] for p in body["problems"]} == {"annual_revenue_wan", "digital_level", "town"}


@pytest.mark.parametrize("content", [b'["not", "a", "profile"]', b"42", b'"text"'])
def test_non_object_profile_is_422(client, content):
    body = assert_chinese_error(client.post("/v1/match", content=content,
                                            headers={"content-type": "application/json"}), 422)
    assert body["problems"][0]["field"] == "profile"


@pytest.mark.parametrize(("content", "fragment"), [
    (b"", "为空"),
    (b'{"sector": "C",', "不是有效的 JSON（第 1 行"),
    (b"\xff\xfe\x00", "UTF-8"),
    (b"[" * 50_000, "嵌套"),
    (b'{"employees": ' + b"9" * 5000 + b"}", "数值"),
])
def test_unreadable_body_is_422_about_the_body(client, content, fragment):
    body = assert_chinese_error(client.post("/v1/match", content=content,
                                            headers={"content-type": "application/json"}), 422)
    assert body["problems"][0]["field"] == "body"
    assert fragment in body["detail"]


@pytest.mark.parametrize(("params", "field"), [
    ({"as_of": "2026-13-45"}, "as_of"),
    ({"as_of": "明天"}, "as_of"),
    ({"top": 0}, "top"),
    ({"top": "三"}, "top"),
    ({"include_expired": "也许"}, "include_expired"),
])
def test_bad_parameter_is_422_in_chinese_naming_it(client, params, field):
    body = assert_chinese_error(client.post("/v1/match", params=params, json=EXAMPLE_PROFILE), 422)
    assert [p["field"] for p in body["problems"]] == [field]
    assert field in body["detail"]


def test_json_sent_as_a_form_is_still_read(client):
    """curl -d labels JSON as a form; the profile is still validated like any other."""
    response = client.post("/v1/match", content=b'{"town": "x"}',
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert assert_chinese_error(response, 422)["problems"][0]["field"] == "town"


# -- oversized bodies: refused before anything is parsed -----------------------------------------
def test_oversized_body_is_413_before_parsing(client):
    # Not JSON at all: a 422 would mean it was parsed; 413 means it was refused on its size.
    body = assert_chinese_error(client.post("/v1/match", content=b"{" * (MAX_MATCH_BODY_BYTES + 1),
                                            headers={"content-type": "application/json"}), 413)
    assert "1 MiB" in body["detail"]


def test_declared_length_alone_is_refused_without_reading(app):
    """An ASGI request that declares a huge Content-Length is answered 413 before the body is
    read: the application never asks for it."""
    import anyio

    sent: list[dict] = []
    reads = 0

    async def receive():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/batch", "raw_path": b"/v1/batch", "root_path": "", "query_string": b"",
             "headers": [(b"content-length", str(MAX_BATCH_BODY_BYTES + 1).encode()),
                         (b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert reads == 0
    assert "policy-match batch" in json.loads(sent[1]["body"])["detail"]


def test_streamed_body_is_cut_at_the_limit(client):
    def chunks():
        for _ in range(MAX_MATCH_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    assert_chinese_error(client.post("/v1/match", content=chunks(), headers={"content-type": "application/json"}), 413)


def test_body_on_a_get_endpoint_is_limited_too(client):
    assert_chinese_error(client.request("GET", "/healthz", content=b"x" * (256 * 1024)), 413)


# -- routing errors and the catch-all -------------------------------------------------------------
def test_unknown_route_and_method_are_chinese(client):
    assert_chinese_error(client.get("/v2/nothing"), 404)
    assert_chinese_error(client.get("/v1/match"), 405)


def test_internal_error_is_a_chinese_500_without_details(caplog):
    """A failure inside a handler: logged for the operator, nothing of it shown to the client."""
    app = create_app()

    def broken():
        return {}["/work/secret/path.py"]  # a KeyError whose text is a server path

    app.add_api_route("/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR, "policy_match.api"):
        response = c.get("/v1/broken")
    body = assert_chinese_error(response, 500)
    assert "secret" not in response.text and "KeyError" not in response.text
    assert body["problems"] == []
    assert any("/v1/broken" in r.getMessage() and r.exc_info for r in caplog.records)


# -- schemathesis over the OpenAPI schema (bounded and seeded) ------------------------------------
def _api_schema():
    loaded = schemathesis.openapi.from_asgi("/openapi.json", create_app())
    # The coverage phase's boundary values only in their valid form (its invalid variants run
    # to several hundred requests); the fuzzing phase still sends both valid and invalid data.
    loaded.config.phases.coverage.generation.modes = [GenerationMode.POSITIVE]
    return loaded


# Loaded at import, not through schemathesis.pytest.from_fixture: its lazy fixture path writes
# pytest's private node ids, which pytest 9.2 no longer has.
schema = _api_schema()


@schema.parametrize()
@settings(max_examples=15, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_openapi_fuzz_no_server_error_and_valid_json(case):
    response = case.call()
    assert response.status_code < 500, response.text
    json.loads(response.text)  # always a JSON document
    # Status documented, body matching its schema. Not "schema-violating data must be rejected":
    # like every interface, the API accepts the forms people write (0/1 for 是/否, "1,500万").
    case.validate_response(response, excluded_checks=[negative_data_rejection])


# -- a live server through the entry point ---------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_on_localhost_and_cuts_streamed_bodies(tmp_path):
    port = _free_port()
    exe = shutil.which("policy-match")
    cmd = [exe] if exe else [sys.executable, "-m", "policy_match"]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*cmd, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        ok = httpx.post(f"{base}/v1/match", params={"as_of": "2026-12-01", "top": 1}, json=EXAMPLE_PROFILE)
        assert ok.status_code == 200 and len(ok.json()["results"]) == 1

        def chunks():  # no Content-Length: chunked transfer, cut off by the streamed count
            for _ in range(MAX_MATCH_BODY_BYTES // 65536 + 4):
                yield b" " * 65536

        big = httpx.post(f"{base}/v1/match", content=chunks(), headers={"content-type": "application/json"})
        assert big.status_code == 413 and "请求体过大" in big.json()["detail"]
        # a second server on the same port gets one Chinese line, not a traceback
        busy = run_cli("serve", "--port", str(port))
        assert busy.returncode != 0 and "端口已被占用" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
