//! Parity of the candle SpatialVLA with the reference implementation on the tiny
//! random-weight checkpoint (`assets/tiny_spatialvla`, the reference's outputs in
//! `tests/golden/tiny_spatialvla`). Every case listed in `reference_outputs.json` is run,
//! so a different case set (other images, prompts, keys) is checked the same way.
//! Tolerances are the golden README's suggestions for a float32 CPU implementation, tightened
//! to the targets where those are stricter (logits 1e-4, text attention 1e-5).
//!
//! Depth: ZoeDepth is a later issue, so the Ego3D input here is the reference's own
//! `depth_224`; everything downstream of depth is checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, IndexOp, Tensor};
use serde_json::Value;
use spatialscope::model::gemma2::AttentionCapture;
use spatialscope::model::preprocess::pixel_values;
use spatialscope::model::processor::{IntrinsicsPrecision, ProcessorIntrinsics};
use spatialscope::model::prompt::PromptTokenizer;
use spatialscope::model::{Checkpoint, FrameInput, GenerateOptions, SpatialVla};

fn ckpt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tiny_spatialvla")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny_spatialvla")
}

struct Golden {
    json: Value,
    tensors: HashMap<String, Tensor>,
}

fn golden() -> Golden {
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(golden_dir().join("reference_outputs.json")).unwrap(),
    )
    .unwrap();
    let tensors = candle_core::safetensors::load(
        golden_dir().join("reference_outputs.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    Golden { json, tensors }
}

fn max_abs(a: &Tensor, b: &Tensor, what: &str) -> f32 {
    let a = a.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
    let b = b.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
    assert_eq!(a.dims(), b.dims(), "{what}: element count");
    let d = (a - b).unwrap().abs().unwrap().max(0).unwrap();
    d.to_scalar::<f32>().unwrap()
}

fn check(got: &Tensor, want: &Tensor, tol: f32, what: &str) {
    assert_eq!(
        got.elem_count(),
        want.elem_count(),
        "{what}: {:?} vs reference {:?}",
        got.dims(),
        want.dims()
    );
    let d = max_abs(got, want, what);
    eprintln!("{what}: max |diff| = {d:.3e} (tolerance {tol:.0e})");
    assert!(d <= tol, "{what}: max |diff| {d} > {tol}");
}

fn ids_of(t: &Tensor) -> Vec<i64> {
    t.flatten_all().unwrap().to_vec1::<i64>().unwrap()
}

struct Case {
    id: String,
    image: PathBuf,
    prompt: String,
    unnorm_key: String,
}

fn cases(g: &Golden) -> Vec<Case> {
    g.json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().unwrap().to_owned(),
            image: golden_dir().join(c["image_file"].as_str().unwrap()),
            prompt: c["prompt"].as_str().unwrap().to_owned(),
            unnorm_key: c["unnorm_key"].as_str().unwrap().to_owned(),
        })
        .collect()
}

struct Loaded {
    model: SpatialVla,
    tokenizer: PromptTokenizer,
    intrinsics: ProcessorIntrinsics,
}

fn load() -> Loaded {
    let ck = Checkpoint::open(&ckpt_dir()).expect("tiny checkpoint opens");
    assert!(
        ck.unexpected.is_empty(),
        "unexpected tensors: {:?}",
        ck.unexpected
    );
    Loaded {
        model: SpatialVla::load(&ck, &Device::Cpu, DType::F32).expect("model loads"),
        tokenizer: PromptTokenizer::load(&ckpt_dir()).unwrap(),
        intrinsics: ProcessorIntrinsics::load(&ckpt_dir()).unwrap(),
    }
}

fn frame_input(l: &Loaded, g: &Golden, c: &Case) -> FrameInput {
    let img = image::open(&c.image).unwrap().to_rgb8();
    let size = l.model.config().vision.image_size;
    let pv = pixel_values(
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        size,
    );
    let depth = g.tensors[&format!("{}/depth_224", c.id)]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let k = l
        .intrinsics
        .choose(&c.unnorm_key, size as u32, IntrinsicsPrecision::Float32)
        .unwrap()
        .k;
    let prompt_ids = l
        .tokenizer
        .prompt_ids(&c.prompt, l.model.config().vision.num_patches())
        .unwrap();
    FrameInput {
        pixel_values: pv,
        depth_m: depth,
        intrinsics: k,
        prompt_ids,
    }
}

#[test]
fn preprocessing_prompt_and_intrinsics_are_exact() {
    let g = golden();
    let l = load();
    for c in cases(&g) {
        let t = |n: &str| g.tensors[&format!("{}/{n}", c.id)].clone();
        let input = frame_input(&l, &g, &c);
        let size = l.model.config().vision.image_size;
        let pv = Tensor::from_slice(&input.pixel_values, (1, 3, size, size), &Device::Cpu).unwrap();
        check(
            &pv,
            &t("pixel_values"),
            0.0,
            &format!("{} pixel_values", c.id),
        );
        let want: Vec<u32> = ids_of(&t("input_ids")).iter().map(|&i| i as u32).collect();
        assert_eq!(input.prompt_ids, want, "{}: prompt ids", c.id);
        let k = Tensor::new(&input.intrinsics, &Device::Cpu).unwrap();
        check(&k, &t("intrinsic"), 0.0, &format!("{} intrinsic", c.id));
    }
}

#[test]
fn image_branch_matches_reference() {
    let g = golden();
    let l = load();
    for c in cases(&g) {
        let t = |n: &str| g.tensors.get(&format!("{}/{n}", c.id)).cloned();
        let input = frame_input(&l, &g, &c);
        let f = l.model.image_features(&input, true).unwrap();
        let id = &c.id;
        let xyz: Vec<f32> = f.ego3d_xyz.concat();
        let xyz = Tensor::new(xyz.as_slice(), &Device::Cpu).unwrap();
        check(
            &xyz,
            &t("ego3d_xyz").unwrap(),
            1e-4,
            &format!("{id} ego3d_xyz"),
        );
        if let Some(want) = t("ego3d_frequency_encoding") {
            check(
                f.ego3d_encoding.as_ref().unwrap(),
                &want,
                2e-3,
                &format!("{id} ego3d_frequency_encoding"),
            );
        }
        check(
            f.ego3d_pos_embed.as_ref().unwrap(),
            &t("ego3d_pos_embed").unwrap(),
            1e-3,
            &format!("{id} ego3d_pos_embed"),
        );
        check(
            &f.siglip_last_hidden_state,
            &t("siglip_last_hidden_state").unwrap(),
            1e-4,
            &format!("{id} siglip"),
        );
        check(
            f.vision_attention_mean.as_ref().unwrap(),
            &t("vision_attn_last_layer_mean").unwrap(),
            1e-5,
            &format!("{id} vision attention"),
        );
        check(
            &f.projector_output,
            &t("projector_output").unwrap(),
            1e-3,
            &format!("{id} projector_output"),
        );
        check(
            &f.image_features,
            &t("image_features").unwrap(),
            2e-4,
            &format!("{id} image_features"),
        );
        let embeds = l.model.prompt_embeds(&f, &input.prompt_ids).unwrap();
        check(
            &embeds,
            &t("inputs_embeds").unwrap(),
            2e-4,
            &format!("{id} inputs_embeds"),
        );
    }
}

#[test]
fn prompt_pass_matches_reference() {
    let g = golden();
    let l = load();
    for c in cases(&g) {
        let t = |n: &str| g.tensors.get(&format!("{}/{n}", c.id)).cloned();
        let id = &c.id;
        let input = frame_input(&l, &g, &c);
        let f = l.model.image_features(&input, false).unwrap();
        let embeds = l.model.prompt_embeds(&f, &input.prompt_ids).unwrap();
        let mut cache = l.model.new_cache(input.prompt_ids.len());
        let out = l
            .model
            .decode(&embeds, &mut cache, AttentionCapture::LastRow, true)
            .unwrap();
        if let Some(want) = t("text_hidden_states") {
            let got = Tensor::cat(&out.hidden_states, 0).unwrap();
            check(&got, &want, 1.5e-3, &format!("{id} text_hidden_states"));
        }
        let last = out.logits.i((0, input.prompt_ids.len() - 1)).unwrap();
        let want = t("prompt_last_logits").unwrap();
        check(&last, &want, 1e-4, &format!("{id} prompt_last_logits"));
        let argmax = |x: &Tensor| x.argmax(0).unwrap().to_scalar::<u32>().unwrap();
        assert_eq!(
            argmax(&last),
            argmax(&want),
            "{id}: argmax of the prompt logits"
        );
        let attn = Tensor::stack(&out.attentions, 0).unwrap();
        check(
            &attn,
            &t("text_attn_all_layers_last_pos").unwrap(),
            1e-5,
            &format!("{id} text attention, all layers"),
        );
    }
}

#[test]
fn greedy_generation_matches_reference_token_for_token() {
    let g = golden();
    let l = load();
    for c in cases(&g) {
        let t = |n: &str| g.tensors[&format!("{}/{n}", c.id)].clone();
        let input = frame_input(&l, &g, &c);
        let f = l.model.image_features(&input, false).unwrap();
        let want_ids = ids_of(&t("generated_ids"));
        let opts = GenerateOptions {
            max_new_tokens: want_ids.len(),
            top_k: 5,
            attention: false,
        };
        let generation = l
            .model
            .generate(&f, &input.prompt_ids, opts, &AtomicBool::new(false))
            .unwrap();
        let got: Vec<i64> = generation.tokens.iter().map(|t| t.id).collect();
        assert_eq!(got, want_ids, "{}: greedy ids", c.id);
        let top_ids: Vec<i64> = generation
            .tokens
            .iter()
            .flat_map(|t| t.top.iter().map(|x| x.0))
            .collect();
        assert_eq!(
            top_ids,
            ids_of(&t("generation_top5_ids")),
            "{}: top-5 ids",
            c.id
        );
        let top_logits: Vec<f32> = generation
            .tokens
            .iter()
            .flat_map(|t| t.top.iter().map(|x| x.1))
            .collect();
        let top_logits = Tensor::new(top_logits.as_slice(), &Device::Cpu).unwrap();
        check(
            &top_logits,
            &t("generation_top5_logits"),
            1e-4,
            &format!("{} top-5 logits", c.id),
        );
    }
}

#[test]
fn teacher_forced_pass_matches_reference() {
    let g = golden();
    let l = load();
    for c in cases(&g) {
        let t = |n: &str| g.tensors[&format!("{}/{n}", c.id)].clone();
        let id = &c.id;
        let input = frame_input(&l, &g, &c);
        let f = l.model.image_features(&input, false).unwrap();
        let all: Vec<u32> = ids_of(&t("teacher_forced_input_ids"))
            .iter()
            .map(|&i| i as u32)
            .collect();
        let prompt_len = input.prompt_ids.len();
        assert_eq!(&all[..prompt_len], input.prompt_ids.as_slice());
        // One pass with the training mask (prompt bidirectional, suffix causal).
        let prompt = l.model.prompt_embeds(&f, &input.prompt_ids).unwrap();
        let suffix = l
            .model
            .embed_ids(&all[prompt_len..])
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let embeds = Tensor::cat(&[&prompt, &suffix], 1).unwrap();
        let mut cache = l.model.new_cache(prompt_len);
        let out = l
            .model
            .decode(&embeds, &mut cache, AttentionCapture::All, false)
            .unwrap();
        let n = all.len() - prompt_len;
        let rows = out
            .logits
            .squeeze(0)
            .unwrap()
            .narrow(0, prompt_len - 1, n)
            .unwrap();
        check(
            &rows,
            &t("teacher_forced_logits"),
            1e-4,
            &format!("{id} teacher-forced logits"),
        );
        let last_layer = out
            .attentions
            .last()
            .unwrap()
            .narrow(1, prompt_len - 1, n)
            .unwrap();
        check(
            &last_layer,
            &t("teacher_forced_attn_last_layer"),
            1e-5,
            &format!("{id} teacher-forced attention"),
        );
        // The loss: mean cross-entropy of the suffix tokens.
        let logp = candle_nn::ops::log_softmax(&rows, 1).unwrap();
        let mut loss = 0f64;
        for (k, &tok) in all[prompt_len..].iter().enumerate() {
            loss -= f64::from(
                logp.i((k, tok as usize))
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
            );
        }
        loss /= n as f64;
        let case = g.json["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == c.id.as_str())
            .unwrap();
        let want_loss = case["teacher_forced"]["loss"].as_f64().unwrap();
        eprintln!("{id} loss {loss} vs {want_loss}");
        assert!(
            (loss - want_loss).abs() <= 1e-4,
            "{id}: loss {loss} vs {want_loss}"
        );
        // Incremental decoding of the same suffix through the KV cache gives the same rows.
        let mut cache = l.model.new_cache(prompt_len);
        let first = l
            .model
            .decode(&prompt, &mut cache, AttentionCapture::None, false)
            .unwrap();
        let mut inc = vec![first.logits.i((0, prompt_len - 1)).unwrap()];
        for &tok in &all[prompt_len..all.len() - 1] {
            let e = l.model.embed_ids(&[tok]).unwrap().unsqueeze(0).unwrap();
            let o = l
                .model
                .decode(&e, &mut cache, AttentionCapture::None, false)
                .unwrap();
            inc.push(o.logits.i((0, 0)).unwrap());
        }
        let inc = Tensor::stack(&inc, 0).unwrap();
        check(
            &inc,
            &t("teacher_forced_logits"),
            1e-4,
            &format!("{id} incremental logits"),
        );
    }
}

/// bfloat16 weights and activations (the release's storage dtype) run end to end; they are
/// not bit-faithful to the float32 reference, so only closeness of the prompt logits is
/// checked (greedy ids can differ where the random model's top-2 margin is small).
#[test]
fn bfloat16_runs_and_stays_close_to_the_float32_reference() {
    let g = golden();
    let ck = Checkpoint::open(&ckpt_dir()).unwrap();
    let l = Loaded {
        model: SpatialVla::load(&ck, &Device::Cpu, DType::BF16).unwrap(),
        tokenizer: PromptTokenizer::load(&ckpt_dir()).unwrap(),
        intrinsics: ProcessorIntrinsics::load(&ckpt_dir()).unwrap(),
    };
    for c in cases(&g) {
        let input = frame_input(&l, &g, &c);
        let f = l.model.image_features(&input, false).unwrap();
        let embeds = l.model.prompt_embeds(&f, &input.prompt_ids).unwrap();
        let mut cache = l.model.new_cache(input.prompt_ids.len());
        let out = l
            .model
            .decode(&embeds, &mut cache, AttentionCapture::None, false)
            .unwrap();
        let last = out.logits.i((0, input.prompt_ids.len() - 1)).unwrap();
        let want = &g.tensors[&format!("{}/prompt_last_logits", c.id)];
        let d = max_abs(&last, want, "bf16 logits");
        eprintln!("{} bf16 prompt logits: max |diff| {d:.3}", c.id);
        assert!(d < 0.5, "{}: bf16 logits differ by {d}", c.id);
        let opts = GenerateOptions {
            max_new_tokens: 13,
            top_k: 5,
            attention: true,
        };
        let generation = l
            .model
            .generate(&f, &input.prompt_ids, opts, &AtomicBool::new(false))
            .unwrap();
        assert_eq!(generation.tokens.len(), 13);
        assert_eq!(generation.image_attention.len(), 13);
    }
}

/// The resampling around ZoeDepth (its network is issue #8): the depth branch's input from
/// `pixel_values` and the way from ZoeDepth's 384 x 384 output back to depth at 224,
/// against the reference's recorded tensors (README tolerances: 1e-4 and 2e-4).
#[test]
fn zoe_depth_resampling_matches_reference() {
    use spatialscope::model::zoe_resample::{depth_at_model_size, zoe_input};
    let g = golden();
    let l = load();
    for c in cases(&g) {
        let t = |n: &str| g.tensors[&format!("{}/{n}", c.id)].clone();
        let input = frame_input(&l, &g, &c);
        let size = l.model.config().vision.image_size;
        let zi = zoe_input(&input.pixel_values, size);
        let every4: Vec<f32> = (0..3)
            .flat_map(|ch| {
                let zi = &zi;
                (0..96).flat_map(move |y| {
                    (0..96).map(move |x| zi[ch * 384 * 384 + (4 * y) * 384 + 4 * x])
                })
            })
            .collect();
        let got = Tensor::new(every4.as_slice(), &Device::Cpu).unwrap();
        check(
            &got,
            &t("zoe_input_every4th"),
            1e-4,
            &format!("{} zoe_input_every4th", c.id),
        );
        let pred = t("zoe_predicted_depth")
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let d = depth_at_model_size(&pred, size);
        let got = Tensor::new(d.as_slice(), &Device::Cpu).unwrap();
        check(&got, &t("depth_224"), 2e-4, &format!("{} depth_224", c.id));
    }
}

/// ZoeDepth in candle against the reference, stage by stage (README tolerances: backbone
/// 2e-4, neck 1e-4, domain logits 1e-4 with the same chosen domain, depth 2e-4), for every
/// case and every stage the reference recorded for it.
#[test]
fn zoedepth_matches_reference_stage_by_stage() {
    use spatialscope::model::zoe_config::ZoeConfig;
    use spatialscope::model::zoe_resample::{depth_at_model_size, zoe_input};
    use spatialscope::model::zoedepth::ZoeDepth;
    let g = golden();
    let l = load();
    let cfg_json: Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt_dir().join("config.json")).unwrap())
            .unwrap();
    let zcfg = ZoeConfig::from_value(&cfg_json["vision_zoe_config"]).expect("zoe config");
    let vb = Checkpoint::open(&ckpt_dir())
        .unwrap()
        .var_builder(DType::F32, &Device::Cpu)
        .unwrap();
    let zoe = ZoeDepth::load(&zcfg, vb.pp("vision_zoe_model")).expect("zoe weights");
    let names: Vec<String> = zcfg
        .bin_configurations
        .iter()
        .map(|b| b.name.clone())
        .collect();
    for c in cases(&g) {
        let has = |n: &str| g.tensors.contains_key(&format!("{}/{n}", c.id));
        let t = |n: &str| g.tensors[&format!("{}/{n}", c.id)].clone();
        let input = frame_input(&l, &g, &c);
        let size = l.model.config().vision.image_size;
        let zi = zoe_input(&input.pixel_values, size);
        let s = zcfg.backbone_config.image_size;
        let x = Tensor::from_vec(zi, (1, 3, s, s), &Device::Cpu).unwrap();
        let out = zoe.forward(&x).expect("zoe forward");
        let mut checked = 0;
        for i in 0..4 {
            let n = format!("zoe_backbone_feature_{i}");
            if has(&n) {
                check(&out.features[i], &t(&n), 2e-4, &format!("{} {n}", c.id));
                checked += 1;
            }
        }
        assert!(checked >= 1, "{}: no backbone feature recorded", c.id);
        check(
            &out.neck.bottleneck,
            &t("zoe_neck_bottleneck"),
            1e-4,
            &format!("{} zoe_neck_bottleneck", c.id),
        );
        for i in 0..2 {
            let n = format!("zoe_neck_fused_{i}");
            if has(&n) {
                check(&out.neck.fused[i], &t(&n), 1e-4, &format!("{} {n}", c.id));
            }
        }
        check(
            &out.metric.domain_logits,
            &t("zoe_domain_logits"),
            1e-4,
            &format!("{} zoe_domain_logits", c.id),
        );
        let chosen = g.json["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == c.id.as_str())
            .unwrap()["zoe_domain_chosen"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(names[out.metric.domain], chosen, "{}: chosen domain", c.id);
        check(
            &out.metric.depth,
            &t("zoe_predicted_depth"),
            2e-4,
            &format!("{} zoe_predicted_depth", c.id),
        );
        let d384: Vec<f32> = out.metric.depth.flatten_all().unwrap().to_vec1().unwrap();
        let d224 = depth_at_model_size(&d384, size);
        let got = Tensor::new(d224.as_slice(), &Device::Cpu).unwrap();
        check(
            &got,
            &t("depth_224"),
            2e-4,
            &format!("{} depth_224 (our ZoeDepth)", c.id),
        );
    }
}
