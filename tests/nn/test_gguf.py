"""recai.nn.gguf against gguf-py (GGUFReader, GGUFWriter, gguf.quants) on random blocks and the real SmolLM2 file."""
import struct

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q

from recai.errors import CheckpointError
from recai.nn.gguf import BLOCK_SIZES, GGMLType, dequantize, read_gguf

ROWS, COLS = 8, 512  # 512 is a whole number of 32- and 256-element blocks

# Byte offsets of each type's f16 scale fields inside a block: random bytes there would give
# inf/nan scales, so the tests write sane f16 values.
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    "IQ4_NL": [0], "IQ4_XS": [0],
}  # fmt: skip
QUANTIZABLE = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]  # gguf.quants.quantize supports these


def random_blocks(name: str, seed: int) -> np.ndarray:
    """(ROWS, bytes per row) of random blocks whose f16 scales are finite and modest."""
    rng = np.random.default_rng(seed)
    block, size = BLOCK_SIZES[GGMLType[name]]
    blocks = rng.integers(0, 256, size=(ROWS * COLS // block, size), dtype=np.uint8)
    for at in F16_FIELDS[name]:
        scale = rng.normal(0, 0.05, size=blocks.shape[0]).astype(np.float16)
        blocks[:, at : at + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(ROWS, -1)


def ours(raw: np.ndarray, name: str) -> np.ndarray:
    return dequantize(raw, GGMLType[name], (ROWS, COLS)).numpy()


@pytest.mark.parametrize("name", list(F16_FIELDS))
@pytest.mark.parametrize("seed", [0, 1])
def test_random_blocks_match_gguf_py_exactly(name, seed):
    raw = random_blocks(name, seed)
    np.testing.assert_array_equal(ours(raw, name), gguf.quants.dequantize(raw, Q[name]))


@pytest.mark.parametrize("name", QUANTIZABLE)
def test_quantized_values_match_gguf_py_exactly(name):
    x = np.random.default_rng(2).normal(0, 1, size=(ROWS, COLS)).astype(np.float32)
    raw = gguf.quants.quantize(x, Q[name])
    got = ours(raw, name)
    np.testing.assert_array_equal(got, gguf.quants.dequantize(raw, Q[name]))
    assert np.abs(got - x).max() < 0.5  # and it is an approximation of x, not just consistent noise


def test_float_types_match_numpy():
    x = np.random.default_rng(3).normal(0, 3, size=(ROWS, COLS)).astype(np.float32)
    np.testing.assert_array_equal(ours(x.view(np.uint8), "F32"), x)
    h = x.astype(np.float16)
    np.testing.assert_array_equal(ours(h.view(np.uint8), "F16"), gguf.quants.dequantize(h.view(np.uint8), Q.F16))
    b = gguf.quants.quantize(x, Q.BF16)
    np.testing.assert_array_equal(ours(b, "BF16"), gguf.quants.dequantize(b, Q.BF16))
    for name, dtype in [("F64", np.float64), ("I8", np.int8), ("I16", np.int16), ("I32", np.int32), ("I64", np.int64)]:
        v = (x * 20).astype(dtype)
        np.testing.assert_array_equal(ours(v.view(np.uint8), name), v.astype(np.float32))


def test_q8_k_matches_ggml_formula():
    # gguf-py has no Q8_K; ggml: y = d (f32) * qs (int8), bsums unused.
    rng = np.random.default_rng(4)
    blocks = rng.integers(0, 256, size=(ROWS * COLS // 256, 292), dtype=np.uint8)
    d = rng.normal(0, 0.01, size=blocks.shape[0]).astype(np.float32)
    blocks[:, :4] = d.view(np.uint8).reshape(-1, 4)
    want = d[:, None] * blocks[:, 4:260].view(np.int8).astype(np.float32)
    np.testing.assert_array_equal(ours(blocks, "Q8_K"), want.reshape(ROWS, COLS))


def test_dequantize_accepts_torch_and_checks_sizes():
    raw = random_blocks("Q4_K", 5)
    got = dequantize(torch.from_numpy(raw), GGMLType.Q4_K, (ROWS, COLS))
    np.testing.assert_array_equal(got.numpy(), ours(raw, "Q4_K"))
    with pytest.raises(CheckpointError, match="needs"):
        dequantize(raw[:, :-1], GGMLType.Q4_K, (ROWS, COLS))
    with pytest.raises(CheckpointError, match="multiple of 256"):
        dequantize(raw, GGMLType.Q4_K, (ROWS * 4, COLS // 4))
    with pytest.raises(CheckpointError, match="IQ2_XXS"):
        dequantize(raw, GGMLType.IQ2_XXS, (ROWS, COLS))
    with pytest.raises(CheckpointError, match="float32"):  # values are never cast to bytes
        dequantize(np.zeros(4, np.float32), GGMLType.I32, (4,))


# --- the real file ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(smollm2_gguf):
    return read_gguf(smollm2_gguf), gguf.GGUFReader(smollm2_gguf)


def test_real_metadata_matches_gguf_reader(real):
    ours_, ref = real
    assert ours_.version == 3
    want = {k: f.contents() for k, f in ref.fields.items() if not k.startswith("GGUF.")}
    assert list(ours_.metadata) == list(want)
    for key, value in want.items():
        assert ours_.metadata[key] == value, key
    assert len(ours_.metadata["tokenizer.ggml.tokens"]) == 49152


def test_real_tensor_infos_match_gguf_reader(real):
    ours_, ref = real
    assert list(ours_.tensors) == [t.name for t in ref.tensors]
    for t in ref.tensors:
        info = ours_.tensors[t.name]
        assert info.shape == tuple(int(n) for n in reversed(t.shape)), t.name
        assert info.ggml_type == int(t.tensor_type), t.name
        assert (info.offset, info.n_bytes) == (t.data_offset, t.n_bytes), t.name
        raw = ours_.raw(t.name)
        assert raw.dtype == np.uint8 and not raw.flags.writeable
        assert np.shares_memory(raw, ours_._map)  # a view of the map, not a copy


def test_real_tensors_of_each_type_match_gguf_py(real):
    ours_, ref = real
    seen = {}
    for t in ref.tensors:  # the first tensor of every type in the file, plus the embedding
        if t.tensor_type not in seen or t.name == "token_embd.weight":
            seen[t.tensor_type] = t
    assert {Q.Q4_1, Q.Q8_0, Q.F32} <= set(seen)
    for qtype, t in seen.items():
        want = gguf.quants.dequantize(t.data, qtype)
        got = ours_.tensor(t.name)
        assert got.dtype == torch.float32 and tuple(got.shape) == want.shape, t.name
        np.testing.assert_array_equal(got.numpy(), want, err_msg=t.name)
    assert ours_.tensor(t.name, dtype=torch.bfloat16).dtype == torch.bfloat16


# --- writer round trips -----------------------------------------------------------------------


def write_small(path, alignment=None) -> dict:
    """A GGUF with one value of every metadata type and tensors of several types; returns the tensors."""
    rng = np.random.default_rng(6)
    w = gguf.GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int32("t.i32", -2_000_000_000)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float32("t.f32", 0.1)
    w.add_float64("t.f64", 0.1)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo ✓")
    w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [0.5, 1.25])
    w.add_array("t.strs", ["a", "ß", ""])
    w.add_array("t.nested", [[1, 2], [3]])
    w.add_key_value("t.u8s", [1, 2, 255], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT8)
    w.add_array("t.bools", [True, False])
    tensors = {
        "f32": rng.normal(size=(3, 5)).astype(np.float32),
        "f16": rng.normal(size=(2, 3, 4)).astype(np.float16),
        "vec": rng.normal(size=(7,)).astype(np.float32),
    }
    for name, x in tensors.items():
        w.add_tensor(name, x)
    x = rng.normal(size=(4, 256)).astype(np.float32)
    tensors["q8"] = gguf.quants.quantize(x, Q.Q8_0)
    w.add_tensor("q8", tensors["q8"], raw_dtype=Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors


@pytest.mark.parametrize("alignment", [None, 64])
def test_writer_round_trip(tmp_path, alignment):
    path = tmp_path / "small.gguf"
    tensors = write_small(path, alignment)
    gf = read_gguf(path)
    assert gf.version == 3 and gf.path == path
    md = gf.metadata
    assert (md["t.u8"], md["t.i8"], md["t.u16"], md["t.i16"]) == (200, -100, 60000, -30000)
    assert (md["t.u32"], md["t.i32"], md["t.u64"], md["t.i64"]) == (4_000_000_000, -2_000_000_000, 2**63 + 5, -(2**62))
    assert md["t.f32"] == float(np.float32(0.1)) and md["t.f64"] == 0.1 and md["t.bool"] is True
    assert md["t.str"] == "héllo ✓" and md["t.strs"] == ["a", "ß", ""]
    assert md["t.ints"] == [1, -2, 3] and md["t.floats"] == [0.5, 1.25] and md["t.nested"] == [[1, 2], [3]]
    assert md["t.u8s"] == [1, 2, 255] and md["t.bools"] == [True, False]
    assert md["general.architecture"] == "llama"
    assert [t.offset % (alignment or 32) for t in gf.tensors.values()] == [0] * 4
    for name in ("f32", "f16", "vec"):
        assert gf.tensors[name].shape == tensors[name].shape
        np.testing.assert_array_equal(gf.tensor(name).numpy(), tensors[name].astype(np.float32))
    assert gf.tensors["q8"].shape == (4, 256) and gf.tensors["q8"].ggml_type == GGMLType.Q8_0
    np.testing.assert_array_equal(gf.tensor("q8").numpy(), gguf.quants.dequantize(tensors["q8"], Q.Q8_0))
    assert gf.tensor("f16", dtype=torch.float16).dtype == torch.float16


def patched(tmp_path, name: str, edit) -> "Path":
    """A copy of the small file with `edit(bytearray)` applied, saved as `name`."""
    src = tmp_path / "src.gguf"
    if not src.exists():
        write_small(src)
    data = bytearray(src.read_bytes())
    edit(data)
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def test_version_2_parses(tmp_path):
    path = patched(tmp_path, "v2.gguf", lambda d: d.__setitem__(slice(4, 8), struct.pack("<I", 2)))
    gf = read_gguf(path)
    assert gf.version == 2 and gf.metadata["t.str"] == "héllo ✓" and len(gf.tensors) == 4


# --- bad input --------------------------------------------------------------------------------


def tensor_record_at(data: bytearray, name: str) -> int:
    """Offset of the n_dims field of tensor `name`'s info record."""
    key = struct.pack("<Q", len(name)) + name.encode()
    return data.index(key) + len(key)


def set_type(name, type_id):
    def edit(d):
        at = tensor_record_at(d, name)
        n_dims = struct.unpack_from("<I", d, at)[0]
        struct.pack_into("<I", d, at + 4 + 8 * n_dims, type_id)

    return edit


def set_offset(name, offset):
    def edit(d):
        at = tensor_record_at(d, name)
        n_dims = struct.unpack_from("<I", d, at)[0]
        struct.pack_into("<Q", d, at + 4 + 8 * n_dims + 4, offset)

    return edit


def set_ne0(name, ne0):
    return lambda d: struct.pack_into("<q", d, tensor_record_at(d, name) + 4, ne0)


BAD = {
    "bad_magic.gguf": (lambda d: d.__setitem__(slice(0, 4), b"GGML"), "magic"),
    "version1.gguf": (lambda d: struct.pack_into("<I", d, 4, 1), "version 1"),
    "version4.gguf": (lambda d: struct.pack_into("<I", d, 4, 4), "version 4"),
    "big_endian.gguf": (lambda d: struct.pack_into(">I", d, 4, 3), "big-endian"),
    "huge_kv_count.gguf": (lambda d: struct.pack_into("<Q", d, 16, 2**40), "counts run past"),
    "huge_tensor_count.gguf": (lambda d: struct.pack_into("<Q", d, 8, 2**33), "counts run past"),
    "unknown_type.gguf": (set_type("f32", 99), "unknown ggml type id 99"),
    "retired_type.gguf": (set_type("f32", 4), "unknown ggml type id 4"),
    "offset_past_eof.gguf": (set_offset("vec", 1 << 30), "runs past the end"),
    "misaligned.gguf": (set_offset("vec", 3), "alignment"),
    "bad_block_dim.gguf": (set_ne0("q8", 33), "not a multiple of the block size 32"),
    "bad_value_type.gguf": (lambda d: struct.pack_into("<I", d, d.index(b"t.u8") + 4, 77), "value type id 77"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_raise_checkpoint_error_naming_file(tmp_path, name):
    edit, what = BAD[name]
    path = patched(tmp_path, name, edit)
    with pytest.raises(CheckpointError, match=what) as err:
        read_gguf(path)
    assert name in str(err.value)


@pytest.mark.parametrize("keep", [0.0, 0.002, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_file_raises_checkpoint_error(tmp_path, keep):
    src = tmp_path / "full.gguf"
    write_small(src)
    data = src.read_bytes()
    path = tmp_path / f"cut_{keep}.gguf"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated") as err:
        read_gguf(path)
    assert path.name in str(err.value)


def test_truncated_real_file(tmp_path, smollm2_gguf):
    # Keep the whole header and tensor table, cut the data: caught at open, naming the first tensor cut off.
    path = tmp_path / "smollm2_cut.gguf"
    with open(smollm2_gguf, "rb") as f:
        path.write_bytes(f.read(40_000_000))
    with pytest.raises(CheckpointError, match="runs past the end of the file") as err:
        read_gguf(path)
    assert "smollm2_cut.gguf" in str(err.value) and "tensor 'blk." in str(err.value)


def test_undecodable_type_reads_but_tensor_raises(tmp_path):
    # IQ2_XXS (256-element blocks, 66 bytes) has a layout recai knows but no dequantiser.
    path = patched(tmp_path, "iq2xxs.gguf", set_type("q8", int(GGMLType.IQ2_XXS)))
    gf = read_gguf(path)
    assert gf.tensors["q8"].ggml_type == GGMLType.IQ2_XXS and gf.tensors["q8"].n_bytes == 4 * 66
    assert gf.raw("q8").shape == (4 * 66,)
    with pytest.raises(CheckpointError, match="tensor 'q8' has ggml type IQ2_XXS") as err:
        gf.tensor("q8")
    assert "iq2xxs.gguf" in str(err.value)
    with pytest.raises(KeyError, match="nope"):
        gf.tensor("nope")
