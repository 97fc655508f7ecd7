"""Renderers of the report dict, beside each other: Markdown and HTML.

`tracing.render.markdown` writes CI logs and tickets; `tracing.render.html` a standalone page
for people who will not open the app. They read the JSON form of
`tracing.report.build_report` only, never the engine's results, so a saved report renders the
same later.
"""
