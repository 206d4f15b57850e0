"""Placeholder: being written."""


def seed_carry():
    raise NotImplementedError


def carry():
    raise NotImplementedError
