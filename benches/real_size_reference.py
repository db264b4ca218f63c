"""The PyTorch side of `benches/real_size.rs`: the reference SpatialVLA (its own model code,
transformers 4.47, eager attention, as `scripts/make_real_size_checkpoint.py` runs it) on a
real-size checkpoint, one step timed stage by stage, printed as one JSON line.

    python real_size_reference.py SPATIALVLA_REPO CHECKPOINT_DIR f32|bf16

Stages, each as the reference computes it inside `generate`:
- `load_s`: `from_pretrained` (the bf16 shards read into the chosen dtype) and the processor;
- `zoe_s`: ZoeDepth on the padded input and the bicubic resize back (`get_image_features`'s
  depth lines);
- `image_s`: SigLIP, the Ego3D embedding of the lifted depth and the projector;
- `prompt_s`: the prompt pass (embeddings, mask, 26 layers, the head at the last position
  only, `num_logits_to_keep=1` as `generate` asks), image features precomputed;
- `generate_s`: `generate(max_new_tokens=12)` with image features precomputed (the prompt
  pass and 11 one-token passes), so `(generate_s - prompt_s) / 11` is one token;
- `peak_rss_gb`: the process's peak resident memory (`ru_maxrss`).
In bf16 the whole model is cast, ZoeDepth included, and the inputs too (`predict_action`).
"""

import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(REPO, "tests/golden/tiny_spatialvla/inputs/example.png")
PROMPT = "What action should the robot take to pick the cup?"
UNNORM_KEY = "bridge_orig/1.0.0"


def stage(key, out):
    """Each stage's time on stderr as it ends (a slow CPU may not reach the last)."""
    print(f"{key}: {out[key]:.3f}", file=sys.stderr, flush=True)


def main():
    repo, ckpt, dtype_name = sys.argv[1], sys.argv[2], sys.argv[3]
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    sys.path.insert(0, os.path.abspath(repo))
    from model.modeling_spatialvla import SpatialVLAForConditionalGeneration, process_zoe
    from model.processing_spatialvla import SpatialVLAProcessor

    t0 = time.perf_counter()
    model = SpatialVLAForConditionalGeneration.from_pretrained(
        ckpt, torch_dtype=dtype, attn_implementation="eager")
    model.eval()
    processor = SpatialVLAProcessor.from_pretrained(ckpt)
    load_s = time.perf_counter() - t0
    print(f"load_s: {load_s:.3f}", file=sys.stderr, flush=True)

    image = Image.open(IMAGE).convert("RGB")
    inputs = processor(images=[image], text=PROMPT, unnorm_key=UNNORM_KEY, return_tensors="pt")
    if dtype != torch.float32:
        inputs = inputs.to(dtype)
    pv, K = inputs["pixel_values"], inputs["intrinsic"]
    cfg = model.config
    out = {"dtype": dtype_name, "threads": torch.get_num_threads(), "load_s": load_s}
    with torch.no_grad():
        t0 = time.perf_counter()
        zoe_pv, ph, pw = process_zoe(pv, pad_mode="reflect")
        pvh, pvw = pv.shape[-2:]
        depth = model.vision_zoe_model(pixel_values=zoe_pv).predicted_depth
        depth = F.interpolate(depth.unsqueeze(1), size=(pvh + 2 * ph, pvw + 2 * pw),
                              mode="bicubic", align_corners=True)[..., ph:-ph, pw:-pw]
        out["zoe_s"] = time.perf_counter() - t0
        stage("zoe_s", out)

        import torchvision.transforms.functional as TF
        from model.modeling_spatialvla import SIGLIP_MEAN, SIGLIP_STD
        t0 = time.perf_counter()
        hidden = model.vision_tower(TF.normalize(pv, mean=SIGLIP_MEAN, std=SIGLIP_STD)).last_hidden_state
        xyz = model.backproject_patch(K, depth, patch_size=cfg.vision_config.patch_size,
                                      reso=cfg.ego3d_patch_reso)
        feats = model.multi_modal_projector(hidden + model.position_embedding_3d(xyz))
        feats = feats / (cfg.text_config.hidden_size ** 0.5)
        out["image_s"] = time.perf_counter() - t0
        stage("image_s", out)

        # The language-model stages with the image branch taken out.
        model.get_image_features = lambda *_a, **_k: feats
        t0 = time.perf_counter()
        model(**inputs, num_logits_to_keep=1, use_cache=True)
        out["prompt_s"] = time.perf_counter() - t0
        stage("prompt_s", out)
        t0 = time.perf_counter()
        gen = model.generate(**inputs, max_new_tokens=12, do_sample=False)
        out["generate_s"] = time.perf_counter() - t0
        stage("generate_s", out)
        out["tokens"] = gen[0, inputs["input_ids"].shape[-1]:].tolist()
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
