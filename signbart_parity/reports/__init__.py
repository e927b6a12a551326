"""The parity report: its one data model (schema, loading, merging) and its renderers
(Markdown, HTML from a template, SVG plots), plus the evaluate report.
"""
