"""mlptrain: config-driven MLP training on hand-derived NumPy modules."""

__version__ = "0.1.0"
