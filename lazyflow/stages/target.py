"""Placeholder: being written."""


class SigmoidTarget:
    pass
