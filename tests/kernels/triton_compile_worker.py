"""Compile the Triton top-k kernel for a Hopper GPU (sm_90) without one: catches what the interpreter
lets through (globals, types, layouts). Run by test_triton_topk.py without TRITON_INTERPRET.

    python triton_compile_worker.py float32 4      # dtype, log2 of the survivors per query
"""
import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from kernels.triton_topk import _topk_kernel, launch_shape

dtype, log_k = sys.argv[1], int(sys.argv[2])
pointer = {"float32": "*fp32", "bfloat16": "*bf16", "float16": "*fp16"}[dtype]
shape = launch_shape(2 ** log_k, 128)
signature = {"q_ptr": pointer, "x_ptr": pointer, "allow_ptr": "*u8", "out_ptr": "*i64", "Q": "i32", "N": "i32",
             "D": "i32", "per_split": "i32", "stride_q": "i32", "stride_x": "i32", "stride_aq": "i32",
             "stride_out_s": "i32", "stride_out_q": "i32"}
constants = {"HAS_ALLOW": True, "ROUND_BF16": dtype == "bfloat16", "ROUND_FP16": dtype == "float16", **shape}
signature.update({name: "constexpr" for name in constants})
kernel = triton.compile(ASTSource(_topk_kernel, signature, constants), target=GPUTarget("cuda", 90, 32))
print(f"compiled: shared memory {kernel.metadata.shared} bytes")
