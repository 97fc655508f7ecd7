"""The app's UI helpers: view state and URL, cached engine calls, formatting, charts, layout.

Only the app (``app.py``, ``pages/``) imports this package; the engine (``tracing/``) never
imports streamlit.
"""
