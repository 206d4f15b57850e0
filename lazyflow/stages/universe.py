"""Placeholder: being written."""


class VolumeUniverse:
    pass
