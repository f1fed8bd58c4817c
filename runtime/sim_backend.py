"""Array backends of the chip simulator: numpy (CPU) and torch (CPU or CUDA), the same arithmetic.

The simulator's tick loop is written once against the few operations below; each backend
maps them onto its library. Every quantity the loop handles is an integer; the backends
compute in float32 or float64 only where `Chip` has proved the values exact in that type
(docs/chip-model.md, "Exactness of the simulator"), else in int64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmc.runtime.int8 import int8_matmul, int8_matmul_weight_digits, int8_operand


class NumpyBackend:
    """numpy arrays; crossbar products by BLAS on dense per-core blocks, scipy.sparse for events."""

    name = "numpy"

    def __init__(self, dtype: np.dtype):
        self.dtype = np.dtype(dtype)
        self.is_float = self.dtype.kind == "f"

    def asarray(self, a: np.ndarray, dtype: Any = None) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=self.dtype if dtype is None else dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        return np.zeros(shape, self.dtype if dtype is None else dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a)

    where = staticmethod(np.where)
    clip = staticmethod(np.clip)

    def floor_shift(self, v: Any, inv: Any, shift: Any) -> Any:
        """v >> shift (arithmetic): floor(v / 2**shift), exact for the integers held in v."""
        return np.floor(v * inv) if self.is_float else v >> shift

    def count_rows(self, a: Any) -> np.ndarray:
        """Nonzero entries per row (per neuron or axon, over the batch), on the host."""
        return np.count_nonzero(a, axis=1)

    def index(self, idx: np.ndarray) -> Any:
        return idx

    def row_sums(self, a: Any) -> np.ndarray:
        return a @ np.ones(a.shape[1], a.dtype)

    def copy(self, a: Any) -> Any:
        return a.copy()

    def pad_row(self, a: Any) -> Any:
        return np.concatenate([a, np.zeros((1, a.shape[1]), a.dtype)])

    def add_clip(self, v: Any, cur: Any, lo: int, hi: int) -> Any:
        """clip(v + cur, lo, hi), in place."""
        np.add(v, cur, out=v)
        return np.clip(v, lo, hi, out=v)

    def sub_where(self, v: Any, thr: Any, mask: Any, tmp: Any = None) -> Any:
        """v - thr where mask (0/1 in v's type), in place: a product and a subtraction (a select on a data-dependent
        mask, np.where or a masked ufunc, costs about 20x more); `tmp`, v's shape: a buffer for the product."""
        return np.subtract(v, np.multiply(mask, thr, out=tmp), out=v)

    def sparse_matrix(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> Any:
        from scipy import sparse

        return sparse.csr_matrix((vals.astype(self.dtype), (rows, cols)), shape=shape)

    def spmm(self, m: Any, x: Any) -> Any:
        """m (n, k) sparse @ x (k, batch): the synapses outside dense blocks."""
        return np.asarray(m @ x)

    def int8_weights(self, w: np.ndarray) -> Any:
        """The block as an int8 tensor and, for products over a few live axons, its transpose: gathering whole
        rows of the transpose and multiplying by its (column-major) view costs about half the column gather."""
        return (int8_operand(w), int8_operand(w.T))

    @staticmethod
    def _live(w8: Any, x: np.ndarray, idx: np.ndarray | None) -> tuple[Any, np.ndarray]:
        if idx is None:
            return w8[0], x
        import torch

        return w8[1][torch.from_numpy(idx)].t(), x[idx]

    def matmul_int8(self, w8: Any, x: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """w8 (int8_weights) @ x, exactly (runtime/int8.py): x holds integers that fit int8, sums fit int32."""
        return int8_matmul(*self._live(w8, x, idx))

    def matmul_int8_digits(self, w8: Any, x: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """w8 @ x for integers |x| < 2**14: x = 128 h + l with l in [0, 127] and h in [-128, 127], each an
        int8 GEMM with int32 sums (the caller proved every sum of the block below 2**31); exact."""
        w8, x = self._live(w8, x, idx)
        xi = x.astype(np.int16)  # exact: integers below 2**14
        return 128.0 * int8_matmul(w8, (xi >> 7).astype(np.int8)) + int8_matmul(w8, (xi & 127).astype(np.int8))

    def int8_weight_digits(self, w: np.ndarray) -> Any:
        """Weights |w| < 2**14 as two int8 digit blocks: w = 128 h + l, h = floor(w / 128), l = w mod 128."""
        wi = w.astype(np.int64)
        return self.int8_weights(wi >> 7), self.int8_weights(wi & 127)

    def matmul_int8_weight_digits(self, w2: Any, x: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """(128 h + l) @ x as 128 (h @ x) + l @ x, two int8 GEMMs with int32 sums, combined in int32 (the caller
        proved the block's sums below 2**30: runtime/int8.py); exact, and the sum is within the run's bound."""
        (high, x8), (low, _) = (self._live(d, x, idx) for d in w2)
        return int8_matmul_weight_digits(high, low, x8)

    def events(self, m_t: Any, x: np.ndarray, live: np.ndarray) -> np.ndarray:
        """m (n, k) @ x (k, batch), given m_t = m.T in CSR and the axons `live` that carry a value in some
        sample: x.T in CSR times m_t walks, per sample and nonzero axon, that axon's fan-out row (the
        synaptic events); only the live rows of x are scanned."""
        from scipy import sparse

        sub = x[live]
        r, b = np.nonzero(sub)  # sorted by axon
        ptr = np.searchsorted(live[r], np.arange(x.shape[0] + 1))
        x_t = sparse.csc_matrix((sub[r, b], b, ptr), shape=(x.shape[1], x.shape[0]))
        return np.ascontiguousarray((x_t.tocsr() @ m_t).toarray().T)


class TorchBackend:
    """torch tensors on `device`; the same operations, dense per-core blocks by torch.matmul."""

    def __init__(self, dtype: np.dtype, device: str):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.name = f"torch-{self.device.type}"
        self.np_dtype = np.dtype(dtype)
        self.dtype = {np.float32: torch.float32, np.float64: torch.float64, np.int64: torch.int64}[self.np_dtype.type]
        self.is_float = self.np_dtype.kind == "f"
        if self.device.type == "cuda" and not self.is_float:
            raise ValueError("the CUDA backend needs a network whose values are exact in float64; run it with device='cpu'")
        # TF32 would round operands wider than 11 bits (partial sums): keep full float32 products.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def asarray(self, a: np.ndarray, dtype: Any = None) -> Any:
        t = self.torch.as_tensor(np.ascontiguousarray(a))
        return t.to(device=self.device, dtype=self.dtype if dtype is None else self._dtype(dtype))

    def _dtype(self, dtype: Any) -> Any:
        return {np.dtype(np.int64): self.torch.int64, np.dtype(np.float64): self.torch.float64,
                np.dtype(np.bool_): self.torch.bool, np.dtype(np.float32): self.torch.float32}[np.dtype(dtype)]  # fmt: skip

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self.torch.zeros(shape, dtype=self.dtype if dtype is None else self._dtype(dtype), device=self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.detach().cpu().numpy() if isinstance(a, self.torch.Tensor) else np.asarray(a)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        t = self.torch
        a = a if isinstance(a, t.Tensor) else t.tensor(a, dtype=self.dtype, device=self.device)
        b = b if isinstance(b, t.Tensor) else t.tensor(b, dtype=self.dtype, device=self.device)
        return t.where(cond, a, b)

    def clip(self, a: Any, lo: Any, hi: Any) -> Any:
        return self.torch.clamp(a, lo, hi)

    def floor_shift(self, v: Any, inv: Any, shift: Any) -> Any:
        return self.torch.floor(v * inv) if self.is_float else v >> shift

    def count_rows(self, a: Any) -> np.ndarray:
        return self.torch.count_nonzero(a, dim=1).cpu().numpy()

    def index(self, idx: np.ndarray) -> Any:
        return self.torch.as_tensor(idx, device=self.device)

    def row_sums(self, a: Any) -> np.ndarray:
        return a.sum(dim=1).cpu().numpy()

    def copy(self, a: Any) -> Any:
        return a.clone()

    def pad_row(self, a: Any) -> Any:
        return self.torch.cat([a, self.torch.zeros((1, a.shape[1]), dtype=a.dtype, device=a.device)])

    def add_clip(self, v: Any, cur: Any, lo: int, hi: int) -> Any:
        return v.add_(cur).clamp_(lo, hi)

    def sub_where(self, v: Any, thr: Any, mask: Any, tmp: Any = None) -> Any:
        return v.sub_(mask * thr)

    def sparse_matrix(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> Any:
        from scipy import sparse

        m = sparse.csr_matrix((vals, (rows, cols)), shape=shape)
        t = self.torch
        return t.sparse_csr_tensor(
            t.as_tensor(m.indptr, dtype=t.int64), t.as_tensor(m.indices, dtype=t.int64),
            t.as_tensor(m.data).to(self.dtype), size=shape, device=self.device,
        )  # fmt: skip

    def spmm(self, m: Any, x: Any) -> Any:
        return m @ x

    def int8_weights(self, w: np.ndarray) -> Any:

        if self.device.type == "cuda":  # float weights: the GEMM runs in TF32 (matmul_int8)
            return self.asarray(w)
        return int8_operand(w).to(self.device)

    def matmul_int8(self, w8: Any, x: Any, idx: np.ndarray | None = None) -> Any:
        """As NumpyBackend.matmul_int8, on tensors. On CUDA a float32 GEMM with TF32 allowed for this call
        only: TF32 keeps 11 significant bits, so 8-bit operands are exact, and it sums in float32, exact
        below 2**24 (the caller's bound). Not measured on a GPU yet."""
        if idx is not None:
            i = self.index(idx)
            w8, x = w8[:, i], x[i]
        if self.device.type == "cuda":
            flags = self.torch.backends.cuda.matmul
            flags.allow_tf32 = True
            try:
                return w8 @ x
            finally:
                flags.allow_tf32 = False
        return self.torch._int_mm(w8, x.to(self.torch.int8)).to(self.dtype)

    def events(self, m: Any, x: Any) -> Any:
        raise NotImplementedError  # the torch backend always takes the dense-block path
