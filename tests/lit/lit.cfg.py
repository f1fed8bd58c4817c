# ruff: noqa: F821  (lit injects `config`)
import os

import lit.formats

config.name = "nmc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["lit.cfg.py", "Inputs"]
config.environment["PYTHONWARNINGS"] = "ignore"

# `nmc-opt` and `filecheck` come from the active environment's PATH.
config.substitutions.append(
    ("NMC_ROUNDTRIP", "nmc-opt %s --split-input-file --print-op-generic | nmc-opt --split-input-file | filecheck %s")
)
config.substitutions.append(
    ("NMC_GENERIC_ROUNDTRIP", "nmc-opt %s --split-input-file --print-op-generic | filecheck %s --check-prefix=CHECK-GENERIC")
)
config.substitutions.append(("NMC_VERIFY_DIAG", "nmc-opt %s --split-input-file --verify-diagnostics | filecheck %s"))
config.substitutions.append(("NMC_PARSING_DIAG", "nmc-opt %s --split-input-file --parsing-diagnostics | filecheck %s"))
