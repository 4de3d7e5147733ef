"""GGUF v2/v3 reader: header, metadata, tensor table; tensors come out dequantised.

A GGUF file is: magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the metadata
key/value pairs, one info record per tensor (name, dims, ggml type, offset), then padding to
`general.alignment` and the tensor data. Everything is little-endian.

    gf = read_gguf("model.gguf")
    gf.metadata["llama.block_count"]          # python scalars, str, lists (see GGUFFile)
    w = gf.tensor("blk.0.attn_q.weight")      # (576, 576) float32, torch order

Everything is checked when the file is opened (counts, types, shapes, data bounds), so a truncated
or corrupt file fails there with a CheckpointError naming the file and the offending record, never
later with a garbage tensor. The ggml types and their dequantisation live in `recai.nn.gguf_quants`.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recai.errors import CheckpointError
from recai.nn.gguf_quants import BLOCK_SIZES, DEQUANTIZABLE, GGMLType, dequantize

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS

# BLOCK_SIZES, GGMLType and dequantize are re-exported: callers import them from here.
__all__ = ["BLOCK_SIZES", "GGMLType", "GGUFFile", "GGUFTensorInfo", "dequantize", "read_gguf"]


@dataclass
class GGUFTensorInfo:
    """One tensor record. `shape` is in torch order (ggml's `ne` reversed); `offset` is absolute."""

    name: str
    shape: tuple[int, ...]
    ggml_type: GGMLType
    offset: int
    n_bytes: int


@dataclass
class GGUFFile:
    """A parsed GGUF file. Tensor data stays on disk (memory-mapped) until asked for.

    metadata: key -> value in file order. Integers and bools become int/bool, floats float,
        strings str; arrays (of any element type, nested too) become python lists.
    tensors: name -> GGUFTensorInfo in file order.
    """

    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensorInfo]
    _map: np.ndarray | None = field(default=None, repr=False, compare=False)

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes: a read-only uint8 view into the file's memory map (no copy)."""
        info = self._info(name)
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        return self._map[info.offset : info.offset + info.n_bytes]

    def tensor(self, name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The tensor dequantised to `dtype`, torch-order shape, in fresh CPU memory.

        Raises CheckpointError if its ggml type has no dequantiser here (e.g. the IQ2/IQ3 grids).
        """
        info = self._info(name)
        if info.ggml_type not in DEQUANTIZABLE:
            raise CheckpointError(
                f"{self.path}: tensor {name!r} has ggml type {info.ggml_type.name}, which recai cannot "
                f"dequantise (supported: {', '.join(t.name for t in DEQUANTIZABLE)})"
            )
        return dequantize(self.raw(name), info.ggml_type, info.shape).to(dtype)

    def _info(self, name: str) -> GGUFTensorInfo:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None


# ---------------------------------------------------------------------------------------------
# Parsing


class _Cursor:
    """Bounds-checked little-endian reads over the file's bytes; errors name the file and offset."""

    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.path, self.pos, self.size = buf, path, 0, len(buf)

    def fail(self, msg: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {msg}")

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(
                f"truncated: {what} at offset {self.pos} needs {n} bytes, but the file ends at {self.size}"
            )

    def unpack(self, fmt: str, what: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n, what)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return value

    def string(self, what: str) -> str:
        n = self.unpack("<Q", f"length of {what}")
        self.need(n, what)
        start, self.pos = self.pos, self.pos + n
        try:
            return str(self.buf[start : self.pos], "utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(f"{what} at offset {start} is not valid UTF-8 ({e.reason})") from None


# GGUF metadata value type id -> struct format of a scalar (8 = string, 9 = array handled apart).
# Bool (7) is one byte where any non-zero value is true, as in ggml.
_SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def _read_value(cur: _Cursor, vtype: int, key: str) -> Any:
    if vtype in _SCALAR_FMT:
        value = cur.unpack(_SCALAR_FMT[vtype], f"value of {key!r}")
        return value != 0 if vtype == 7 else value
    if vtype == _STRING:
        return cur.string(f"string value of {key!r}")
    if vtype == _ARRAY:
        return _read_array(cur, key)
    raise cur.fail(f"metadata key {key!r} has unknown value type id {vtype} (offset {cur.pos - 4})")


def _read_array(cur: _Cursor, key: str) -> list:
    etype = cur.unpack("<I", f"array element type of {key!r}")
    count = cur.unpack("<Q", f"array length of {key!r}")
    if etype in _SCALAR_FMT:
        # Numeric arrays (vocab scores, token types) can hold 100k+ entries: read them in one go.
        width = struct.calcsize(_SCALAR_FMT[etype])
        cur.need(count * width, f"{count} array elements of {key!r}")
        arr = np.frombuffer(cur.buf, dtype=np.dtype(_SCALAR_FMT[etype]), count=count, offset=cur.pos)
        cur.pos += count * width
        return (arr != 0).tolist() if etype == 7 else arr.tolist()
    if etype not in (_STRING, _ARRAY):
        raise cur.fail(f"metadata key {key!r} has array of unknown value type id {etype}")
    # Each string or nested array takes at least 8 bytes: reject absurd counts before looping.
    cur.need(count * 8, f"{count} array elements of {key!r}")
    return [_read_value(cur, etype, key) for _ in range(count)]


def _read_header(cur: _Cursor) -> tuple[int, int, int]:
    cur.need(4, "magic")
    magic = bytes(cur.buf[:4])
    if magic != MAGIC:
        raise cur.fail(f"not a GGUF file: magic is {magic!r}, expected {MAGIC!r}")
    cur.pos = 4
    version = cur.unpack("<I", "version")
    if version not in SUPPORTED_VERSIONS:
        if struct.unpack("<I", struct.pack(">I", version))[0] in SUPPORTED_VERSIONS:
            raise cur.fail("big-endian GGUF files are not supported")
        raise cur.fail(f"unsupported GGUF version {version} (supported: 2, 3)")
    n_tensors = cur.unpack("<Q", "tensor count")
    n_kv = cur.unpack("<Q", "metadata count")
    # Smallest key/value: 8-byte key length + 4-byte type + 1-byte value. Smallest tensor info:
    # 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset). Counts beyond that cannot fit.
    if n_kv * 13 + n_tensors * 24 > cur.size - cur.pos:
        raise cur.fail(
            f"header counts run past the end of the file: {n_kv} metadata entries and {n_tensors} tensors "
            f"cannot fit in {cur.size} bytes"
        )
    return version, n_tensors, n_kv


def _read_metadata(cur: _Cursor, n_kv: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for i in range(n_kv):
        key = cur.string(f"key of metadata entry {i}")
        vtype = cur.unpack("<I", f"value type of {key!r}")
        if key in metadata:
            raise cur.fail(f"duplicate metadata key {key!r}")
        metadata[key] = _read_value(cur, vtype, key)
    return metadata


def _read_tensor_info(cur: _Cursor, i: int) -> tuple[str, tuple[int, ...], int, int]:
    name = cur.string(f"name of tensor {i}")
    n_dims = cur.unpack("<I", f"n_dims of tensor {name!r}")
    if n_dims > MAX_DIMS:
        raise cur.fail(f"tensor {name!r} has n_dims={n_dims}, more than ggml's {MAX_DIMS}")
    cur.need(8 * n_dims, f"dims of tensor {name!r}")
    ne = struct.unpack_from(f"<{n_dims}q", cur.buf, cur.pos)
    cur.pos += 8 * n_dims
    type_id = cur.unpack("<I", f"type of tensor {name!r}")
    offset = cur.unpack("<Q", f"offset of tensor {name!r}")
    return name, ne, type_id, offset


def _check_tensor(
    cur: _Cursor, name: str, ne: tuple[int, ...], type_id: int, offset: int, data_start: int, alignment: int
) -> GGUFTensorInfo:
    try:
        ggml_type = GGMLType(type_id)
    except ValueError:
        raise cur.fail(f"tensor {name!r} has unknown ggml type id {type_id}") from None
    if any(n < 0 for n in ne):
        raise cur.fail(f"tensor {name!r} has negative dims ne={list(ne)}")
    block, type_size = BLOCK_SIZES[ggml_type]
    if (ne[0] if ne else 1) % block:  # rows are whole blocks; a 0-d tensor has one element
        raise cur.fail(
            f"tensor {name!r} of type {ggml_type.name} has ne[0]={ne[0]} (ne={list(ne)}), "
            f"not a multiple of the block size {block}"
        )
    if offset % alignment:
        raise cur.fail(f"tensor {name!r} has data offset {offset}, not a multiple of the alignment {alignment}")
    numel = math.prod(ne)  # python ints: crafted dims must not wrap around
    n_bytes = numel // block * type_size
    start = data_start + offset
    if start + n_bytes > cur.size:
        raise cur.fail(
            f"tensor {name!r} data [{start}, {start + n_bytes}) runs past the end of the file "
            f"({cur.size} bytes): truncated file?"
        )
    return GGUFTensorInfo(name, tuple(reversed(ne)), ggml_type, start, n_bytes)


def _alignment(cur: _Cursor, metadata: dict[str, Any]) -> int:
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
        raise cur.fail(f"general.alignment is {alignment!r}, expected a positive power of two")
    return alignment


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse and validate a GGUF v2/v3 file; tensor data is memory-mapped, not read.

    Raises CheckpointError (message names the file and the record) on: bad magic, a version other
    than 2/3, counts or records that run past the end of the file, unknown metadata value types,
    unknown ggml type ids, a first dim not divisible by the type's block size, misaligned offsets,
    and tensor data running past the end of the file. FileNotFoundError if there is no file.
    """
    path = Path(path)
    size = path.stat().st_size
    if size < 24:  # the fixed header; np.memmap cannot map an empty file
        raise CheckpointError(f"{path}: truncated: {size} bytes is shorter than the 24-byte GGUF header")
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(memoryview(mm), path)
    version, n_tensors, n_kv = _read_header(cur)
    metadata = _read_metadata(cur, n_kv)
    alignment = _alignment(cur, metadata)
    records = [_read_tensor_info(cur, i) for i in range(n_tensors)]
    data_start = -(-cur.pos // alignment) * alignment
    tensors: dict[str, GGUFTensorInfo] = {}
    for name, ne, type_id, offset in records:
        if name in tensors:
            raise cur.fail(f"duplicate tensor name {name!r}")
        tensors[name] = _check_tensor(cur, name, ne, type_id, offset, data_start, alignment)
    return GGUFFile(path, version, metadata, tensors, mm)
