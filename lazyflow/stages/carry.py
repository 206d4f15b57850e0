"""Placeholder: being written."""


class FundingCarry:
    pass
