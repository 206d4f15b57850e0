"""Placeholder: being written."""


class Deciles:
    pass
