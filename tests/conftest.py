from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def digits_test() -> tuple[np.ndarray, np.ndarray]:
    return np.load(EXAMPLES / "digits_test.npy"), np.load(EXAMPLES / "digits_test_labels.npy")


@pytest.fixture(scope="session")
def digits_calib() -> np.ndarray:
    return np.load(EXAMPLES / "digits_calib.npy")
