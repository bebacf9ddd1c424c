"""Pages of the Streamlit app (``app.py``). Shared UI code lives in ``common``."""
