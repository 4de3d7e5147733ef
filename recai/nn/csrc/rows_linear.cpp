// y = x W^T + b for the few activation rows of a decode step, W as stored, (out, in).
//
// A decode step's matmuls stream every weight once per token for one or a few activation rows, so
// they are as fast as the weights are read. ATen's general paths read them well below the memory
// bandwidth at one row: MKL's fp32 GEMV on the stored layout, and bf16 on CPUs without AVX-512
// (no oneDNN packing there). This loop reads each weight row once, in order, converts it to fp32 in
// registers and accumulates the input row against it in fp32; threads take contiguous blocks of
// output features, so each reads one sequential stream and writes its own outputs. A few rows (bf16
// batches on CPUs without bf16 packing, where ATen's bf16 matmul is slowest) share each weight
// tile, widened once. The sum order is fixed, so results do not depend on the thread count. It is
// compiled for the build machine's CPU (-march=native) by recai/nn/cpu_ops.py, which keys the
// build by the CPU's flags.
#include "rows_linear.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace recai {
namespace {

constexpr int64_t kLanes = 16;  // two AVX2 or one AVX-512 register of fp32 per accumulator
constexpr int64_t kGrain = 64;  // output features per task: enough work to amortise a thread wake-up
constexpr int64_t kTile = 16;   // weight rows widened at a time for several input rows: 36-96 KB, in L2

inline float widen(float v) { return v; }

inline float widen(c10::BFloat16 v) {
  // bf16 is the top half of an fp32: a shift, which the compiler vectorises (c10's converter, here, not).
  uint32_t bits = static_cast<uint32_t>(v.x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// One output: an fp32 input row against a weight row, summed lane-wise over 16-wide chunks, then
// across the lanes, then the tail. Every path below sums in exactly this order, so a row's result
// does not depend on the thread count or on the other rows in the batch.
template <typename T>
inline float dot(const float* x, const T* w, int64_t K) {
  float acc[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += x[k + l] * widen(w[k + l]);
  float sum = 0.f;
  for (int64_t l = 0; l < kLanes; ++l) sum += acc[l];
  for (; k < K; ++k) sum += x[k] * widen(w[k]);
  return sum;
}

// Output features [j0, j1) of all R rows. One row streams the weight straight from memory. Several
// rows take the weight a tile of features at a time, widened to fp32 once into a buffer that stays
// in cache, and every row reads the tile from there.
template <typename T>
void block(const float* x, int64_t R, const T* w, const float* bias, float* y, int64_t N, int64_t K, int64_t j0,
           int64_t j1) {
  if (R == 1) {
    for (int64_t j = j0; j < j1; ++j) y[j] = dot(x, w + j * K, K) + (bias ? bias[j] : 0.f);
    return;
  }
  std::vector<float> tile(kTile * K);
  for (int64_t t0 = j0; t0 < j1; t0 += kTile) {
    const int64_t n = std::min(kTile, j1 - t0);
    for (int64_t i = 0; i < n * K; ++i) tile[i] = widen(w[t0 * K + i]);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = 0; j < n; ++j)
        y[r * N + t0 + j] = dot(x + r * K, tile.data() + j * K, K) + (bias ? bias[t0 + j] : 0.f);
  }
}

template <typename T>
void all_features(const float* x, int64_t R, const T* w, const float* bias, float* y, int64_t N, int64_t K) {
  at::parallel_for(0, N, kGrain, [&](int64_t j0, int64_t j1) { block<T>(x, R, w, bias, y, N, K, j0, j1); });
}

}  // namespace

at::Tensor rows_linear(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1),
              "rows_linear: x (rows, in) and weight (out, in) expected, got ", x.sizes(), " and ", weight.sizes());
  TORCH_CHECK(x.device().is_cpu() && weight.device().is_cpu() && x.scalar_type() == weight.scalar_type() &&
                  (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16),
              "rows_linear: CPU fp32 or bf16 tensors of one dtype expected, got ", x.scalar_type(), " and ",
              weight.scalar_type());
  TORCH_CHECK(weight.is_contiguous(), "rows_linear: the weight must be contiguous");
  const int64_t R = x.size(0), N = weight.size(0), K = weight.size(1);
  TORCH_CHECK(R >= 1 && R <= kMaxRows, "rows_linear: 1 to ", kMaxRows, " rows expected, got ", R);
  // Inputs and bias in fp32 (a few KB): the loop then only widens the weight.
  at::Tensor xf = x.to(at::kFloat).contiguous();
  at::Tensor bf;
  if (bias) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == N, "rows_linear: bias of ", N, " features expected, got ",
                bias->sizes());
    bf = bias->to(at::kFloat).contiguous();
  }
  at::Tensor y = at::empty({R, N}, x.options().dtype(at::kFloat));
  const float* b = bias ? bf.data_ptr<float>() : nullptr;
  if (weight.scalar_type() == at::kFloat)
    all_features(xf.data_ptr<float>(), R, weight.data_ptr<float>(), b, y.data_ptr<float>(), N, K);
  else
    all_features(xf.data_ptr<float>(), R, weight.data_ptr<c10::BFloat16>(), b, y.data_ptr<float>(), N, K);
  return x.scalar_type() == at::kFloat ? y : y.to(x.scalar_type());
}

}  // namespace recai
