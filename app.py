"""中山惠企政策匹配 — the Streamlit app.

Run with ``python -m streamlit run app.py``. Pages live in ``app_pages/``; shared UI code in
``app_pages/common.py``; all matching is done by the ``policy_match`` package.
"""

from pathlib import Path

import streamlit as st

from app_pages.common import show_unexpected_error

st.set_page_config(page_title="中山惠企政策匹配", layout="wide")

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

pages = [st.Page("app_pages/self_check.py", title="政策自测", icon=":material/fact_check:", default=True),
         st.Page("app_pages/library.py", title="政策库", icon=":material/menu_book:")]
if (PAGES_DIR / "visits.py").is_file():
    pages.append(st.Page("app_pages/visits.py", title="走访助手", icon=":material/handshake:"))
pages.append(st.Page("app_pages/batch.py", title="批量匹配", icon=":material/table_view:"))

try:
    st.navigation(pages).run()
except Exception as exc:  # last resort; st.rerun/st.stop are BaseExceptions and pass through
    show_unexpected_error("显示本页", exc)
