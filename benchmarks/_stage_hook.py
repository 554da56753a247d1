"""Stage timers for a notebook's kernel: which library calls the CPU time goes to.

Installed by ``benchmarks/profile_stages.py`` through a ``sitecustomize`` module that it puts
first on the kernel's ``PYTHONPATH`` (only when ``TOPOTTA_STAGE_PROFILE`` names the JSON file to
write, and only in an IPython kernel). :func:`install` wraps the functions of :data:`STAGES`;
each wrapper charges the time since the last mark to the stage on top of a stack, so every
second of the kernel is counted once, in the innermost stage that was running (the rest goes
to ``"unlisted"``: notebook code, imports, pandas, display). Wall time is ``perf_counter``; CPU
time is ``time.process_time`` (user + system of every thread of the kernel).

This file is a benchmark helper, not part of the package: nothing imports it but the hook.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import sys
import time

#: stage label -> "module:qualname" targets. A label with ``{preset}`` is filled from the
#: operator (TopoTTA's paper or release reading).
STAGES: dict[str, tuple[str, ...]] = {
    "data: generate embedded images": ("topotta_lite.data.embedded:_build_class",),
    "data: read and verify cached images": ("topotta_lite.data.embedded:_load_class",
                                            "topotta_lite.data.embedded:_sha256"),
    "features: {backbone}": ("topotta_lite.features._base:Backbone.__call__",),
    "features: load Lite0 weights": ("topotta_lite.features.efficientnet:load_lite0",),
    "scorers: fit (excl. features)": ("topotta_lite.scorers:PaDiMScorer.fit",
                                      "topotta_lite.scorers:PatchCoreScorer.fit"),
    "scorers: PatchCore coreset": ("topotta_lite.scorers:greedy_coreset",),
    "scorers: score (excl. features)": ("topotta_lite.scorers:_BaseScorer.score",),
    "operator: THR": ("topotta_lite.operators.thr:THR.segment",
                      "topotta_lite.operators.thr:THR.fit"),
    "operator: TTT4AS": ("topotta_lite.operators.ttt4as:TTT4AS.segment_detailed",),
    "operator: TopoTTA {preset} (rest)": ("topotta_lite.operators.topotta:TopoTTA.segment_detailed",),
    "TopoTTA: persistence + pseudo-label masks": (
        "topotta_lite.method.pseudolabels:pseudo_label_masks",
        "topotta_lite.method.pseudolabels:pseudo_label_mask"),
    "TopoTTA: fusion (EAI)": ("topotta_lite.method.fusion:fuse",),
    "TopoTTA: PCES": ("topotta_lite.method.pces:PCES.adapt",
                      "topotta_lite.method.pces:PCES.adapt_batch"),
    "release encoder: training": ("topotta_lite.method.nominal:NominalEncoder.fit",),
    "release encoder: classify": ("topotta_lite.method.nominal:NominalEncoder.classify",),
    "persistence (general)": ("topotta_lite.topology.persistence:cubical_persistence",),
    "metrics: masks": ("topotta_lite.metrics:segmentation_scores",
                       "topotta_lite.metrics:structure_scores"),
    "metrics: ranking (AUROC, AUPRO)": ("topotta_lite.metrics:aupro", "topotta_lite.metrics:p_auroc",
                                        "topotta_lite.metrics:i_auroc"),
    "cache: bundles and results I/O": ("topotta_lite.experiments.bundles:_read_bundle",
                                       "topotta_lite.experiments.bundles:_write_bundle",
                                       "topotta_lite.experiments.grid:ResultCache.get",
                                       "topotta_lite.experiments.grid:ResultCache.put"),
    "statistics: bootstrap intervals": ("topotta_lite.experiments.stats:stratified_bootstrap",),
    "runtime measurement (Table X)": ("topotta_lite.experiments.runtime:time_operators",
                                      "topotta_lite.experiments.runtime:peak_memory_mb"),
    "tables: write": ("topotta_lite.outputs:write_table",),
    "figures: layout": ("matplotlib.figure:Figure.tight_layout",),
    "figures: render (savefig, inline)": ("matplotlib.backend_bases:FigureCanvasBase.print_figure",),
}

_STATE: dict = {}


def _label(template: str, args) -> str:
    if "{" not in template or not args:
        return template
    obj = args[0]
    return template.format(preset=getattr(obj, "preset", "?"),
                           backbone=getattr(obj, "name", type(obj).__name__))


def _charge(now_wall: float, now_cpu: float) -> None:
    st = _STATE
    top = st["stack"][-1] if st["stack"] else "unlisted"
    rec = st["stages"].setdefault(top, [0.0, 0.0, 0])
    rec[0] += now_wall - st["mark"][0]
    rec[1] += now_cpu - st["mark"][1]
    st["mark"] = (now_wall, now_cpu)


def _wrap(fn, template: str):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        label = _label(template, args)
        st = _STATE
        _charge(time.perf_counter(), time.process_time())
        outer = label not in st["stack"]
        st["stack"].append(label)
        if outer:
            st["stages"].setdefault(label, [0.0, 0.0, 0])[2] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            _charge(time.perf_counter(), time.process_time())
            st["stack"].pop()
            if not st["stack"] and time.perf_counter() - st["dumped"] > 2.0:
                dump()

    wrapper.__stage_wrapped__ = fn
    return wrapper


def _resolve(target: str):
    module, qual = target.split(":")
    mod = importlib.import_module(module)
    owner, name = mod, qual
    if "." in qual:
        cls, name = qual.split(".")
        owner = getattr(mod, cls)
    return owner, name


def dump() -> None:
    """Write the stage times so far (JSON) to the file named at :func:`install`."""
    st = _STATE
    if not st:
        return
    _charge(time.perf_counter(), time.process_time())
    out = {"stages": {k: {"wall_s": v[0], "cpu_s": v[1], "calls": v[2]}
                      for k, v in st["stages"].items()},
           "kernel_wall_s": time.perf_counter() - st["start"][0],
           "kernel_cpu_s": time.process_time() - st["start"][1]}
    tmp = f"{st['path']}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
    os.replace(tmp, st["path"])
    st["dumped"] = time.perf_counter()


def install(path: str) -> None:
    """Wrap every function of :data:`STAGES` and write the times to ``path`` at exit."""
    now = (time.perf_counter(), time.process_time())
    _STATE.update(path=path, stack=[], stages={}, mark=now, start=now, dumped=now[0])
    originals = {}
    for template, targets in STAGES.items():
        for target in targets:
            owner, name = _resolve(target)
            fn = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
            wrapped = _wrap(fn, template)
            setattr(owner, name, wrapped)
            originals[id(fn)] = wrapped
    # names bound by `from module import function` before we patched point to the originals
    for mod in list(sys.modules.values()):
        if mod is None or not getattr(mod, "__name__", "").startswith("topotta_lite"):
            continue
        for attr, value in list(vars(mod).items()):
            if id(value) in originals and not isinstance(value, type):
                setattr(mod, attr, originals[id(value)])
    atexit.register(dump)


SITECUSTOMIZE = '''\
import os, sys
_path = os.environ.get("TOPOTTA_STAGE_PROFILE")
_argv = " ".join(getattr(sys, "orig_argv", sys.argv))
if _path and ("ipykernel_launcher" in _argv or "spawn_main" in _argv):
    sys.path.insert(0, {bench!r})
    import _stage_hook
    # the kernel writes the named file; its grid workers (spawned processes) one file each
    _stage_hook.install(_path if "ipykernel_launcher" in _argv else f"{{_path}}.{{os.getpid()}}")
    sys.path.remove({bench!r})
'''
"""The ``sitecustomize`` module :mod:`profile_stages` writes to a temporary folder: it installs
the timers in notebook kernels and in the worker processes of their grids."""
