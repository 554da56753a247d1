"""The three segmentation operators behind one call: score map (+ features) -> binary mask.

``op.segment(score_map, features=None, *, support=None) -> bool mask`` of the map's shape;
:class:`THR` is first ``fit`` on nominal validation maps.
"""

from topotta_lite.operators.thr import THR
from topotta_lite.operators.topotta import PRESETS, TopoTTA, TopoTTAResult
from topotta_lite.operators.ttt4as import TTT4AS, TTT4ASResult

OPERATORS = {"thr": THR, "ttt4as": TTT4AS, "topotta": TopoTTA}

__all__ = ["OPERATORS", "PRESETS", "THR", "TTT4AS", "TTT4ASResult", "TopoTTA", "TopoTTAResult"]
