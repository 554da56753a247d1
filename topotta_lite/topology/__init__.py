"""Topology: cubical persistent homology of score maps, Euler characteristics, connectivity.

This subpackage is the mathematics the method stands on, and nothing else:

==========================  ===================================================================
:mod:`.persistence`         :func:`cubical_persistence` of 2D/3D maps (sub/superlevel, V/T
                            constructions) with the cells that create and kill each feature;
                            backends: our numba engine, gudhi, cripser, giotto-tda
:mod:`.euler`               Euler characteristic of binary masks by cell counting
:mod:`.connectivity`        what "connected" means for each construction
:mod:`.cubical`             exact homology over Z2 of tiny complexes (the teaching oracle)
:mod:`.blocks`              the neighbour-block tables shared by the engine and EAI's hole search
==========================  ===================================================================

Examples
--------
>>> import numpy as np
>>> from topotta_lite.topology import cubical_persistence, euler_characteristic
>>> psi = np.zeros((5, 5)); psi[1:4, 1:4] = 1.0; psi[2, 2] = 0.0   # a bright ring
>>> dg = cubical_persistence(psi, "superlevel", dims=[0, 1])
>>> dg.dims.tolist()
[0, 1]
>>> euler_characteristic(psi > 0.5)
0
"""

from topotta_lite.topology.connectivity import connectivity_structure, is_full, neighbour_offsets
from topotta_lite.topology.cubical import CubicalComplex, rank_z2
from topotta_lite.topology.euler import betti_numbers, euler_characteristic, euler_curve
from topotta_lite.topology.persistence import (
    BACKENDS,
    PersistenceDiagram,
    PreparedMap,
    check_dims,
    check_levels,
    cubical_persistence,
    diagram_of_prepared,
    essential_h0_diagram,
    h1_bound_3d,
    prepare_map,
    quantise,
    top1_3d,
    top_dimension_top1,
)

__all__ = [
    "BACKENDS",
    "CubicalComplex",
    "PersistenceDiagram",
    "PreparedMap",
    "betti_numbers",
    "check_dims",
    "check_levels",
    "connectivity_structure",
    "cubical_persistence",
    "diagram_of_prepared",
    "essential_h0_diagram",
    "euler_characteristic",
    "euler_curve",
    "h1_bound_3d",
    "is_full",
    "neighbour_offsets",
    "prepare_map",
    "quantise",
    "rank_z2",
    "top1_3d",
    "top_dimension_top1",
]
