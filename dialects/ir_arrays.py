"""Zero-copy conversion between numpy arrays and xDSL dense element attributes; readable SSA names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    IntegerType,
    TensorType,
)

if TYPE_CHECKING:
    import numpy as np


def to_numpy(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The attribute's values as a read-only array of its shape (splats are broadcast)."""
    import numpy as np

    et = attr.get_element_type()
    if isinstance(et, Float32Type):
        dtype = np.dtype("<f4")
    elif isinstance(et, Float64Type):
        dtype = np.dtype("<f8")
    elif isinstance(et, IntegerType):
        dtype = np.dtype(f"<i{max(1, et.width.data // 8)}")
    else:
        raise TypeError(f"unsupported element type {et}")
    flat = np.frombuffer(attr.data.data, dtype=dtype)
    shape = tuple(attr.get_shape())
    if flat.size == 1 and shape and int(np.prod(shape)) != 1:
        return np.broadcast_to(flat[0], shape)
    return flat.reshape(shape)


def from_numpy(
    array: np.ndarray, element_type: Float32Type | Float64Type | IntegerType | None = None
) -> DenseIntOrFPElementsAttr:
    """A dense attribute holding `array` (f32 unless `element_type` says otherwise)."""
    import numpy as np

    et = element_type or Float32Type()
    if isinstance(et, IntegerType):
        dtype = np.dtype(f"<i{max(1, et.width.data // 8)}")
    elif isinstance(et, Float64Type):
        dtype = np.dtype("<f8")
    else:
        dtype = np.dtype("<f4")
    data = np.ascontiguousarray(array, dtype=dtype)
    return DenseIntOrFPElementsAttr(TensorType(et, data.shape), BytesAttr(data.tobytes()))


def ir_name(name: str) -> str:
    """A readable SSA name for a source layer path ('features.0' stays, '3' becomes 'layer3')."""
    name = re.sub(r"[^\w$.-]", "_", name) or "v"
    if name[0].isdigit():
        name = "layer" + name
    # xDSL strips a trailing `_<digits>` from name hints; keep the digits visible.
    return re.sub(r"_(\d+)$", r".\1", name)
