"""Placeholder: being written."""


def synthetic_panel(*a, **k):
    raise NotImplementedError
