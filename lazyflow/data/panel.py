"""Placeholder: being written."""


def scan_panel(*a, **k):
    raise NotImplementedError


PANEL_COLUMNS = {}
