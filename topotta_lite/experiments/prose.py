"""Sentences about an experiment's set-up, rendered from its parameters (notebooks 06-12).

A notebook's Markdown cells hold definitions only; what the run actually uses (the data set and
its size, the backbone behind the scorers, an operator's defaults) is printed from the
parameters with these helpers, so that a notebook run on another backbone or another data set
never describes the one it did not use.

Examples
--------
>>> backbone_words("efficientnet_lite0")
'ImageNet-pretrained EfficientNet-Lite0 features'
>>> print(data_words("embedded-2d", "smoke", ["brick", "nut"]))
the embedded 2D benchmark (textures and objects generated from photographs that ship with \
scikit-image, defects with exact masks) at size `smoke` (4 nominal training, 2 nominal \
validation, 2 good and 4 anomalous test images per class), 2 classes
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "BACKBONE_WORDS",
    "backbone_words",
    "data_words",
    "defaults_table",
    "scorer_words",
    "setup_sentence",
]

BACKBONE_WORDS = {
    "filterbank": "a fixed multi-scale filter bank (colour, Gabor, Laplacian-of-Gaussian and "
                  "gradient responses: no learnt weights)",
    "efficientnet_lite0": "ImageNet-pretrained EfficientNet-Lite0 features",
    "randconv": "a seeded random convolutional network (no learnt weights)",
    "dino_vits8": "DINO ViT-S/8 patch tokens",
    "dino_vitb8": "DINO ViT-B/8 patch tokens",
    "depth": "geometric depth features (relief at several scales, normals, curvatures)",
    "rgbd": "ImageNet-pretrained EfficientNet-Lite0 features of the RGB image beside geometric "
            "depth features",
    "voxel": "3D intensity, blur, relief, Laplacian-of-Gaussian and gradient responses of the "
             "volume (no learnt weights)",
}
"""What each backbone of :func:`topotta_lite.features.get_backbone` computes, in words."""

_EMBEDDED = {
    "2d": "the embedded 2D benchmark (textures and objects generated from photographs that ship "
          "with scikit-image, defects with exact masks)",
    "2.5d": "the embedded 2.5D benchmark (generated depth maps with a shaded RGB rendering, dents "
            "and bumps with exact masks)",
    "3d": "the embedded 3D benchmark (generated voxel volumes with inclusions and cavities, exact "
          "masks)",
}


def backbone_words(name: str | None, modality: str = "2d") -> str:
    """The backbone ``name`` (None: the modality's default) in words.

    Examples
    --------
    >>> backbone_words(None, "3d").split(" (")[0]
    '3D intensity, blur, relief, Laplacian-of-Gaussian and gradient responses of the volume'
    >>> backbone_words("mine")
    'the `mine` backbone'
    """
    if name is None:
        from topotta_lite.experiments.bundles import DEFAULT_BACKBONE

        name = DEFAULT_BACKBONE[modality]
    return BACKBONE_WORDS.get(name, f"the `{name}` backbone")


def scorer_words(scorers: Sequence[str], backbone: str | None, modality: str = "2d") -> str:
    """``"our PatchCore-like and PaDiM-like scorers on <backbone>"``; your own maps say so.

    Examples
    --------
    >>> scorer_words(["patchcore"], "filterbank").split(" (")[0]
    'our PatchCore-like scorer on a fixed multi-scale filter bank'
    >>> scorer_words(["maps"], None)
    'your own score maps (the operators adapt on ImageNet-pretrained EfficientNet-Lite0 features)'
    """
    from topotta_lite.experiments.bundles import MAPS_SCORER
    from topotta_lite.vocabulary import SCORER_NAMES

    words = backbone_words(backbone, modality)
    if list(scorers) == [MAPS_SCORER]:
        return f"your own score maps (the operators adapt on {words})"
    names = [f"{SCORER_NAMES.get(s, s)}-like" for s in scorers]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"our {joined} scorer{'s' if len(names) > 1 else ''} on {words}"


def data_words(dataset: str, size: str | None = None, classes: Sequence[str] | None = None,
               *, data_root=None) -> str:
    """The data set of a run in words: which, at which size (images per class), how many classes.

    Examples
    --------
    >>> data_words("mvtec_ad", classes=["bottle"], data_root="/data/mvtec")
    '`mvtec_ad` read from disk, 1 class'
    """
    from topotta_lite.experiments.bundles import modality_of

    n = "" if classes is None else f", {len(classes)} class{'es' if len(classes) != 1 else ''}"
    if not dataset.startswith("embedded-"):
        return f"`{dataset}` read from disk{n}"
    from topotta_lite.data.embedded import SIZES

    text = _EMBEDDED.get(modality_of(dataset), f"`{dataset}`")
    if size in SIZES:
        s = SIZES[size]
        text += (f" at size `{size}` ({s.train} nominal training, {s.validation} nominal "
                 f"validation, {s.test_good} good and {s.test_anomalous} anomalous test "
                 f"{'volumes' if modality_of(dataset) == '3d' else 'images'} per class"
                 + (f", {s.voxels}^3 voxels" if modality_of(dataset) == "3d" else "") + ")")
    return text + n


def setup_sentence(dataset: str, size: str | None, classes: Sequence[str], scorers: Sequence[str],
                   backbone: str | None = None, *, data_root=None) -> str:
    """One sentence: the data this run reads and the scorers (and backbone) that score it.

    Examples
    --------
    >>> setup_sentence("embedded-2d", None, ["brick"], ["padim"], "filterbank").split(" (")[0]
    'This run reads the embedded 2D benchmark'
    """
    from topotta_lite.experiments.bundles import modality_of

    return (f"This run reads {data_words(dataset, size, classes, data_root=data_root)}, scored "
            f"by {scorer_words(scorers, backbone, modality_of(dataset))}.")


def defaults_table(defaults: Mapping, rows: Mapping[str, tuple[str, str]]) -> str:
    """A Markdown table of parameters, where each acts, and the value this run uses.

    Parameters
    ----------
    defaults : mapping
        Parameter -> value (e.g. :func:`topotta_lite.experiments.sweeps.topotta_defaults`).
    rows : mapping
        Parameter -> ``(display name, where it acts)``, in display order.

    Examples
    --------
    >>> print(defaults_table({"lam": 0.01}, {"lam": ("lambda", "EAI")}))
    | parameter | where it acts | value in this run |
    | --- | --- | --- |
    | lambda (`lam`) | EAI | `0.01` |
    """
    lines = ["| parameter | where it acts | value in this run |", "| --- | --- | --- |"]
    for key, (name, where) in rows.items():
        lines.append(f"| {name} (`{key}`) | {where} | `{defaults[key]!r}` |")
    return "\n".join(lines)
