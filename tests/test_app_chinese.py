"""The app in Chinese and in order, through AppTest: the profile form a person fills on a phone,
the batch uploader and templates, the 政策库 search and detail, the money chart."""

from __future__ import annotations

import io

import openpyxl
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from policy_match.fields import FORM_ORDER, FORM_SECTIONS  # noqa: E402

from .conftest import ROOT  # noqa: E402

TIMEOUT = 60
APP = str(ROOT / "app.py")


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page(path: str) -> AppTest:
    at = new_app()
    at.switch_page(path).run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def walk(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from walk(child)


# --- the profile form -------------------------------------------------------------------------


def test_form_does_not_submit_on_enter():
    at = new_app()
    forms = [n for n in walk(at.main) if getattr(n, "type", "") == "form"]
    assert len(forms) == 1
    assert forms[0].proto.form.form_id == "sc_form"
    assert forms[0].proto.form.enter_to_submit is False  # no "Press Enter to submit form", no half-filled submit


def test_form_fields_come_in_the_order_a_firm_thinks():
    at = new_app()
    prefix = "sc_"
    keys = [n.key[len(prefix):] for n in walk(at.main)
            if getattr(n, "key", None) and str(n.key).startswith(prefix) and n.key[len(prefix):] in FORM_ORDER]
    assert keys == list(FORM_ORDER)
    assert keys[:3] == ["name", "town", "sector"]
    assert keys.index("relocating_from_renovation_area") + 1 == keys.index("leased_area_m2")
    assert keys.index("above_scale") + 1 == keys.index("newly_above_scale_year")


def test_form_rows_hold_one_field_or_a_pair_so_a_phone_keeps_the_order():
    at = new_app()
    # every horizontal block (st.columns) in the form holds exactly one row of FORM_SECTIONS
    pairs = {row for rows in FORM_SECTIONS.values() for row in rows if len(row) == 2}
    seen = []
    for node in walk(at.main):
        if getattr(node, "type", "") == "flex_container" and node.proto.flex_container.direction == 2:
            keys = tuple(str(n.key).removeprefix("sc_") for n in walk(node)
                         if getattr(n, "key", None) and str(n.key).removeprefix("sc_") in FORM_ORDER)
            if keys:
                seen.append(keys)
    assert pairs <= set(seen), set(seen) ^ pairs
    assert all(len(k) <= 2 for k in seen)


def test_form_still_collects_what_is_filled():
    at = new_app()
    at.text_input(key="sc_name").set_value("顺序测试公司")
    at.selectbox(key="sc_relocating_from_renovation_area").set_value("是")
    at.number_input(key="sc_leased_area_m2").set_value(3000)
    at.button(key="sc_submit").click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    assert at.text[0].value == "企业：顺序测试公司"


# --- the batch page -----------------------------------------------------------------------------


def test_batch_uploader_and_templates_are_chinese():
    at = page("app_pages/batch.py")
    uploader = at.get("file_uploader")[0]
    assert uploader.proto.label == "上传企业名单（.xlsx 或 .csv）"
    assert set(uploader.proto.type) >= {".csv", ".xlsx"}
    assert not [t for t in uploader.proto.type if "openxmlformats" in t]  # no long MIME type in the hint
    styles = [h.proto.body for h in at.get("html")]
    assert any("选择文件" in s and "stFileUploaderDropzoneInstructions" in s for s in styles)
    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert {"下载模板（Excel，含填写说明）", "下载模板（CSV）"} <= set(buttons)


def test_batch_upload_with_written_headers_converts_units():
    at = page("app_pages/batch.py")
    data = ("企业名称,所在镇区,营业收入（亿元）,员工人数,备注\n"
            "亿元公司,古镇,1.2,80,重点\n").encode("utf-8-sig")
    at.file_uploader(key="batch_upload").set_value(("名单.csv", data, "text/csv")).run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    assert any("已换算为万元" in c.value for c in at.caption)
    assert any("备注" in w.value for w in at.warning)  # the unknown column is still reported
    assert "上年度营业收入" in " ".join(c.value for c in at.caption)  # the revenue column is used
    at.button(key="batch_run").click().run(timeout=TIMEOUT)
    assert not at.exception
    summary = at.dataframe[0].value
    assert list(summary["企业名称"]) == ["亿元公司"]


def test_batch_refused_unit_is_a_chinese_error():
    at = page("app_pages/batch.py")
    data = "企业名称,营业收入（万美元）\n甲,12\n".encode("utf-8-sig")
    at.file_uploader(key="batch_upload").set_value(("名单.csv", data, "text/csv")).run(timeout=TIMEOUT)
    assert not at.exception
    assert len(at.error) == 1 and "营业收入（万美元）" in at.error[0].value and "无法换算" in at.error[0].value


def test_template_workbook_download_has_notes():
    from app_pages.common import template_xlsx_bytes

    book = openpyxl.load_workbook(io.BytesIO(template_xlsx_bytes()))
    assert book.sheetnames == ["企业名单", "说明"]
    assert book["企业名单"]["A1"].value == "企业名称"


# --- 政策库 ----------------------------------------------------------------------------------------


def library() -> AppTest:
    return page("app_pages/library.py")


def shown_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["政策编号"])


def detail_title(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("### "))


def test_detail_follows_a_new_search():
    at = library()
    at.text_input(key="lib_query").set_value("数字化").run(timeout=TIMEOUT)
    first = shown_ids(at)
    assert "zs-2022-digital-transformation" in first
    assert at.selectbox(key="lib_detail").value == first[0]
    at.selectbox(key="lib_detail").set_value("zs-2022-digital-transformation").run(timeout=TIMEOUT)
    assert "数字化智能化转型" in detail_title(at)
    at.text_input(key="lib_query").set_value("独立站").run(timeout=TIMEOUT)
    second = shown_ids(at)
    assert at.selectbox(key="lib_detail").value == second[0] == "zs-2022-cross-border-ecommerce"
    assert "跨境电商" in detail_title(at)


def test_search_ranks_what_a_person_means():
    from policy_match.knowledge import bundled_knowledge_base

    kb = bundled_knowledge_base()
    at = library()
    at.text_input(key="lib_query").set_value("独立站").run(timeout=TIMEOUT)
    ids = shown_ids(at)
    assert ids[0] == "zs-2022-cross-border-ecommerce"
    assert "zs-2022-digital-transformation" not in ids  # "数字贷" shares a character, not a meaning
    statuses = set(at.dataframe[0].value["今日有效性"])
    assert "已过期" not in statuses
    # ended policies and government-side items appear only when asked for
    at.text_input(key="lib_query").set_value("贴息").run(timeout=TIMEOUT)
    default = shown_ids(at)
    assert "zs-2024-foreign-trade-fund" not in default  # the import subsidies have ended
    hidden_note = [c.value for c in at.caption if "未列出" in c.value]
    assert hidden_note
    at.toggle(key="lib_include_all").set_value(True).run(timeout=TIMEOUT)
    every = shown_ids(at)
    assert set(default) < set(every) and "zs-2024-foreign-trade-fund" in every
    government = {p.policy_id for p in kb.policies if all(it.applicant in {"government", "town_government"}
                                                            for it in p.items)}
    at.toggle(key="lib_include_all").set_value(False).run(timeout=TIMEOUT)
    at.text_input(key="lib_query").set_value("投资").run(timeout=TIMEOUT)
    assert not set(shown_ids(at)) & government


def test_library_shows_fewer_sized_columns():
    at = library()
    frame = at.dataframe[0]
    assert list(frame.proto.column_order) == ["政策名称", "今日有效性", "级别", "主管部门", "支持方式", "事项数"]
    import json

    config = json.loads(frame.proto.columns)
    widths = {name: config[name]["width"] for name in frame.proto.column_order}
    assert sum(widths.values()) <= 920  # fits the main column at 1440 px (checked in Chromium too)


def test_detail_uses_the_validity_note_and_ranks_sources():
    from policy_match.knowledge import bundled_knowledge_base
    from policy_match.sources import classify

    kb = bundled_knowledge_base()
    at = library()
    texts_checked = 0
    for policy in kb.policies[:60]:
        if policy.validity.start or policy.validity.end:
            continue
        at.selectbox(key="lib_detail").set_value(policy.policy_id).run(timeout=TIMEOUT)
        text = "\n".join(m.value for m in at.markdown)
        assert "未公开 至 未公开" not in text and "至 未公开" not in text
        assert "**今日状态**" in text
        texts_checked += 1
        sources = text.split("#### 来源\n", 1)[1].splitlines()
        ranks = [list(("政府官网", "政府网页转载/摘要", "新闻报道", "其他网站", "未分类")).index(
            line.rsplit("（", 1)[1].rstrip("）")) for line in sources if line.startswith("- ")]
        assert ranks == sorted(ranks), policy.policy_id
        if len({classify(s).source_class for s in policy.sources}) > 1:
            break
    assert texts_checked


# --- the money chart ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 3, 7])
def test_money_chart_writes_every_name(count):
    from app_pages.cards import money_chart, money_frame

    result = {"results": [{"fit": "recommended", "title": f"政策{i}", "short_title": f"第{i}项政策",
                           "amount_wan": {"low": 0, "high": 10 * (i + 1)}} for i in range(count)]}
    frame = money_frame(result)
    spec = money_chart(frame).to_dict()
    text_layer = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "text")
    assert text_layer["encoding"]["text"]["field"] == "标注"
    assert spec["height"] == {"step": 48}  # grows with the number of policies
    values = next(iter(spec["datasets"].values()))
    assert [v["标注"] for v in values] == [f"第{i}项政策：最高 {10 * (i + 1)} 万元" for i in reversed(range(count))]
    y_axes = [layer["encoding"]["y"].get("axis", "x") for layer in spec["layer"] if "y" in layer.get("encoding", {})]
    assert y_axes in ([None, None], [])  # no axis labels that Vega could drop
