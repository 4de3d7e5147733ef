"""ggml tensor types and their dequantisation: block layouts and one torch kernel per type.

ggml stores a tensor as rows of fixed-size blocks; `BLOCK_SIZES` gives each type's (elements,
bytes) per block, and `dequantize` turns a tensor's bytes into float32. Kernels work on whole
arrays of blocks at once. The GGUF container around the bytes is `recai.nn.gguf`'s business.
"""
from __future__ import annotations

import enum
import math

import numpy as np
import torch

from recai.errors import CheckpointError

QK_K = 256  # elements per K-quant super-block


class GGMLType(enum.IntEnum):
    """ggml's tensor type ids, numbered as in ggml.h (gaps are ids ggml has retired)."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q8_1 = 9
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    Q8_K = 15
    IQ2_XXS = 16
    IQ2_XS = 17
    IQ3_XXS = 18
    IQ1_S = 19
    IQ4_NL = 20
    IQ3_S = 21
    IQ2_S = 22
    IQ4_XS = 23
    I8 = 24
    I16 = 25
    I32 = 26
    I64 = 27
    F64 = 28
    IQ1_M = 29
    BF16 = 30
    TQ1_0 = 34
    TQ2_0 = 35
    MXFP4 = 39


# (elements per block, bytes per block), from ggml's type traits. Types listed here can be read
# (raw bytes, shapes, bounds); only those in DEQUANTIZABLE can be turned into floats.
BLOCK_SIZES: dict[GGMLType, tuple[int, int]] = {
    GGMLType.F32: (1, 4),
    GGMLType.F16: (1, 2),
    GGMLType.Q4_0: (32, 18),
    GGMLType.Q4_1: (32, 20),
    GGMLType.Q5_0: (32, 22),
    GGMLType.Q5_1: (32, 24),
    GGMLType.Q8_0: (32, 34),
    GGMLType.Q8_1: (32, 36),
    GGMLType.Q2_K: (QK_K, 84),
    GGMLType.Q3_K: (QK_K, 110),
    GGMLType.Q4_K: (QK_K, 144),
    GGMLType.Q5_K: (QK_K, 176),
    GGMLType.Q6_K: (QK_K, 210),
    GGMLType.Q8_K: (QK_K, 292),
    GGMLType.IQ2_XXS: (QK_K, 66),
    GGMLType.IQ2_XS: (QK_K, 74),
    GGMLType.IQ3_XXS: (QK_K, 98),
    GGMLType.IQ1_S: (QK_K, 50),
    GGMLType.IQ4_NL: (32, 18),
    GGMLType.IQ3_S: (QK_K, 110),
    GGMLType.IQ2_S: (QK_K, 82),
    GGMLType.IQ4_XS: (QK_K, 136),
    GGMLType.I8: (1, 1),
    GGMLType.I16: (1, 2),
    GGMLType.I32: (1, 4),
    GGMLType.I64: (1, 8),
    GGMLType.F64: (1, 8),
    GGMLType.IQ1_M: (QK_K, 56),
    GGMLType.BF16: (1, 2),
    GGMLType.TQ1_0: (QK_K, 54),
    GGMLType.TQ2_0: (QK_K, 66),
    GGMLType.MXFP4: (32, 17),
}


# ---------------------------------------------------------------------------------------------
# Dequantisation. Each _dq_* maps uint8 blocks (n, bytes per block) to float32 (n, elements per
# block), following ggml's dequantize_row_* (ggml-quants.c) and doing the float operations in the
# same order as ggml and gguf-py (no fused multiply-add), so results match gguf-py bit for bit.

_SHIFT2 = torch.tensor([0, 2, 4, 6], dtype=torch.uint8)
_SHIFT8 = torch.arange(8, dtype=torch.uint8)
# IQ4_NL / IQ4_XS code book (ggml's kvalues_iq4nl): a non-uniform 4-bit grid.
_IQ4_VALUES = torch.tensor(
    [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=torch.float32
)


def _f16(b: torch.Tensor, at: int) -> torch.Tensor:
    """(n, 1) float32 from the f16 stored at byte `at` of each block."""
    return b[:, at : at + 2].contiguous().view(torch.float16).float()


def _nibbles(qs: torch.Tensor) -> torch.Tensor:
    """(..., k) bytes -> (..., 2k): all low nibbles, then all high nibbles (ggml's element order)."""
    return torch.cat([qs & 0x0F, qs >> 4], dim=-1)


def _bits(qh: torch.Tensor) -> torch.Tensor:
    """(n, k) bytes -> (n, 8k) bits, bit j of byte i at 8i + j (a little-endian bit field)."""
    return ((qh.unsqueeze(-1) >> _SHIFT8) & 1).flatten(-2)


def _dq_q4_0(b):  # d f16 | qs[16]: x = d * (q - 8)
    return _f16(b, 0) * (_nibbles(b[:, 2:]).float() - 8)


def _dq_q4_1(b):  # d f16 | m f16 | qs[16]: x = d * q + m
    return _f16(b, 0) * _nibbles(b[:, 4:]).float() + _f16(b, 2)


def _dq_q5_0(b):  # d f16 | qh u32 (5th bits) | qs[16]: x = d * (q - 16)
    q = _nibbles(b[:, 6:]) | (_bits(b[:, 2:6]) << 4)
    return _f16(b, 0) * (q.float() - 16)


def _dq_q5_1(b):  # d f16 | m f16 | qh u32 | qs[16]: x = d * q + m
    q = _nibbles(b[:, 8:]) | (_bits(b[:, 4:8]) << 4)
    return _f16(b, 0) * q.float() + _f16(b, 2)


def _dq_q8_0(b):  # d f16 | qs int8[32]
    return b[:, 2:].view(torch.int8).float() * _f16(b, 0)


def _dq_q8_k(b):  # d f32 | qs int8[256] | bsums int16[16] (only used by dot products)
    return b[:, 4:260].view(torch.int8).float() * b[:, 0:4].contiguous().view(torch.float32)


def _dq_q2_k(b):  # scales[16] (lo: scale, hi: min) | qs[64] 2-bit | d f16 | dmin f16
    n = b.shape[0]
    sc = b[:, :16]
    dl = (_f16(b, 80) * (sc & 0x0F).float()).unsqueeze(-1)  # (n, 16, 1), one per 16 elements
    ml = (_f16(b, 82) * (sc >> 4).float()).unsqueeze(-1)
    # Two halves of 128; in each, 32 bytes hold four 32-element groups at bit shifts 0, 2, 4, 6.
    q = (b[:, 16:80].reshape(n, 2, 1, 32) >> _SHIFT2.view(4, 1)) & 3  # (n, 2, 4, 32)
    return (dl * q.reshape(n, 16, 16).float() - ml).reshape(n, QK_K)


def _q3_k_scales(s: torch.Tensor) -> torch.Tensor:
    """12 bytes -> 16 signed 6-bit scales: low 4 bits in bytes 0-7 (nibbles), high 2 in bytes 8-11."""
    n = s.shape[0]
    low = _nibbles(s[:, :8])  # scale i < 8: low nibble of byte i; i >= 8: high nibble of byte i - 8
    high = ((s[:, 8:12].reshape(n, 1, 4) >> _SHIFT2.view(4, 1)) & 3).reshape(n, 16)  # byte 8 + i%4, bits 2*(i//4)
    return (low | (high << 4)).float() - 32


def _dq_q3_k(b):  # hmask[32] | qs[64] 2-bit | scales[12] | d f16: x = d * scale * (q - 4 * !hbit)
    n = b.shape[0]
    dl = (_f16(b, 108) * _q3_k_scales(b[:, 96:108])).unsqueeze(-1)  # (n, 16, 1)
    low = (b[:, 32:96].reshape(n, 2, 1, 32) >> _SHIFT2.view(4, 1)) & 3  # (n, 2, 4, 32)
    # Group g (of 32 elements) takes bit g of hmask[l]; a clear bit means subtract 4.
    hbit = (b[:, :32].reshape(n, 1, 32) >> _SHIFT8.view(8, 1)) & 1  # (n, 8, 32)
    q = low.reshape(n, 8, 32).float() - 4 * (1 - hbit.float())
    return (dl * q.reshape(n, 16, 16)).reshape(n, QK_K)


def _k4_scale_min(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ggml's get_scale_min_k4 for all 8 sub-blocks: 12 bytes -> 6-bit (scale, min), each (n, 8)."""
    a, m, c = s[:, 0:4], s[:, 4:8], s[:, 8:12]
    sc = torch.cat([a & 63, (c & 0x0F) | ((a >> 6) << 4)], dim=-1)
    mn = torch.cat([m & 63, (c >> 4) | ((m >> 6) << 4)], dim=-1)
    return sc.float(), mn.float()


def _dq_q4_k(b):  # d f16 | dmin f16 | scales[12] | qs[128]: x = d*sc * q - dmin*m per 32 elements
    n = b.shape[0]
    sc, mn = _k4_scale_min(b[:, 4:16])
    d, dm = (_f16(b, 0) * sc).unsqueeze(-1), (_f16(b, 2) * mn).unsqueeze(-1)  # (n, 8, 1)
    q = _nibbles(b[:, 16:].reshape(n, 4, 32)).reshape(n, 8, 32)  # 32 bytes -> sub-blocks 2j, 2j+1
    return (d * q.float() - dm).reshape(n, QK_K)


def _dq_q5_k(b):  # d f16 | dmin f16 | scales[12] | qh[32] | qs[128]; sub-block j's 5th bit is bit j of qh
    n = b.shape[0]
    sc, mn = _k4_scale_min(b[:, 4:16])
    d, dm = (_f16(b, 0) * sc).unsqueeze(-1), (_f16(b, 2) * mn).unsqueeze(-1)
    low = _nibbles(b[:, 48:].reshape(n, 4, 32)).reshape(n, 8, 32)
    high = (b[:, 16:48].reshape(n, 1, 32) >> _SHIFT8.view(8, 1)) & 1  # (n, 8, 32)
    return (d * (low | (high << 4)).float() - dm).reshape(n, QK_K)


def _dq_q6_k(b):  # ql[128] low 4 bits | qh[64] high 2 bits | scales int8[16] | d f16: x = d*sc * (q - 32)
    n = b.shape[0]
    low = _nibbles(b[:, :128].reshape(n, 2, 64))  # (n, 2, 128) per half of 128 elements
    high = ((b[:, 128:192].reshape(n, 2, 1, 32) >> _SHIFT2.view(4, 1)) & 3).reshape(n, 2, 128)
    q = (low | (high << 4)).float() - 32
    d = (_f16(b, 208) * b[:, 192:208].view(torch.int8).float()).unsqueeze(-1)  # (n, 16, 1)
    return (d * q.reshape(n, 16, 16)).reshape(n, QK_K)


def _dq_iq4_nl(b):  # d f16 | qs[16] indices into a fixed non-linear table
    return _f16(b, 0) * _IQ4_VALUES[_nibbles(b[:, 2:]).long()]


def _dq_iq4_xs(b):  # d f16 | scales_h u16 | scales_l[4] | qs[128]: 8 sub-blocks of 32, 6-bit scales
    n = b.shape[0]
    low = _nibbles(b[:, 4:8].reshape(n, 4, 1)).reshape(n, 8)  # sub-block j: nibble j%2 of byte j//2
    high = ((b[:, 2:4].reshape(n, 2, 1) >> _SHIFT2.view(1, 4)) & 3).reshape(n, 8)  # bits 2j of the u16
    dl = (_f16(b, 0) * ((low | (high << 4)).float() - 32)).unsqueeze(-1)  # (n, 8, 1)
    q = _nibbles(b[:, 8:].reshape(n, 8, 16))  # (n, 8, 32)
    return (dl * _IQ4_VALUES[q.long()]).reshape(n, QK_K)


def _plain(dtype: torch.dtype):
    """Unquantised types: each (1-element) block is one little-endian value of `dtype`."""
    return lambda b: b.view(dtype).float()


_DEQUANT = {
    GGMLType.F32: _plain(torch.float32),
    GGMLType.F16: _plain(torch.float16),
    GGMLType.BF16: _plain(torch.bfloat16),
    GGMLType.F64: _plain(torch.float64),
    GGMLType.I8: _plain(torch.int8),
    GGMLType.I16: _plain(torch.int16),
    GGMLType.I32: _plain(torch.int32),
    GGMLType.I64: _plain(torch.int64),
    GGMLType.Q4_0: _dq_q4_0,
    GGMLType.Q4_1: _dq_q4_1,
    GGMLType.Q5_0: _dq_q5_0,
    GGMLType.Q5_1: _dq_q5_1,
    GGMLType.Q8_0: _dq_q8_0,
    GGMLType.Q2_K: _dq_q2_k,
    GGMLType.Q3_K: _dq_q3_k,
    GGMLType.Q4_K: _dq_q4_k,
    GGMLType.Q5_K: _dq_q5_k,
    GGMLType.Q6_K: _dq_q6_k,
    GGMLType.Q8_K: _dq_q8_k,
    GGMLType.IQ4_NL: _dq_iq4_nl,
    GGMLType.IQ4_XS: _dq_iq4_xs,
}

# The types `dequantize` accepts, in a fixed order for error messages; the rest are raw bytes only.
DEQUANTIZABLE = tuple(_DEQUANT)

# Blocks per chunk: bounds the temporaries to a few tens of MB whatever the tensor size.
_CHUNK_ELEMENTS = 1 << 21


def dequantize(raw: np.ndarray | torch.Tensor, ggml_type: GGMLType, shape) -> torch.Tensor:
    """Decode ggml-encoded bytes into a float32 tensor of `shape` (torch order).

    raw: the tensor's bytes, any shape, uint8 (numpy or torch, CPU); copied, never modified.
    Raises ValueError for a non-CPU tensor; CheckpointError if the type has no dequantiser, or if
    the byte count or the last dim does not fit the type's blocks.
    """
    ggml_type = GGMLType(ggml_type)
    shape = tuple(int(s) for s in shape)
    if ggml_type not in _DEQUANT:
        raise CheckpointError(f"cannot dequantise ggml type {ggml_type.name} (shape {shape})")
    block, type_size = BLOCK_SIZES[ggml_type]
    numel = math.prod(shape)
    if shape and shape[-1] % block:
        raise CheckpointError(f"{ggml_type.name} tensor of shape {shape}: last dim is not a multiple of {block}")
    if isinstance(raw, torch.Tensor) and raw.device.type != "cpu":
        raise ValueError(f"dequantize works on CPU bytes; got a tensor on {raw.device}")
    if isinstance(raw, np.ndarray):
        # A copy of the (compressed) bytes: the memmap is read-only, and torch wants writable memory.
        raw = torch.from_numpy(np.array(raw, copy=True).reshape(-1))
    raw = raw.reshape(-1)
    n_blocks = numel // block
    if raw.dtype != torch.uint8 or raw.numel() != n_blocks * type_size:  # bytes, never cast values
        raise CheckpointError(
            f"{ggml_type.name} tensor of shape {shape} needs {n_blocks * type_size} bytes of uint8, "
            f"got {raw.numel()} of {raw.dtype}"
        )
    blocks = raw.view(n_blocks, type_size)
    out = torch.empty(n_blocks, block, dtype=torch.float32)
    step = max(1, _CHUNK_ELEMENTS // block)
    fn = _DEQUANT[ggml_type]
    for i in range(0, n_blocks, step):
        out[i : i + step] = fn(blocks[i : i + step])
    return out.view(shape)
