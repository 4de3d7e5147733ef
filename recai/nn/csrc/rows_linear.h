// rows_linear: the decode-step matmul of recai/nn/csrc/rows_linear.cpp, shared by the compiled
// decode step and recai.nn.cpu_linear's Python path (as torch.ops.recai.rows_linear).
#pragma once

#include <ATen/core/Tensor.h>  // not ATen.h: a lighter header, so the build is quicker

#include <optional>

namespace recai {

constexpr int64_t kMaxRows = 16;  // decode-sized batches (recai.nn.cpu_linear.MAX_ROWS)

// x: (rows, in), weight: (out, in) contiguous, bias: (out) or none; fp32 or bf16, CPU.
// Returns (rows, out) in x's dtype, accumulated in fp32; each row's result is the same as alone.
at::Tensor rows_linear(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias);

}  // namespace recai
