"""批量匹配: upload a CSV/Excel list of firms, match them all, download the results workbook."""

import logging
from datetime import date

import pandas as pd
import streamlit as st

from app_pages.common import (
    MAX_UPLOAD_MB,
    UPLOAD_TYPES,
    error_frame,
    load_batch_upload,
    md,
    run_batch_matching,
    streamlit_progress,
    template_csv_bytes,
    template_xlsx_bytes,
    town_frame,
    try_workbook_bytes,
)
from policy_match.fields import field_label
from policy_match.io import InputError
from policy_match.tables import preview_columns
from policy_match.wording import fmt_wan

log = logging.getLogger(__name__)

KEY = "batch"
STATE = f"{KEY}_state"

st.title("批量匹配")
st.markdown("一次为多家企业匹配政策：每行一家企业。列名用模板中的中文名即可，常见写法也能识别"
            "（如 营业收入（亿元）、员工人数、企业名称）；表头写了单位的，按表头单位换算。"
            "支持 Excel（.xlsx）和 CSV（UTF-8、带 BOM 的 UTF-8、GBK）。")

t1, t2 = st.columns(2)
t1.download_button("下载模板（Excel，含填写说明）", template_xlsx_bytes(), file_name="政策匹配_批量模板.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   key=f"{KEY}_template_xlsx", icon=":material/download:", width="stretch")
t2.download_button("下载模板（CSV）", template_csv_bytes(), file_name="政策匹配_批量模板.csv", mime="text/csv",
                   key=f"{KEY}_template", icon=":material/download:", width="stretch")

c1, c2 = st.columns(2)
as_of = c1.date_input("政策基准日", value=date.today(), key=f"{KEY}_as_of")
with c2:
    st.write("")
    include_expired = st.toggle("包含已过期政策", value=False, key=f"{KEY}_include_expired")

uploaded = st.file_uploader("上传企业名单（.xlsx 或 .csv）", type=UPLOAD_TYPES, key=f"{KEY}_upload",
                            max_upload_size=MAX_UPLOAD_MB, help=f"单个文件不超过 {MAX_UPLOAD_MB} MB；只读取第一个工作表")

batch = None
if uploaded is not None:
    try:
        if uploaded.size > MAX_UPLOAD_MB * 1024 * 1024:
            raise InputError(f"文件过大（{uploaded.size / 1048576:.1f} MB，上限 {MAX_UPLOAD_MB} MB），请拆分后上传")
        batch = load_batch_upload(uploaded.getvalue(), uploaded.name)
    except InputError as exc:
        st.error(md(str(exc)))
    except Exception as exc:  # a reader failure we did not foresee: a message, never a traceback
        log.warning("batch upload failed: %s: %s", type(exc).__name__, exc)
        st.error("无法读取该文件：文件可能已损坏或格式不对。请在 Excel 中另存为 .xlsx 或“CSV UTF-8”后再上传。")
    if batch is not None:
        for note in batch.notes:
            if note.startswith("只读取了第一个工作表"):
                st.warning(md(note))
            else:
                st.caption(md(note))
        if batch.ignored_columns:
            st.warning("以下列不是可识别的字段，不参与匹配，内容原样写入企业汇总的“原表其他列”："
                       + md(preview_columns(batch.ignored_columns, shown=15)))
        if batch.problems:
            st.warning(f"{len({p[0] for p in batch.problems})} 行无法读取（见匹配后的“校验失败”），其他行照常匹配。")
        recognised = "、".join(field_label(f) for f in dict.fromkeys(batch.column_map.values()))
        st.caption(f"识别到 {len(batch.rows)} 家企业；使用的列：{md(recognised)}")
        if not batch.rows and not batch.problems:
            st.warning("文件中没有企业数据行。")
        elif st.button(f"开始匹配（{len(batch.rows)} 家企业）", type="primary", key=f"{KEY}_run"):
            bar = st.progress(0.0, text="正在匹配…")
            result = run_batch_matching(batch, as_of=as_of, include_expired=include_expired,
                                        progress=streamlit_progress(bar))
            bar.empty()
            workbook, problem = try_workbook_bytes(result)
            st.session_state[STATE] = {"file": uploaded.name, "result": result, "workbook": workbook,
                                       "workbook_error": problem}

state = st.session_state.get(STATE)
if state is not None:
    result = state["result"]
    towns = town_frame(result)
    st.markdown(f"### 匹配结果：{md(state['file'])}")
    failed_rows = len({e["行号"] for e in result.errors})
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("成功匹配企业", result.ok_rows)
    m2.metric("校验失败行", failed_rows)
    m3.metric("有推荐申报政策的企业", int(sum(s["推荐申报政策数"] > 0 for s in result.summaries)))
    m4.metric("可以预期（合计）", fmt_wan(sum(s["可以预期(万元)"] for s in result.summaries)))
    st.caption(f"政策基准日 {result.as_of.isoformat()}；金额单位万元，只计入推荐申报的事项。“竞争性最高可争取”合计 "
               f"{fmt_wan(sum(s['竞争性最高可争取(万元)'] for s in result.summaries))}，为“最高/不超过”额度，实际以评审核定为准。")

    st.markdown("#### 企业汇总")
    st.dataframe(pd.DataFrame(result.summaries), hide_index=True, width="stretch", key=f"{KEY}_summary")
    st.markdown("#### 按镇街汇总：有政策可用的企业和还没领到的钱")
    st.dataframe(towns, hide_index=True, width="stretch", key=f"{KEY}_towns")
    if result.errors:
        st.markdown("#### 校验失败的行")
        st.caption("这些行没有参与匹配；修改后可重新上传。其他行不受影响。")
        st.dataframe(error_frame(result), hide_index=True, width="stretch", key=f"{KEY}_errors")
    if state["workbook"] is None and st.button("重新生成工作簿", key=f"{KEY}_rebuild"):
        state["workbook"], state["workbook_error"] = try_workbook_bytes(result)
    if state["workbook"] is None:
        st.error(state["workbook_error"])
    else:
        st.download_button("下载结果工作簿（.xlsx）", state["workbook"],
                           file_name=f"政策匹配结果_{result.as_of.isoformat()}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{KEY}_download", type="primary", icon=":material/download:")
