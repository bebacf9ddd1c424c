"""政策自测: an enterprise fills in what it knows and sees which policies fit, why, and how much."""

from datetime import date

import streamlit as st

from app_pages.cards import render_results
from app_pages.common import profile_form, render_profile_problems, run_match
from policy_match import ProfileError

KEY = "sc"
OUTCOME = f"{KEY}_outcome"

st.title("政策自测")
st.markdown("填写贵司的基本情况和发展计划，逐条核对中山市惠企政策的申请条件，估算可得金额，并告诉您下一步怎么做。"
            "所有项目均为选填：填得越多，结论越确定。")

c1, c2 = st.columns([1, 1])
as_of = c1.date_input("政策基准日", value=date.today(), key=f"{KEY}_as_of",
                      help="按这一天判断政策是否在有效期内（默认今天）")
with c2:
    st.write("")
    include_expired = st.toggle("显示已过期政策", value=False, key=f"{KEY}_include_expired",
                                help="已过期或基准日尚未生效的政策也列出，并标注“已过期”")

raw = profile_form(KEY)
if raw is not None:
    # The matcher runs only here, on submit; other widget changes re-render the stored outcome.
    try:
        st.session_state[OUTCOME] = {"result": run_match(raw, as_of=as_of, include_expired=include_expired),
                                     "as_of": as_of, "include_expired": include_expired}
    except ProfileError as exc:
        st.session_state[OUTCOME] = {"problems": exc.problems}

outcome = st.session_state.get(OUTCOME)
if outcome is None:
    st.info("填写后点击“开始匹配”。什么都不填也可以：会列出所有政策，并说明每项需要补充什么信息。")
elif "problems" in outcome:
    render_profile_problems(outcome["problems"])
else:
    if (outcome["as_of"], outcome["include_expired"]) != (as_of, include_expired):
        st.info("政策基准日或“显示已过期政策”已更改：点击“开始匹配”即可按新设置更新结果。")
    render_results(outcome["result"], key_prefix=KEY)
