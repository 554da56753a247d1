"""Data: the embedded benchmark (2D / 2.5D / 3D), real-dataset loaders, score-map import.

Examples
--------
>>> from topotta_lite.data import list_categories
>>> list_categories("3d")
['casting', 'composite']
"""

from .checks import (
    DatasetError,
    DatasetReport,
    check_dataset,
    check_score_maps,
    is_embedded,
    resolve_classes,
)
from .embedded import (
    PARTS,
    SIZES,
    SizeSpec,
    build_embedded,
    data_root,
    dataset_name,
    defect_types,
    list_categories,
    load_embedded,
    make_sample,
    parse_dataset_name,
    sample_seed,
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
from .maps import (
    MAP_SUFFIXES,
    find_extra_maps,
    load_score_maps,
    match_score_maps,
    read_score_map,
    save_score_maps,
)
from .types import ClassSplit, LazySamples, Sample

__all__ = [
    "sample_seed",
    "DATASETS",
    "MAP_SUFFIXES",
    "PARTS",
    "SIZES",
    "ClassSplit",
    "DatasetError",
    "DatasetReport",
    "LazySamples",
    "Sample",
    "SizeSpec",
    "build_embedded",
    "check_dataset",
    "check_score_maps",
    "data_root",
    "dataset_name",
    "defect_types",
    "find_categories",
    "find_extra_maps",
    "is_embedded",
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
    "match_score_maps",
    "parse_dataset_name",
    "read_pcd",
    "read_score_map",
    "resolve_classes",
    "sample_view",
    "save_score_maps",
    "voxelise",
]
