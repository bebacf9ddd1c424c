"""The Streamlit app, driven headless with ``streamlit.testing.v1.AppTest``.

Every page is reached through ``app.py`` (``st.navigation``), as a user would. The batch
upload is driven through the real ``st.file_uploader`` (AppTest supports it in this
Streamlit version); the upload helpers of ``app_pages/common.py`` are also tested directly.
"""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from .conftest import CONTRACT_POLICY_IDS

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 30
XSS = "<script>alert(1)</script>"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def submit(at: AppTest) -> AppTest:
    at.button(key="sc_submit").click()
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def cards(at: AppTest, prefix: str = "sc") -> list:
    """The bordered result cards (containers keyed ``{prefix}_card_{rank}``)."""
    found, stack = [], [at.main]
    while stack:
        node = stack.pop()
        for child in getattr(node, "children", {}).values():
            key = getattr(getattr(child, "proto", None), "id", "") or ""
            if f"{prefix}_card_" in key:
                found.append(child)
            stack.append(child)
    return found


def element_types(node) -> list[str]:
    out = []
    for child in getattr(node, "children", {}).values():
        out.append(getattr(child, "type", ""))
        out += element_types(child)
    return out


# --------------------------------------------------------------------------------------
# 政策自测
# --------------------------------------------------------------------------------------


def fill_manufacturer(at: AppTest) -> None:
    at.text_input(key="sc_name").set_value("中山市明灯照明有限公司")
    at.selectbox(key="sc_town").set_value("古镇镇")
    at.selectbox(key="sc_registered_in_zhongshan").set_value("是")
    at.selectbox(key="sc_sector").set_value("C")
    at.text_input(key="sc_industry").set_value("灯饰照明制造")
    at.selectbox(key="sc_above_scale").set_value("是")
    at.number_input(key="sc_annual_revenue_wan").set_value(12000)
    at.multiselect(key="sc_qualifications").set_value(["高新技术企业"])
    at.selectbox(key="sc_credit_ok").set_value("是")
    at.text_area(key="sc_plans").set_value("明年计划投入3000万元上MES系统和自动化产线，建设数字化车间")
    at.number_input(key="sc_equipment_software_investment_wan").set_value(3000)


def test_form_fields_start_unknown():
    at = new_app()
    # yes/no fields are 未填写/是/否 selects (never a checkbox defaulting to "no"); numbers start empty
    assert at.selectbox(key="sc_above_scale").value == "未填写"
    assert list(at.selectbox(key="sc_above_scale").options) == ["未填写", "是", "否"]
    assert at.selectbox(key="sc_town").value == "未填写"
    assert at.number_input(key="sc_annual_revenue_wan").value is None
    assert at.number_input(key="sc_employees").value is None
    assert "C 制造业" in at.selectbox(key="sc_sector").options
    assert not cards(at)  # nothing is matched before the first submit


def test_manufacturer_gets_digital_policy_with_amount():
    at = new_app()
    fill_manufacturer(at)
    submit(at)
    assert not at.error
    found = cards(at)
    assert len(found) >= 2  # the digital-transformation policy and the SME pilot
    first = "\n".join(m.value for m in found[0].markdown)
    text = markdown_text(at)
    assert "数字化智能化" in text
    # the digital-transformation subsidy: 3000万 × 20% = 600万, with the formula shown
    assert "设备和软件投入 3000万 × 20" in text
    assert "最高 600 万元" in text
    # the advice first: what to act on, and the money split into what it can count on and the "up to"
    assert any(m.value.startswith("**推荐申报 ") for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["推荐申报"] == f"{len(found)} 项"
    assert metrics["可以预期"] == "0 万元" and metrics["竞争性最高可争取"] != "0 万元"
    assert "推荐申报" in first and "badge[" in first  # fit and status badges on the card
    assert any("满足：" in m.value for m in at.markdown)
    # the pilot ends 2026-12-31: the deadline is flagged above the cards
    assert any("截止，还剩" in w.value for w in at.warning)
    assert "### 普遍适用的服务" in text
    assert "vega_lite_chart" in element_types(at.main)
    assert at.text[0].value == "企业：中山市明灯照明有限公司"


def test_empty_form_submit_recommends_nothing_but_lists_the_rest():
    at = new_app()
    submit(at)
    assert not at.error
    # a firm that fills in nothing is told nothing points to a policy yet, not "可能符合 12 项"
    assert not cards(at)
    info = next(i.value for i in at.info if "暂无可以明确推荐的政策" in i.value)
    # it points only to the sections shown below it
    assert ("差一点就能享受" in info) == ("### 差一点就能享受" in markdown_text(at))
    assert "其他可了解的政策" in info
    assert {m.label: m.value for m in at.metric}["推荐申报"] == "0 项"
    text = markdown_text(at)
    assert "### 普遍适用的服务" in text
    assert any("其他可了解的政策" in e.label for e in at.expander)
    assert "补充：" in text  # each other policy says which facts would decide it


def test_negative_revenue_names_field_and_keeps_values():
    at = new_app()
    at.text_input(key="sc_name").set_value("负营收公司")
    at.selectbox(key="sc_sector").set_value("C")
    at.number_input(key="sc_annual_revenue_wan").set_value(-5)
    submit(at)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "上年度营业收入" in message and "-5" in message
    assert "Traceback" not in message
    assert not cards(at)
    # the form keeps what was typed
    assert at.text_input(key="sc_name").value == "负营收公司"
    assert at.number_input(key="sc_annual_revenue_wan").value == -5
    assert at.selectbox(key="sc_sector").value == "C"
    # fixing the value and submitting again clears the error and matches
    at.number_input(key="sc_annual_revenue_wan").set_value(5000)
    submit(at)
    assert not at.error
    assert any(m.value.startswith("**推荐申报 ") or "暂无可以明确推荐" in m.value for m in [*at.markdown, *at.info])


def test_html_in_name_is_shown_as_text():
    at = new_app()
    at.text_input(key="sc_name").set_value(XSS)
    at.text_area(key="sc_plans").set_value(f"**粗体** {XSS} $x$ 上MES")
    submit(at)
    assert not at.exception
    assert any(t.value == f"企业：{XSS}" for t in at.text)
    # nowhere handed to markdown unescaped (markdown would be the only way to render it)
    assert not any("<script" in m.value for m in at.markdown)
    assert not any("<script" in getattr(e, "value", "") for e in at.info)


def test_matcher_runs_only_on_submit(monkeypatch):
    from policy_match.matcher import Matcher

    calls = []
    original = Matcher.match

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Matcher, "match", counting)
    at = new_app()
    fill_manufacturer(at)
    submit(at)
    assert len(calls) == 1
    assert not cards(at, "sc_out")
    at.toggle(key="sc_show_ineligible").set_value(True).run(timeout=TIMEOUT)
    assert not at.exception
    assert len(calls) == 1, "an unrelated widget change must not rerun the matcher"
    assert cards(at, "sc_out")  # the toggle added the 暂不符合 cards from the stored result
    assert any("暂不符合" in m.value for m in at.markdown)
    # changing the as-of date does not rematch either; it says a submit is needed
    at.toggle(key="sc_include_expired").set_value(True).run(timeout=TIMEOUT)
    assert len(calls) == 1
    assert any("已更改" in i.value for i in at.info)


def test_include_expired_shows_expired_policies():
    at = new_app()
    at.date_input(key="sc_as_of").set_value("2021-06-01")
    submit(at)
    default = markdown_text(at)
    at.toggle(key="sc_include_expired").set_value(True).run(timeout=TIMEOUT)
    submit(at)
    at.toggle(key="sc_show_ineligible").set_value(True).run(timeout=TIMEOUT)
    assert "已过期" in markdown_text(at)
    assert "已过期" not in default.split("### 匹配结果", 1)[1]


# --------------------------------------------------------------------------------------
# 政策库
# --------------------------------------------------------------------------------------


def library() -> AppTest:
    at = new_app()
    at.switch_page("app_pages/library.py").run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_library_lists_all_records(kb):
    at = library()
    table = at.dataframe[0].value
    assert len(table) == len(kb.policies)
    assert set(table["政策编号"]) >= CONTRACT_POLICY_IDS
    assert {"政策名称", "文号", "级别", "主管部门", "2022-02-15 政策包", "今日有效性", "支持方式"} <= set(table.columns)


def test_library_search_and_filters(kb):
    at = library()
    at.text_input(key="lib_query").set_value("跨境电商").run(timeout=TIMEOUT)
    ids = list(at.dataframe[0].value["政策编号"])
    assert ids[0] == "zs-2022-cross-border-ecommerce"
    assert 1 <= len(ids) < len(kb.policies)
    at.text_input(key="lib_query").set_value("").run(timeout=TIMEOUT)
    at.multiselect(key="lib_package").set_value(["confirmed"]).run(timeout=TIMEOUT)
    assert len(at.dataframe[0].value) == 2
    at.multiselect(key="lib_package").set_value([]).run(timeout=TIMEOUT)
    at.multiselect(key="lib_level").set_value(["town"]).run(timeout=TIMEOUT)
    town_ids = set(at.dataframe[0].value["政策编号"])
    assert town_ids == {p.policy_id for p in kb.policies if p.level == "town"}
    assert {"zs-cuiheng-2022-warm-enterprise", "zs-nantou-ecommerce"} <= town_ids
    at.multiselect(key="lib_level").set_value([])
    at.multiselect(key="lib_support_type").set_value(["股权投资"]).run(timeout=TIMEOUT)
    assert 1 <= len(at.dataframe[0].value) < len(kb.policies)
    at.text_input(key="lib_query").set_value("完全不相关的词xyz").run(timeout=TIMEOUT)
    assert len(at.dataframe[0].value) == 0
    assert any("没有符合条件" in i.value for i in at.info)


def test_library_detail_view():
    at = library()
    at.selectbox(key="lib_detail").set_value("zs-2022-digital-transformation").run(timeout=TIMEOUT)
    assert not at.exception
    text = markdown_text(at)
    assert "### 中山市推进制造业数字化智能化转型发展若干政策措施" in text
    for label in ("**文号**", "**发文单位**", "**发布日期**", "**今日状态**", "公开资料未说明的事项", "#### 来源"):
        assert label in text
    assert "未公开 至 未公开" not in text  # no documented dates: the validity note says what is known
    assert "制造业企业" in text and "来源：[" in text  # conditions with their source links
    assert "**信息可信度**" in text
    item_expanders = [e for e in at.expander if "·" in e.label]
    from policy_match.knowledge import bundled_knowledge_base

    n_items = len(bundled_knowledge_base().policy("zs-2022-digital-transformation").items)
    assert len(item_expanders) == n_items
    assert len(at.dataframe) == 2  # the records table and the bundles table


# --------------------------------------------------------------------------------------
# 批量匹配
# --------------------------------------------------------------------------------------

GBK_CSV = (
    "企业名称,所在镇街,行业门类,是否规上,营业收入,资质,发展计划,equipment_software_investment_wan\n"
    "古镇明灯照明,古镇,C,是,12000,高新技术企业、专精特新中小企业,上MES系统建设数字化车间,3000\n"
    "小榄五金,小榄镇,C,否,800,,扩产买地,\n"
    "坏数据公司,火星镇,C,是,-5,,,\n"
)


def batch_page() -> AppTest:
    at = new_app()
    at.switch_page("app_pages/batch.py").run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="batch_upload").set_value((name, data, mime))
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_batch_gbk_csv_end_to_end():
    at = batch_page()
    assert at.download_button(key="batch_template")  # the template is offered
    upload(at, "企业名单.csv", GBK_CSV.encode("gbk"))
    assert not at.error
    assert not at.warning  # every column is recognised
    at.button(key="batch_run").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    summary, towns, errors = (d.value for d in at.dataframe)
    assert list(summary["企业名称"]) == ["古镇明灯照明", "小榄五金"]
    assert summary.loc[0, "推荐申报政策数"] > 0 and summary.loc[0, "竞争性最高可争取(万元)"] > 0
    assert set(towns["所在镇街"]) == {"古镇镇", "小榄镇"}
    assert towns.loc[0, "竞争性最高可争取(万元)"] == summary["竞争性最高可争取(万元)"].max()
    # per town: firms that have something to act on, not firms with any "possible" policy
    assert towns["有推荐申报政策的企业数"].sum() == int((summary["推荐申报政策数"] > 0).sum())
    assert set(errors["字段"]) == {"所在镇街", "上年度营业收入"}  # labels, not field codes
    assert set(errors["行号"]) == {4}
    assert at.download_button(key="batch_download")
    assert [m.value for m in at.metric][:2] == ["2", "1"]
    # the results stay after an unrelated rerun
    at.toggle(key="batch_include_expired").set_value(True).run(timeout=TIMEOUT)
    assert len(at.dataframe) == 3


def test_batch_unknown_columns_warned():
    at = batch_page()
    data = "企业名称,所在镇街,客户经理,备注\n甲公司,古镇镇,张三,重点\n".encode("utf-8-sig")
    upload(at, "list.csv", data)
    assert not at.error
    assert len(at.warning) == 1
    assert "客户经理" in at.warning[0].value and "备注" in at.warning[0].value
    assert at.button(key="batch_run")


def test_batch_no_known_columns_is_an_error():
    at = batch_page()
    upload(at, "list.csv", "客户经理,备注\n张三,重点\n".encode())
    assert len(at.error) == 1 and "没有可识别的列" in at.error[0].value
    with pytest.raises(KeyError):
        at.button(key="batch_run")


def test_batch_wrong_file_type():
    at = batch_page()
    upload(at, "名单.pdf", b"%PDF-1.4 not a table", "application/pdf")
    assert len(at.error) == 1
    assert ".csv" in at.error[0].value and ".xlsx" in at.error[0].value
    with pytest.raises(KeyError):
        at.button(key="batch_run")


def test_batch_xlsx_upload():
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame([{"name": "表格公司", "town": "石岐街道", "sector": "F", "cross_border_ecommerce": "是"}]).to_excel(
        buffer, index=False)
    at = batch_page()
    upload(at, "firms.xlsx", buffer.getvalue(),
           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert not at.error
    at.button(key="batch_run").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert list(at.dataframe[0].value["企业名称"]) == ["表格公司"]


def test_batch_decompression_bomb_upload_is_a_short_chinese_error():
    import zipfile

    buffer = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["name", "town"])
    book.save(buffer)
    src = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            if item.filename != "xl/sharedStrings.xml":
                z.writestr(item, src.read(item.filename))
        z.writestr("xl/sharedStrings.xml", b"<sst><si><t>" + b"A" * 50_000_000 + b"</t></si></sst>")
    at = batch_page()
    upload(at, "名单.xlsx", bomb.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert len(at.error) == 1 and "压缩炸弹" in at.error[0].value and len(at.error[0].value) < 300
    with pytest.raises(KeyError):
        at.button(key="batch_run")


def test_batch_ragged_row_and_other_sheets_are_reported():
    at = batch_page()
    upload(at, "list.csv", "企业名称,所在镇街\n甲公司,古镇镇\n乙公司,小榄镇,多余,两列\n丙公司,石岐街道\n".encode())
    assert not at.error
    assert any("1 行无法读取" in w.value for w in at.warning)
    at.button(key="batch_run").click().run(timeout=TIMEOUT)
    assert not at.exception
    summary, _, errors = (d.value for d in at.dataframe)
    assert list(summary["企业名称"]) == ["甲公司", "丙公司"]
    assert list(errors["行号"]) == [3] and "表头只有 2 列" in errors.loc[0, "原因"]

    buffer = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["企业名称", "所在镇街"])
    book.active.append(["甲公司", "古镇镇"])
    book.create_sheet("小榄").append(["企业名称", "所在镇街"])
    book.save(buffer)
    at = batch_page()
    upload(at, "firms.xlsx", buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert any("“小榄”" in w.value and "只读取了第一个工作表" in w.value for w in at.warning)


def test_batch_workbook_failure_keeps_results_and_can_retry(monkeypatch):
    import tempfile

    at = batch_page()
    upload(at, "企业名单.csv", GBK_CSV.encode("gbk"))
    monkeypatch.setattr(tempfile, "tempdir", "/nonexistent/tmp")  # the server's temporary disk is gone
    at.button(key="batch_run").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert len(at.error) == 1 and "生成结果工作簿失败" in at.error[0].value
    assert "/nonexistent" not in at.error[0].value and "Traceback" not in at.error[0].value
    assert list(at.dataframe[0].value["企业名称"]) == ["古镇明灯照明", "小榄五金"]  # the results stay
    with pytest.raises(KeyError):
        at.download_button(key="batch_download")
    monkeypatch.undo()
    at.button(key="batch_rebuild").click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    assert at.download_button(key="batch_download")


# --------------------------------------------------------------------------------------
# Helpers of app_pages/common.py, directly
# --------------------------------------------------------------------------------------


def test_md_escapes_markup():
    from app_pages.common import md

    assert md(XSS) == r"\<script\>alert\(1\)\<\/script\>"
    assert md("**x** [a](b) $y$ :red[z]") == r"\*\*x\*\* \[a\]\(b\) \$y\$ \:red\[z\]"
    assert md("灯饰照明") == "灯饰照明"


def test_load_batch_upload_rejects_bad_files():
    from app_pages.common import MAX_UPLOAD_BYTES, load_batch_upload
    from policy_match.io import InputError

    batch = load_batch_upload(GBK_CSV.encode("gbk"), "firms.csv")
    assert [raw["name"] for _, raw in batch.rows] == ["古镇明灯照明", "小榄五金", "坏数据公司"]
    with pytest.raises(InputError, match="文件过大"):
        load_batch_upload(b"a" * (MAX_UPLOAD_BYTES + 1), "big.csv")
    with pytest.raises(InputError, match="不支持的文件类型"):
        load_batch_upload(b"name\n1\n", "firms.txt")
    with pytest.raises(InputError, match="已损坏|格式不对"):
        load_batch_upload(b"not a zip", "firms.xlsx")


def test_progress_adaptor_and_workbook():
    from app_pages.common import load_batch_upload, run_batch_matching, streamlit_progress, town_frame, workbook_bytes

    class Bar:
        def __init__(self):
            self.calls = []

        def progress(self, value, text=None):
            self.calls.append((value, text))

    bar = Bar()
    batch = load_batch_upload(GBK_CSV.encode("gbk"), "firms.csv")
    result = run_batch_matching(batch, as_of="2025-06-01", include_expired=False, progress=streamlit_progress(bar))
    assert result.ok_rows == 2 and len(result.errors) == 2
    assert bar.calls[-1][0] == 1.0 and "3/3" in bar.calls[-1][1]  # every row, the failed one too
    towns = town_frame(result)
    assert towns["企业数"].sum() == 2
    assert towns["竞争性最高可争取(万元)"].sum() == pytest.approx(
        sum(s["竞争性最高可争取(万元)"] for s in result.summaries), abs=0.05)
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes(result)))
    assert book.sheetnames == ["企业汇总", "镇街汇总", "政策明细", "校验失败", "说明"]


def test_templates_are_chinese_and_roundtrip():
    from app_pages.common import load_batch_upload, template_csv_bytes, template_xlsx_bytes

    data = template_csv_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header = data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:3] == ["企业名称", "所在镇街", "行业门类"] and "上年度营业收入（万元）" in header
    assert not any(h.isascii() for h in header)  # no field codes
    for name, raw in (("template.csv", data), ("template.xlsx", template_xlsx_bytes())):
        batch = load_batch_upload(raw, name)
        assert not batch.ignored_columns and not batch.notes[1:] and len(batch.rows) == 1, name
        assert batch.rows[0][1]["annual_revenue_wan"] in (12000, "12000")


def test_normalise_defaults_keeps_valid_values():
    from app_pages.common import normalise_defaults

    d = normalise_defaults({"town": "古镇", "above_scale": "是", "annual_revenue_wan": -1, "sector": "制造业",
                            "qualifications": "高企", "bogus": 1})
    assert d == {"town": "古镇镇", "above_scale": True, "sector": "C", "qualifications": ["高新技术企业"]}


def test_profile_form_prefills_defaults():
    at = AppTest.from_string(
        """
import streamlit as st
from app_pages.common import profile_form
raw = profile_form("v", {"name": "预填公司", "town": "小榄", "above_scale": False, "employees": 120,
                         "qualifications": []})
if raw is not None:
    st.session_state["raw"] = raw
""",
        default_timeout=TIMEOUT,
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="v_name").value == "预填公司"
    assert at.selectbox(key="v_town").value == "小榄镇"
    assert at.selectbox(key="v_above_scale").value == "否"
    assert at.number_input(key="v_employees").value == 120
    assert at.checkbox(key="v_no_qualifications").value is True
    at.button(key="v_submit").click().run()
    assert at.session_state["raw"] == {"name": "预填公司", "town": "小榄镇", "above_scale": False,
                                       "employees": 120, "qualifications": []}
