"""Placeholder: being written."""


class BufferedAllocator:
    pass
