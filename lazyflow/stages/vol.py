"""Placeholder: being written."""


class EwmaVol:
    pass
