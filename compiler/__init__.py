"""nmc: an open compiler for neuromorphic chips, built on xDSL."""

__version__ = "0.1.0"
