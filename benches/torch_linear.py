"""The PyTorch side of `benches/bf16_linear.rs`: `torch.nn.functional.linear` on the same
shapes (Gemma2's `up_proj`, 2304 -> 9216, and `down_proj`, 9216 -> 2304), float32 and bfloat16, at the thread count the
Rust side uses, so the lines sit beside criterion's figures of the same run.

    python torch_linear.py THREADS
"""

import sys
import timeit

import torch


def main():
    torch.set_num_threads(int(sys.argv[1]))
    torch.manual_seed(0)
    for k, n in ((2304, 9216), (9216, 2304)):
        w32 = torch.randn(n, k) * 0.02
        for rows in (1, 268):
            x32 = torch.randn(1, rows, k)
            for name, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
                x, w = x32.to(dt), w32.to(dt)
                torch.nn.functional.linear(x, w)
                reps = 20
                t = timeit.timeit(lambda: torch.nn.functional.linear(x, w), number=reps) / reps
                print(f"bf16_linear_{k}x{n}/torch_{name}_rows{rows}: {t * 1e3:.3f} ms")


if __name__ == "__main__":
    with torch.no_grad():
        main()
