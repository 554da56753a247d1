"""topotta-lite: topology-aware binarisation of anomaly score maps (a TopoTTA companion).

The package is laid out as the pipeline it implements::

    data/         -> images, ground-truth masks, nominal splits (embedded benchmark, real loaders)
    features/     -> frozen backbones: dense feature grids
    scorers       -> anomaly score maps (PaDiM-like, PatchCore-like, voxel)
    topology/     -> cubical persistence, Euler characteristic, connectivity (the mathematics)
    method/       -> pseudo-labels, EAI fusion, PCES (the paper's method)
    operators/    -> THR, TTT4AS, TopoTTA: score map -> binary mask, one ``segment()`` call
    metrics       -> P/R/F1/IoU, AUROC, AUPRO, structure metrics
    experiments/  -> grids, caches, tables, claims (the paper's tables regenerated)
    outputs       -> figures and tables written reproducibly
    teaching/     -> toy data and drawings for the notebooks
    cli/          -> the ``topotta-lite`` command
    compile       -> numba's kernels compiled ahead of the work (``python -m topotta_lite.compile``)

The most used names are importable from here (loaded on first use, so ``import topotta_lite``
stays cheap):

Examples
--------
>>> import numpy as np
>>> import topotta_lite as tl
>>> psi = np.zeros((32, 32)); psi[10:20, 12:18] = 1.0
>>> int(tl.TopoTTA(seed=0).segment(psi).sum())
60
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "THR": "topotta_lite.operators",
    "TTT4AS": "topotta_lite.operators",
    "TopoTTA": "topotta_lite.operators",
    "cubical_persistence": "topotta_lite.topology",
    "PersistenceDiagram": "topotta_lite.topology",
    "euler_characteristic": "topotta_lite.topology",
    "betti_numbers": "topotta_lite.topology",
    "pseudo_label_masks": "topotta_lite.method",
    "fuse": "topotta_lite.method",
    "PCES": "topotta_lite.method",
    "get_backbone": "topotta_lite.features",
    "segmentation_scores": "topotta_lite.metrics",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'topotta_lite' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
