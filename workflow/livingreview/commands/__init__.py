"""Sub-commands of the ``livingreview`` CLI: one module per command group, each with ``register``."""
