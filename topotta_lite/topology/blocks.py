"""Tables over the 3x3 (3x3x3) neighbour block of a pixel (voxel), shared by two engines.

The persistence engine (``_unionfind``) decides from a block's bit mask whether a pixel joins
two or more groups of earlier neighbours (a saddle); EAI's incremental hole search in
:mod:`topotta_lite.method.fusion` asks the same question of a mask. Both read these tables, so
the rule is written once.

``tables_2d(full)``
    For each 9-bit mask of earlier neighbours (the top and left ones, centre bit 4 clear):
    whether it is a saddle, one representative of each group, and the neighbour a pixel
    points to (``full``: 8-connected groups).
``lower_groups(pre, start, full, is3d, masks)``
    The number of groups among the set bits of ``pre`` (counted up to 2), grown from ``start``.
``MASKS_3D``
    The bit masks that guard the block's faces when a group is grown in 3D.

Examples
--------
>>> saddle, reps, parent = tables_2d(False)  # bits in raster order, the centre is bit 4
>>> bool(saddle[0]), bool(saddle[0b1010]), bool(saddle[0b1011])  # top + left, then + corner
(False, True, False)
"""

from topotta_lite.topology._unionfind import _MASKS_3D as MASKS_3D
from topotta_lite.topology._unionfind import _lower_groups as lower_groups
from topotta_lite.topology._unionfind import _tables_2d as tables_2d

__all__ = ["MASKS_3D", "lower_groups", "tables_2d"]
