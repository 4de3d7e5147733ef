// One decode step of recai's Llama (recai/nn/llama.py) for CPU inference, as a single call.
//
// A batch-1 decode step of a small model is a few hundred tiny ATen calls besides its weight
// matmuls; from Python each costs several microseconds of interpreter and binding overhead, which
// for SmolLM2-135M is about a third of the step. Here the same ATen calls run from C++, in the same
// order with the same arguments, so the logits are those of the Python path, bit for bit.
// recai/nn/cpu_decode.py builds this file once per torch version and decides when it may be used
// (plain modules, no hooks, no autograd); it also chooses each matmul's weight layout, the one
// recai/nn/cpu_linear.py's fast paths use. This file also registers rows_linear (rows_linear.cpp).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <optional>
#include <vector>

#include "rows_linear.h"

using at::Tensor;

namespace {

// Matmul kinds, numbered as in recai/nn/cpu_linear.py (GEMV, PACKED, LINEAR, ROWS).
constexpr int64_t kGemv = 0;    // x @ W with W stored transposed, (in, out) contiguous
constexpr int64_t kPacked = 1;  // oneDNN linear on its prepacked weight
constexpr int64_t kLinear = 2;  // F.linear(x, W, b) with W as stored, (out, in)
constexpr int64_t kRows = 3;    // recai::rows_linear(x, W, b) with W as stored

Tensor packed_linear(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
                       .typed<Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&,
                                     c10::string_view, c10::List<std::optional<c10::Scalar>>,
                                     std::optional<c10::string_view>)>();
  return op.call(x, w, b, "none", c10::List<std::optional<c10::Scalar>>(), c10::string_view(""));
}

Tensor matmul(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, int64_t kind) {
  if (kind == kGemv) return b ? at::addmm(*b, x, w) : at::mm(x, w);
  if (kind == kPacked) return packed_linear(x, w, b);
  if (kind == kRows) return recai::rows_linear(x, w, b);
  TORCH_CHECK(kind == kLinear, "decode_step: unknown matmul kind ", kind);
  return at::linear(x, w, b);
}

// RMSNorm as recai.nn.llama.RMSNorm computes it: fused in fp32; in lower precision normalised in
// fp32, cast back, then scaled.
Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {
  const int64_t C = x.size(-1);
  if (x.scalar_type() == at::kFloat) return at::rms_norm(x, {C}, w, eps);
  return w * at::rms_norm(x.to(at::kFloat), {C}, std::nullopt, eps).to(x.scalar_type());
}

}  // namespace

// x: (B, C) token embeddings; cos, sin: (B|1, 1, D) rotary tables at this step's positions;
// mask: optional (B, 1, 1, S) boolean key mask. Per layer six weight slots, in this order:
// attention norm, q|k|v, output projection, MLP norm, gate|up, down; then the final norm and the
// head. `bias` and `kind` run parallel to `weight` (norm slots: no bias, kind ignored).
// k_cache[i], v_cache[i]: (B, Hkv, L, D), written at position `pos`. Returns logits (B, vocab).
Tensor decode_step(Tensor x, const Tensor& cos, const Tensor& sin, const std::optional<Tensor>& mask,
                   at::TensorList weight, const c10::List<std::optional<Tensor>>& bias,
                   at::IntArrayRef kind, at::TensorList k_cache, at::TensorList v_cache, int64_t pos,
                   int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, double eps) {
  const int64_t B = x.size(0), H = n_heads, Hkv = n_kv_heads, D = head_dim, d = D / 2;
  const int64_t L = k_cache.size();
  TORCH_CHECK(weight.size() == static_cast<size_t>(6 * L + 2) && bias.size() == weight.size() &&
                  kind.size() == weight.size() && v_cache.size() == k_cache.size(),
              "decode_step: expected 6 weights per layer plus 2, got ", weight.size(), " for ", L, " layers");
  auto w = [&](int64_t i, int64_t j) -> const Tensor& { return weight[6 * i + j]; };
  auto lin = [&](const Tensor& h, int64_t i, int64_t j) {
    const int64_t s = 6 * i + j;
    return matmul(h, weight[s], bias.get(s), kind[s]);
  };
  for (int64_t i = 0; i < L; ++i) {
    Tensor qkv = lin(rms_norm(x, w(i, 0), eps), i, 1).view({B, H + 2 * Hkv, D});
    // Queries and keys rotate together, rotate-half layout (llama.apply_rope).
    Tensor qk = qkv.narrow(1, 0, H + Hkv);
    qk = at::addcmul(qk * cos, at::cat({qk.narrow(2, d, d), qk.narrow(2, 0, d)}, 2), sin);
    k_cache[i].select(2, pos).copy_(qk.narrow(1, H, Hkv));   // (B, Hkv, D)
    v_cache[i].select(2, pos).copy_(qkv.narrow(1, H + Hkv, Hkv));
    // The H / Hkv query heads sharing a K/V head attend as rows of that head (llama.Attention).
    Tensor q = qk.narrow(1, 0, H).reshape({B, Hkv, H / Hkv, D});
    Tensor y = at::scaled_dot_product_attention(q, k_cache[i].narrow(2, 0, pos + 1),
                                                v_cache[i].narrow(2, 0, pos + 1), mask);
    x = x + lin(y.reshape({B, H * D}), i, 2);
    Tensor gate_up = lin(rms_norm(x, w(i, 3), eps), i, 4);  // (B, 2F)
    const int64_t F = gate_up.size(1) / 2;
    x = x + lin(at::silu(gate_up.narrow(1, 0, F)) * gate_up.narrow(1, F, F), i, 5);
  }
  return lin(rms_norm(x, weight[6 * L], eps), L, 1);
}

// Whether rows_linear runs on torch's threads: built with OpenMP, as at::parallel_for needs.
bool threaded() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

// Registered as composite ops: made of ATen calls (decode_step) or used only without autograd
// (rows_linear, behind recai.nn.cpu_linear's inference-only checks).
TORCH_LIBRARY(recai, m) {
  m.def("rows_linear(Tensor x, Tensor weight, Tensor? bias) -> Tensor", &recai::rows_linear);
  m.def("threaded() -> bool", &threaded);
  m.def(
      "decode_step(Tensor x, Tensor cos, Tensor sin, Tensor? mask, Tensor[] weight, Tensor?[] bias, "
      "int[] kind, Tensor(a!)[] k_cache, Tensor(b!)[] v_cache, int pos, int n_heads, int n_kv_heads, "
      "int head_dim, float eps) -> Tensor",
      &decode_step);
}
