"""Postmortem drafts: templates, the view of an incident they render, and escaping."""
