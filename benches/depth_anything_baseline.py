"""The PyTorch side of `benches/depth_expert.rs`: a real-size Depth Anything V2 ViT-S built
with the official code (random weights, seed 0: the released ones cannot be downloaded
here), saved as the releases are (`torch.save` of the state dict, float32), timed on the
same input the Rust bench runs, and its output kept for the parity check.

    python depth_anything_baseline.py OFFICIAL_REPO OUT_DIR [SIZE]

Writes OUT_DIR/depth_anything_v2_vits.pth, OUT_DIR/input.safetensors (the network input,
1 x 3 x SIZE x SIZE) and OUT_DIR/output.safetensors (1 x SIZE x SIZE); prints the time.
"""

import sys
import timeit
from pathlib import Path

import torch
from safetensors.torch import save_file


def main():
    repo, out = Path(sys.argv[1]), Path(sys.argv[2])
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 518
    sys.path.insert(0, str(repo))
    from depth_anything_v2.dpt import DepthAnythingV2

    torch.manual_seed(0)
    model = DepthAnythingV2(encoder="vits", features=64, out_channels=[48, 96, 192, 384])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias") or "norm" in name:
                p.normal_(0.0, 0.1).add_(1.0 if "norm" in name and name.endswith("weight") else 0.0)
        # Keep the output above the final ReLU, so the parity check compares numbers.
        model.depth_head.scratch.output_conv2[2].bias.fill_(1.0)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), str(out / "depth_anything_v2_vits.pth"))
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x)
        best = min(timeit.repeat(lambda: model(x), number=1, repeat=5))
    save_file({"x": x.contiguous()}, str(out / "input.safetensors"))
    save_file({"y": y.contiguous()}, str(out / "output.safetensors"))
    params = sum(p.numel() for p in model.parameters())
    print(
        f"torch Depth Anything V2 ViT-S ({params / 1e6:.1f} M parameters) forward {size}x{size}: "
        f"{best * 1e3:.0f} ms ({torch.get_num_threads()} threads, torch {torch.__version__})"
    )


if __name__ == "__main__":
    main()
