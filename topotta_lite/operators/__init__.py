"""The three segmentation operators behind one call (DESIGN.md s.1).

``op.segment(score_map, features=None, *, support=None) -> bool mask`` of the map's shape;
:class:`THR` is first ``fit`` on nominal validation maps.
"""

from .thr import THR
from .topotta import TopoTTA, TopoTTAResult
from .ttt4as import TTT4AS, TTT4ASResult

OPERATORS = {"thr": THR, "ttt4as": TTT4AS, "topotta": TopoTTA}

__all__ = ["OPERATORS", "THR", "TTT4AS", "TTT4ASResult", "TopoTTA", "TopoTTAResult"]
