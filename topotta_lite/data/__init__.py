"""Data: the embedded benchmark (2D / 2.5D / 3D), real-dataset loaders, score-map import.

Examples
--------
>>> from topotta_lite.data import list_categories
>>> list_categories("3d")
['casting', 'composite']
"""

from .embedded import (
    SIZES,
    SizeSpec,
    build_embedded,
    data_root,
    defect_types,
    list_categories,
    load_embedded,
    make_sample,
)
from .gallery import gallery, sample_view
from .loaders import (
    DATASETS,
    find_categories,
    load_anomaly_shapenet,
    load_dataset,
    load_mvtec_3d,
    load_mvtec_ad,
    load_mvtec_loco,
    load_real_iad,
    load_visa,
    read_pcd,
    voxelise,
)
from .maps import load_score_maps, save_score_maps
from .types import ClassSplit, LazySamples, Sample

__all__ = [
    "DATASETS",
    "SIZES",
    "ClassSplit",
    "LazySamples",
    "Sample",
    "SizeSpec",
    "build_embedded",
    "data_root",
    "defect_types",
    "find_categories",
    "gallery",
    "list_categories",
    "load_anomaly_shapenet",
    "load_dataset",
    "load_embedded",
    "load_mvtec_3d",
    "load_mvtec_ad",
    "load_mvtec_loco",
    "load_real_iad",
    "load_score_maps",
    "load_visa",
    "make_sample",
    "read_pcd",
    "sample_view",
    "save_score_maps",
    "voxelise",
]
