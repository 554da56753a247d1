"""topotta-lite: topology-aware binarisation of anomaly score maps (a TopoTTA companion)."""

__version__ = "0.1.0"
