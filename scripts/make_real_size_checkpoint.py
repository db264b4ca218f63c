"""A real-size SpatialVLA checkpoint with random weights, and the reference's outputs on it,
without the model hub: what `SPATIALSCOPE_REAL_SIZE=DIR cargo test --test it real_size`
checks our candle model against (`tests/it/model_real_size.rs`).

    python scripts/make_real_size_checkpoint.py --spatialvla PATH --out DIR [--seed 20261206]

- `--spatialvla`: a checkout of github.com/SpatialVLA/SpatialVLA at commit
  e48075326a92116adaaf1232cf01471f15f09a73 (the spec's; its `model/` package is imported).
- Needs torch (CPU), transformers 4.47.0, scipy, safetensors, pillow; about 10 GB of disk
  and 20 GB of memory; a few minutes on a laptop. The outputs are not committed.

What it writes into DIR:
- the model built by the reference's own classes from the published `config.json`
  (`tests/golden/real_checkpoint_meta/`), every parameter drawn from a seeded normal
  distribution (the scheme of the tiny golden checkpoint, scaled to the real widths; see
  `randomise`), saved by `save_pretrained` in bfloat16 as two shards with
  `model.safetensors.index.json`; the script checks that the tensor names, shapes and shard
  split equal the published index;
- the published `config.json`, `generation_config.json`, `processor_config.json`,
  `tokenizer_config.json`, and the release's `preprocessor_config.json` /
  `special_tokens_map.json`;
- `tokenizer.json`: the bundled tiny tokenizer extended to the real vocabulary (265,347
  ids) with placeholder pieces, so that `<loc0000>` is 256000, `<image>` 257152 and the 8194
  action tokens 257153..265346, as published (the real one cannot be downloaded);
- `reference/`: for two cases (the tiny golden's images and prompts), from the bfloat16
  weights run in float32 eager mode: input ids, K, ZoeDepth's depth at 224, the Ego3D
  points, the image features, the prompt logits at the first and the last position, the
  greedy 12 tokens with each step's top-2 margin; and the same model run in bfloat16 as
  `predict_action` runs it (inputs cast to bfloat16): its prompt logits and 12 tokens.
  `reference.json` (ids, margins, settings) and `reference.safetensors` (tensors, keyed
  `<case>/<name>`).
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = os.path.join(REPO, "tests/golden/real_checkpoint_meta")
TINY_GOLDEN = os.path.join(REPO, "tests/golden/tiny_spatialvla")
TINY_CKPT = os.path.join(REPO, "assets/tiny_spatialvla")
COMMIT = "e48075326a92116adaaf1232cf01471f15f09a73"
CASES = [
    ("example_png", "inputs/example.png", "What action should the robot take to pick the cup?"),
    ("bridge_rec0_step0", "inputs/bridge_rec0_step0.png", "put cup from counter or drying rack into sink"),
]
UNNORM_KEY = "bridge_orig/1.0.0"
NEW_TOKENS = 12


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def randomise(model, seed):
    """Every parameter from a seeded normal distribution, in `named_modules` order: weights of
    Linear/Conv N(0, 1/fan_in) (query and key projections x2 std, lm_head 3/sqrt(width)),
    biases N(0, 0.1^2), LayerNorm weight 1 + N(0, 0.1^2), Gemma2 RMSNorm offsets N(0, 0.1^2),
    embeddings N(0, 1/width), position embeddings, relative-position tables and class tokens
    N(0, 0.25), layer-scale lambdas N(0.3, 0.01). The reference never calls `post_init`, so
    without this the projector, the Ego3D MLP and `spatial_embed_tokens` keep library
    defaults and norms, biases and layer scales start constant: mistakes there would pass.
    Then ZoeDepth's two deterministic shifts (as in the tiny golden) so its depth varies
    over the image instead of being almost flat."""
    g = torch.Generator().manual_seed(seed)

    def normal_(t, mean, std):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=g, dtype=torch.float32) * std + mean)

    seen = set()
    for mname, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if id(p) in seen:
                continue
            seen.add(id(p))
            cls = type(module).__name__
            if pname == "bias":
                normal_(p, 0.0, 0.1)
            elif "norm" in cls.lower() and pname == "weight":
                if "RMSNorm" in cls:
                    normal_(p, 0.0, 0.1)  # Gemma2 stores (1 + w): offsets
                else:
                    normal_(p, 1.0, 0.1)
            elif isinstance(module, torch.nn.Embedding):
                normal_(p, 0.0, 1.0 / math.sqrt(p.shape[-1]))
            elif "lambda" in pname or "layer_scale" in full or pname in ("gamma", "gamma_1", "gamma_2"):
                normal_(p, 0.3, 0.1)
            elif "relative_position_bias_table" in full or "cls_token" in pname or "position_embedding" in full and p.dim() == 2 and not isinstance(module, torch.nn.Linear):
                normal_(p, 0.0, 0.5)
            elif p.dim() >= 2:
                fan_in = p[0].numel() if not isinstance(module, torch.nn.ConvTranspose2d) else p.shape[0]
                std = 1.0 / math.sqrt(max(fan_in, 1))
                if full.endswith("lm_head.weight"):
                    std = 3.0 / math.sqrt(p.shape[1])
                elif any(k in mname for k in ("q_proj", "k_proj", ".query", ".key")):
                    std *= 2.0
                normal_(p, 0.0, std)
            else:
                normal_(p, 0.0, 0.5)
    zoe = getattr(model, "vision_zoe_model", None)
    if zoe is not None:
        with torch.no_grad():
            for name, p in zoe.named_parameters():
                if "conditional_log_binomial" in name and name.endswith("mlp.2.bias") and p.numel() >= 4:
                    p[2] += -3.0
                    p[3] += 2.5
                if "seed_bin_regressor" in name and name.endswith("conv2.bias"):
                    p += torch.linspace(-2.0, 3.0, p.numel())
    # The file's embed_tokens rows for the action tokens differ from spatial_embed_tokens
    # (from_pretrained overwrites them, the forward reads spatial_embed_tokens): a model
    # that used the file's rows would fail.


def extended_tokenizer(out_dir):
    """The tiny tokenizer with placeholder pieces inserted before `<loc0000>`, shifting the
    location, segmentation, `<image>` and action tokens to their published ids."""
    t = json.load(open(os.path.join(TINY_CKPT, "tokenizer.json")))
    vocab = t["model"]["vocab"]
    loc0 = vocab["<loc0000>"]
    shift = 256000 - loc0
    new_vocab = {}
    for piece, i in vocab.items():
        new_vocab[piece] = i + shift if i >= loc0 else i
    for i in range(loc0, 256000):
        new_vocab[f"<spatialscope_placeholder_{i}>"] = i
    t["model"]["vocab"] = new_vocab
    for a in t["added_tokens"]:
        if a["id"] >= loc0:
            a["id"] += shift
    ids = sorted(a["id"] for a in t["added_tokens"])
    by_name = {a["content"]: a["id"] for a in t["added_tokens"]}
    assert by_name["<image>"] == 257152, by_name["<image>"]
    assert by_name["<ACTION00000>"] == 257153 and by_name["<ACTION08193>"] == 265346
    assert len(new_vocab) == 257153 and ids[-1] == 265346
    json.dump(t, open(os.path.join(out_dir, "tokenizer.json"), "w"), ensure_ascii=False)


def check_against_index(out_dir):
    want = json.load(open(os.path.join(META, "model.safetensors.index.json")))["weight_map"]
    got = json.load(open(os.path.join(out_dir, "model.safetensors.index.json")))["weight_map"]
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    moved = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    log(f"index: {len(got)} tensors; missing {len(missing)}, extra {len(extra)}, in another shard {len(moved)}")
    assert not missing and not extra, (missing[:5], extra[:5])
    return {"missing": missing, "extra": extra, "other_shard": moved}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spatialvla", required=True, help=f"SpatialVLA checkout at {COMMIT}")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--skip-bf16", action="store_true", help="skip the bfloat16 reference run")
    ap.add_argument("--reuse", action="store_true",
                    help="DIR already holds the checkpoint: only record the reference outputs")
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(a.spatialvla))
    from model.configuration_spatialvla import SpatialVLAConfig
    from model.modeling_spatialvla import SpatialVLAForConditionalGeneration
    from model.processing_spatialvla import SpatialVLAProcessor

    os.makedirs(a.out, exist_ok=True)
    if not a.reuse:
        torch.manual_seed(a.seed)
        config = SpatialVLAConfig.from_pretrained(META)
        log("building the model from the published config")
        model = SpatialVLAForConditionalGeneration(config)
        log(f"{sum(p.numel() for p in model.parameters()) / 1e9:.3f} B parameters; randomising (seed {a.seed})")
        randomise(model, a.seed)
        log("saving in bfloat16, two shards")
        model.to(torch.bfloat16)
        model.save_pretrained(a.out, max_shard_size="5GB", safe_serialization=True)
        del model
        for f in ("config.json", "generation_config.json", "processor_config.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(META, f), os.path.join(a.out, f))
        for f in ("preprocessor_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(TINY_CKPT, f), os.path.join(a.out, f))
        extended_tokenizer(a.out)
    index_check = check_against_index(a.out)
    # As the tiny golden was made: the bfloat16 file read back as float32 in eager mode
    # (Gemma2's attention soft-capping exists only in the eager attention; the attention
    # class is chosen when the model is built, so it is built by from_pretrained), which
    # also gives embed_tokens' action rows the values of spatial_embed_tokens.
    log(f"loading {a.out} (float32, eager)")
    model = SpatialVLAForConditionalGeneration.from_pretrained(
        a.out, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    processor = SpatialVLAProcessor.from_pretrained(a.out)

    captured = {}
    original = model.backproject_patch

    def capture(K, depth, patch_size=14, reso=2):
        xyz = original(K, depth, patch_size=patch_size, reso=reso)
        captured["depth_224"] = depth.detach().float().clone()
        captured["ego3d_xyz"] = xyz.detach().float().clone()
        return xyz

    model.backproject_patch = capture
    tensors, cases = {}, []
    for cid, image_file, prompt in CASES:
        image = Image.open(os.path.join(TINY_GOLDEN, image_file)).convert("RGB")
        inputs = processor(images=[image], text=prompt, unnorm_key=UNNORM_KEY, return_tensors="pt")
        log(f"{cid}: {inputs['input_ids'].shape[-1]} tokens, float32")
        with torch.no_grad():
            t0 = time.time()
            feats = model.get_image_features(inputs["pixel_values"], inputs["intrinsic"])
            t_img = time.time() - t0
            t0 = time.time()
            out = model(**inputs)
            t_prompt = time.time() - t0
            t0 = time.time()
            gen = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False,
                                 output_scores=True, return_dict_in_generate=True)
            t_gen = time.time() - t0
        ids = gen.sequences[0, inputs["input_ids"].shape[-1]:].tolist()
        margins = []
        for s in gen.scores:
            top = torch.topk(s[0].float(), 2).values
            margins.append(float(top[0] - top[1]))
        key = lambda n: f"{cid}/{n}"
        tensors[key("input_ids")] = inputs["input_ids"].contiguous()
        tensors[key("intrinsic")] = inputs["intrinsic"].float().contiguous()
        tensors[key("depth_224")] = captured["depth_224"].contiguous()
        tensors[key("ego3d_xyz")] = captured["ego3d_xyz"].contiguous()
        tensors[key("image_features")] = feats.float().contiguous()
        tensors[key("prompt_first_logits")] = out.logits[0, 0].float().contiguous()
        tensors[key("prompt_last_logits")] = out.logits[0, -1].float().contiguous()
        tensors[key("generated_ids")] = torch.tensor(ids, dtype=torch.int64)
        case = {
            "id": cid, "image_file": image_file, "prompt": prompt, "unnorm_key": UNNORM_KEY,
            "num_tokens": int(inputs["input_ids"].shape[-1]),
            "generated_ids": ids, "top2_margins": margins,
            "seconds_float32": {"image_features": t_img, "prompt_pass": t_prompt, "generate_12": t_gen},
        }
        log(f"{cid}: ids {ids}, smallest top-2 margin {min(margins):.2e}; "
            f"image {t_img:.1f} s, prompt {t_prompt:.1f} s, generate {t_gen:.1f} s")
        cases.append(case)
    if not a.skip_bf16:
        model.to(torch.bfloat16)
        # generate() keeps its static cache on the model and reuses it when the batch and
        # length fit, whatever its dtype: the float32 one must go.
        if hasattr(model, "_cache"):
            del model._cache
        for case in cases:
            cid = case["id"]
            image = Image.open(os.path.join(TINY_GOLDEN, case["image_file"])).convert("RGB")
            inputs = processor(images=[image], text=case["prompt"], unnorm_key=UNNORM_KEY, return_tensors="pt")
            inputs = inputs.to(torch.bfloat16)  # as predict_action does
            log(f"{cid}: bfloat16")
            with torch.no_grad():
                t0 = time.time()
                out = model(**inputs)
                gen = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False,
                                     output_scores=True, return_dict_in_generate=True)
                t_bf = time.time() - t0
            ids = gen.sequences[0, inputs["input_ids"].shape[-1]:].tolist()
            tensors[f"{cid}/bf16_prompt_last_logits"] = out.logits[0, -1].float().contiguous()
            tensors[f"{cid}/bf16_generated_ids"] = torch.tensor(ids, dtype=torch.int64)
            case["bf16_generated_ids"] = ids
            case["bf16_top2_margins"] = [
                float(torch.topk(s[0].float(), 2).values[0] - torch.topk(s[0].float(), 2).values[1])
                for s in gen.scores
            ]
            case["seconds_bf16_prompt_and_generate"] = t_bf
            log(f"{cid}: bf16 ids {ids}")
    ref = os.path.join(a.out, "reference")
    os.makedirs(ref, exist_ok=True)
    # Own storage each (the processor hands the same K tensor to both cases).
    save_file({k: v.clone().contiguous() for k, v in tensors.items()},
              os.path.join(ref, "reference.safetensors"))
    json.dump({
        "produced_by": f"scripts/make_real_size_checkpoint.py, SpatialVLA {COMMIT}, torch {torch.__version__}, "
                       f"transformers {__import__('transformers').__version__}, seed {a.seed}",
        "weights": "random (see randomise), stored in bfloat16; the float32 run uses those bf16 values",
        "index_check": index_check,
        "cases": cases,
    }, open(os.path.join(ref, "reference.json"), "w"), indent=1)
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
