"""livingreview: a reproducible, living systematic-review pipeline."""

__version__ = "0.1.0"
