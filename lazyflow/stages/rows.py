"""Placeholder: being written."""


class DropNulls:
    pass
