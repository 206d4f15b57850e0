"""The built-in stages: each a frozen dataclass and a pure LazyFrame -> LazyFrame transform."""

from lazyflow.stages.base import Stage
from lazyflow.stages.carry import FundingCarry
from lazyflow.stages.deciles import Deciles
from lazyflow.stages.labels import ForwardReturns
from lazyflow.stages.returns import LogReturns
from lazyflow.stages.rows import DropNulls
from lazyflow.stages.spread import RangeSpread
from lazyflow.stages.target import SigmoidTarget
from lazyflow.stages.universe import VolumeUniverse
from lazyflow.stages.vol import EwmaVol

__all__ = [
    "Deciles",
    "DropNulls",
    "EwmaVol",
    "ForwardReturns",
    "FundingCarry",
    "LogReturns",
    "RangeSpread",
    "SigmoidTarget",
    "Stage",
    "VolumeUniverse",
]
