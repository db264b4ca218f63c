//! ZoeDepth as SpatialVLA embeds it (`vision_zoe_model.*`, transformers' ZoeDepth): metric
//! depth from the RGB frame, the depth the model actually lifts its patches with.
//!
//! Stages, each returned for inspection and checked against the reference's tensors:
//! 1. **BEiT backbone**: 16 px patch embedding + CLS, pre-norm layers with per-layer relative
//!    position bias (a (2w-1)^2 + 3 table indexed by token offsets; CLS row, column and
//!    corner use the three extra entries) and layer scale (`lambda_1`, `lambda_2`); the
//!    hidden states after the `out_indices` layers are the features.
//! 2. **Neck** (DPT): reassemble (CLS readout projected in, 1x1 projection, resize by
//!    transposed conv / identity / stride-2 conv), 3x3 convs to the fusion width, then
//!    fusion from the deepest level up (pre-activation residual units, x2 bilinear
//!    align-corners upsampling, 1x1 projection).
//! 3. **Relative head** features (conv, x2 upsample, conv, ReLU): the conditioning of the
//!    metric head (its depth output is unused by the multi-domain head).
//! 4. **Metric head**: a 4-layer patch transformer over the bottleneck picks the domain (nyu
//!    / kitti) for the whole batch from the CLS logits; that domain's seed bins (softplus
//!    centres) are refined by four attractor layers (16 attractors each, `dx / (1 + 300 dx^2)`
//!    averaged), and a conditional log-binomial over the bins gives per-pixel probabilities;
//!    depth = sum of probability x centre.
//!
//! The reference quirks this follows are listed in `../shared/golden/tiny_spatialvla/README.md`.

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{
    Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, LayerNorm, Linear, VarBuilder,
    conv_transpose2d, conv2d, conv2d_no_bias, layer_norm, linear, linear_no_bias,
};

use super::error::Result;
use super::zoe_config::{ATTRACTORS_PER_LAYER, CLASSIFIER_WIDTH, ZoeConfig};

fn softplus(x: &Tensor) -> Result<Tensor> {
    // torch.nn.Softplus(beta=1, threshold=20): log1p(exp(x)), x itself above the threshold.
    // log1p for small arguments: e - e^2/2 (ln(1 + e) would round to 0 in f32).
    let e = x.exp()?;
    let small = (&e * (1.0 - (&e * 0.5)?)?)?;
    let sp = e.lt(1e-4)?.where_cond(&small, &(&e + 1.0)?.log()?)?;
    Ok(x.gt(20.0)?.where_cond(x, &sp)?)
}

fn conv1x1(i: usize, o: usize, vb: VarBuilder) -> Result<Conv2d> {
    Ok(conv2d(i, o, 1, Conv2dConfig::default(), vb)?)
}

fn conv3x3(i: usize, o: usize, stride: usize, bias: bool, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        stride,
        ..Default::default()
    };
    Ok(if bias {
        conv2d(i, o, 3, cfg, vb)?
    } else {
        conv2d_no_bias(i, o, 3, cfg, vb)?
    })
}

fn upsample2(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    Ok(x.upsample_bilinear2d(2 * h, 2 * w, true)?)
}

fn resize_to(x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (_, _, xh, xw) = x.dims4()?;
    if (xh, xw) == (h, w) {
        return Ok(x.clone());
    }
    Ok(x.upsample_bilinear2d(h, w, true)?)
}

// ---------------------------------------------------------------- BEiT backbone

struct BeitLayer {
    norm_before: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    /// (heads, tokens, tokens), gathered once at load.
    bias: Tensor,
    lambda_1: Tensor,
    lambda_2: Tensor,
    norm_after: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// BEiT's relative position index for a `w` x `w` window plus CLS, row-major
/// ((w*w+1)^2 entries).
fn relative_position_index(w: usize) -> Vec<u32> {
    let n = w * w;
    let num_relative = (2 * w - 1) * (2 * w - 1) + 3;
    let mut idx = vec![0u32; (n + 1) * (n + 1)];
    for i in 0..n {
        let (yi, xi) = ((i / w) as isize, (i % w) as isize);
        for j in 0..n {
            let (yj, xj) = ((j / w) as isize, (j % w) as isize);
            let dy = (yi - yj + w as isize - 1) as usize;
            let dx = (xi - xj + w as isize - 1) as usize;
            idx[(i + 1) * (n + 1) + (j + 1)] = (dy * (2 * w - 1) + dx) as u32;
        }
    }
    idx[..=n].fill((num_relative - 3) as u32); // CLS row
    for i in 0..=n {
        idx[i * (n + 1)] = (num_relative - 2) as u32; // CLS column
    }
    idx[0] = (num_relative - 1) as u32; // CLS to CLS
    idx
}

pub struct Beit {
    patch: usize,
    heads: usize,
    patch_weight: Tensor,
    patch_bias: Tensor,
    cls: Tensor,
    layers: Vec<BeitLayer>,
    out_indices: Vec<usize>,
}

impl Beit {
    fn load(cfg: &ZoeConfig, vb: VarBuilder) -> Result<Self> {
        let b = &cfg.backbone_config;
        let h = b.hidden_size;
        let w = cfg.grid();
        let emb = vb.pp("embeddings");
        let patch_weight = emb.get(
            (h, 3, b.patch_size, b.patch_size),
            "patch_embeddings.projection.weight",
        )?;
        let patch_bias = emb.get(h, "patch_embeddings.projection.bias")?;
        let cls = emb.get((1, 1, h), "cls_token")?;
        let num_relative = (2 * w - 1) * (2 * w - 1) + 3;
        let index = Tensor::from_vec(
            relative_position_index(w),
            (w * w + 1) * (w * w + 1),
            vb.device(),
        )?;
        let layers = (0..b.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let a = l.pp("attention.attention");
                let table = a.get(
                    (num_relative, b.num_attention_heads),
                    "relative_position_bias.relative_position_bias_table",
                )?;
                let bias = table
                    .index_select(&index, 0)?
                    .reshape((w * w + 1, w * w + 1, b.num_attention_heads))?
                    .permute((2, 0, 1))?
                    .contiguous()?;
                Ok(BeitLayer {
                    norm_before: layer_norm(h, b.layer_norm_eps, l.pp("layernorm_before"))?,
                    q: linear(h, h, a.pp("query"))?,
                    k: linear_no_bias(h, h, a.pp("key"))?,
                    v: linear(h, h, a.pp("value"))?,
                    out: linear(h, h, l.pp("attention.output.dense"))?,
                    bias,
                    lambda_1: l.get(h, "lambda_1")?,
                    lambda_2: l.get(h, "lambda_2")?,
                    norm_after: layer_norm(h, b.layer_norm_eps, l.pp("layernorm_after"))?,
                    fc1: linear(h, b.intermediate_size, l.pp("intermediate.dense"))?,
                    fc2: linear(b.intermediate_size, h, l.pp("output.dense"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            patch: b.patch_size,
            heads: b.num_attention_heads,
            patch_weight,
            patch_bias,
            cls,
            layers,
            out_indices: b.out_indices.clone(),
        })
    }

    /// `x`: (1, 3, S, S) in [-1, 1]. The hidden states (1, 1 + grid^2, hidden) after each
    /// `out_indices` layer.
    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let p = x.conv2d(&self.patch_weight, 0, self.patch, 1, 1)?;
        let p = p.broadcast_add(&self.patch_bias.reshape((1, (), 1, 1))?)?;
        let (b, c, _, _) = p.dims4()?;
        let tokens = p.flatten_from(2)?.transpose(1, 2)?;
        let mut hs = Tensor::cat(&[self.cls.expand((b, 1, c))?, tokens], 1)?;
        let head_dim = c / self.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut out = Vec::new();
        for (li, l) in self.layers.iter().enumerate() {
            let n = hs.dim(1)?;
            let x = l.norm_before.forward(&hs)?;
            let split = |t: Tensor| -> Result<Tensor> {
                Ok(t.reshape((b, n, self.heads, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = split(l.q.forward(&x)?)?;
            let k = split(l.k.forward(&x)?)?;
            let v = split(l.v.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&l.bias.unsqueeze(0)?)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, n, c))?;
            let attn = l.out.forward(&ctx)?.broadcast_mul(&l.lambda_1)?;
            hs = (attn + &hs)?;
            let m = l.norm_after.forward(&hs)?;
            let m = l.fc2.forward(&l.fc1.forward(&m)?.gelu_erf()?)?;
            hs = (m.broadcast_mul(&l.lambda_2)? + &hs)?;
            if self.out_indices.contains(&(li + 1)) {
                out.push(hs.clone());
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- neck

enum Resize {
    Up(ConvTranspose2d),
    Same,
    Down(Conv2d),
}

struct Reassemble {
    readout: Linear,
    projection: Conv2d,
    resize: Resize,
}

struct ResidualUnit {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ResidualUnit {
    fn load(c: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: conv3x3(c, c, 1, true, vb.pp("convolution1"))?,
            conv2: conv3x3(c, c, 1, true, vb.pp("convolution2"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&x.relu()?)?;
        let h = self.conv2.forward(&h.relu()?)?;
        Ok((h + x)?)
    }
}

struct Fusion {
    projection: Conv2d,
    res1: ResidualUnit,
    res2: ResidualUnit,
}

impl Fusion {
    fn forward(&self, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        let mut h = x.clone();
        if let Some(r) = residual {
            let (_, _, hh, hw) = h.dims4()?;
            let (_, _, rh, rw) = r.dims4()?;
            let r = if (hh, hw) != (rh, rw) {
                r.upsample_bilinear2d(hh, hw, false)?
            } else {
                r.clone()
            };
            h = (h + self.res1.forward(&r)?)?;
        }
        let h = self.res2.forward(&h)?;
        Ok(self.projection.forward(&upsample2(&h)?)?)
    }
}

pub struct Neck {
    reassemble: Vec<Reassemble>,
    convs: Vec<Conv2d>,
    fusion: Vec<Fusion>,
    grid: usize,
}

/// What the neck produces.
pub struct NeckOutput {
    /// Fusion outputs, deepest first (grid x2, x4, x8, x16).
    pub fused: Vec<Tensor>,
    /// The last reassembled level after its 3x3 conv: the metric head's bottleneck.
    pub bottleneck: Tensor,
}

impl Neck {
    fn load(cfg: &ZoeConfig, vb: VarBuilder) -> Result<Self> {
        let h = cfg.backbone_config.hidden_size;
        let f = cfg.fusion_hidden_size;
        let rs = vb.pp("reassemble_stage");
        let mut reassemble = Vec::new();
        let mut convs = Vec::new();
        let mut fusion = Vec::new();
        for (i, (&ch, &factor)) in cfg
            .neck_hidden_sizes
            .iter()
            .zip(&cfg.reassemble_factors)
            .enumerate()
        {
            let l = rs.pp(format!("layers.{i}"));
            let resize = if factor > 1.0 {
                let k = factor.round() as usize;
                Resize::Up(conv_transpose2d(
                    ch,
                    ch,
                    k,
                    ConvTranspose2dConfig {
                        stride: k,
                        ..Default::default()
                    },
                    l.pp("resize"),
                )?)
            } else if factor == 1.0 {
                Resize::Same
            } else {
                let stride = (1.0 / factor).round() as usize;
                Resize::Down(conv3x3(ch, ch, stride, true, l.pp("resize"))?)
            };
            reassemble.push(Reassemble {
                readout: linear(2 * h, h, rs.pp(format!("readout_projects.{i}.0")))?,
                projection: conv1x1(h, ch, l.pp("projection"))?,
                resize,
            });
            convs.push(conv3x3(ch, f, 1, false, vb.pp(format!("convs.{i}")))?);
            let fl = vb.pp(format!("fusion_stage.layers.{i}"));
            fusion.push(Fusion {
                projection: conv1x1(f, f, fl.pp("projection"))?,
                res1: ResidualUnit::load(f, fl.pp("residual_layer1"))?,
                res2: ResidualUnit::load(f, fl.pp("residual_layer2"))?,
            });
        }
        Ok(Self {
            reassemble,
            convs,
            fusion,
            grid: cfg.grid(),
        })
    }

    fn forward(&self, features: &[Tensor]) -> Result<NeckOutput> {
        let mut levels = Vec::new();
        for (i, (hs, r)) in features.iter().zip(&self.reassemble).enumerate() {
            let (b, n, c) = hs.dims3()?;
            let cls = hs.i((.., 0..1, ..))?;
            let tokens = hs.i((.., 1..n, ..))?;
            let x = Tensor::cat(&[tokens.clone(), cls.expand((b, n - 1, c))?], 2)?;
            let x = r.readout.forward(&x)?.gelu_erf()?;
            let x = x.transpose(1, 2)?.reshape((b, c, self.grid, self.grid))?;
            let x = r.projection.forward(&x)?;
            let x = match &r.resize {
                Resize::Up(t) => t.forward(&x)?,
                Resize::Same => x,
                Resize::Down(d) => d.forward(&x)?,
            };
            levels.push(self.convs[i].forward(&x)?);
        }
        let mut fused = Vec::new();
        let mut prev: Option<Tensor> = None;
        for (level, layer) in levels.iter().rev().zip(&self.fusion) {
            let next = match &prev {
                None => layer.forward(level, None)?,
                Some(p) => layer.forward(p, Some(level))?,
            };
            fused.push(next.clone());
            prev = Some(next);
        }
        let bottleneck = levels.last().expect("four levels").clone();
        Ok(NeckOutput { fused, bottleneck })
    }
}

// ---------------------------------------------------------------- heads

struct RelativeHead {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl RelativeHead {
    /// The conditioning features (after conv2 + ReLU) at the input resolution.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = upsample2(&self.conv1.forward(x)?)?;
        Ok(self.conv2.forward(&h)?.relu()?)
    }
}

struct Mlp2 {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl Mlp2 {
    fn load(i: usize, hidden: usize, o: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: conv1x1(i, hidden, vb.pp("conv1"))?,
            conv2: conv1x1(hidden, o, vb.pp("conv2"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.conv2.forward(&self.conv1.forward(x)?.relu()?)?)
    }
}

struct EncoderLayer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    fc1: Linear,
    fc2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    heads: usize,
}

impl EncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, c) = x.dims3()?;
        let hd = c / self.heads;
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((b, n, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, n, c))?;
        let x = self.norm1.forward(&(x + self.out.forward(&ctx)?)?)?;
        let m = self.fc2.forward(&self.fc1.forward(&x)?.relu()?)?;
        Ok(self.norm2.forward(&(x + m)?)?)
    }
}

struct Domain {
    seed: Mlp2,
    attractors: Vec<Mlp2>,
    /// Conditional log-binomial MLP (conv, GELU, conv, softplus).
    clb0: Conv2d,
    clb2: Conv2d,
    n_bins: usize,
}

pub struct MetricHead {
    conv2: Conv2d,
    embed: Conv2d,
    encoder: Vec<EncoderLayer>,
    cls1: Linear,
    cls2: Linear,
    seed_projector: Mlp2,
    projectors: Vec<Mlp2>,
    domains: Vec<Domain>,
    mean_attractors: bool,
    min_temp: f64,
    max_temp: f64,
}

/// Outputs of the metric head.
pub struct MetricOutput {
    /// (1, domains) classifier logits, in `bin_configurations` order.
    pub domain_logits: Tensor,
    /// The domain used for the batch.
    pub domain: usize,
    /// (1, S, S) metric depth, metres.
    pub depth: Tensor,
}

impl MetricHead {
    fn load(cfg: &ZoeConfig, vb: VarBuilder) -> Result<Self> {
        let bf = cfg.bottleneck_features;
        let e = cfg.bin_embedding_dim;
        let w = CLASSIFIER_WIDTH;
        let pt = vb.pp("patch_transformer");
        // The reference runs exactly the first 4 encoder layers.
        let encoder = (0..4)
            .map(|i| {
                let l = pt.pp(format!("transformer_encoder.{i}"));
                Ok(EncoderLayer {
                    q: linear(w, w, l.pp("self_attn.query"))?,
                    k: linear(w, w, l.pp("self_attn.key"))?,
                    v: linear(w, w, l.pp("self_attn.value"))?,
                    out: linear(w, w, l.pp("self_attn.out_proj"))?,
                    fc1: linear(w, cfg.patch_transformer_intermediate_size, l.pp("linear1"))?,
                    fc2: linear(cfg.patch_transformer_intermediate_size, w, l.pp("linear2"))?,
                    norm1: layer_norm(w, 1e-5, l.pp("norm1"))?,
                    norm2: layer_norm(w, 1e-5, l.pp("norm2"))?,
                    heads: cfg.patch_transformer_num_attention_heads,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let clb_in = cfg.num_relative_features + e;
        let clb_hidden = clb_in / 4;
        let domains = cfg
            .bin_configurations
            .iter()
            .map(|d| {
                Ok(Domain {
                    seed: Mlp2::load(
                        bf,
                        e / 2,
                        d.n_bins,
                        vb.pp(format!("seed_bin_regressors.{}", d.name)),
                    )?,
                    attractors: (0..4)
                        .map(|i| {
                            Mlp2::load(
                                e,
                                e,
                                ATTRACTORS_PER_LAYER,
                                vb.pp(format!("attractors.{}.{i}", d.name)),
                            )
                        })
                        .collect::<Result<Vec<_>>>()?,
                    clb0: conv1x1(
                        clb_in,
                        clb_hidden,
                        vb.pp(format!("conditional_log_binomial.{}.mlp.0", d.name)),
                    )?,
                    clb2: conv1x1(
                        clb_hidden,
                        4,
                        vb.pp(format!("conditional_log_binomial.{}.mlp.2", d.name)),
                    )?,
                    n_bins: d.n_bins,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv2: conv1x1(bf, bf, vb.pp("conv2"))?,
            embed: conv1x1(bf, w, pt.pp("embedding_convPxP"))?,
            encoder,
            cls1: linear(w, w, vb.pp("mlp_classifier.linear1"))?,
            cls2: linear(
                w,
                cfg.bin_configurations.len(),
                vb.pp("mlp_classifier.linear2"),
            )?,
            seed_projector: Mlp2::load(bf, e / 2, e, vb.pp("seed_projector"))?,
            projectors: (0..4)
                .map(|i| {
                    Mlp2::load(
                        cfg.fusion_hidden_size,
                        e / 2,
                        e,
                        vb.pp(format!("projectors.{i}")),
                    )
                })
                .collect::<Result<Vec<_>>>()?,
            domains,
            mean_attractors: cfg.attractor_kind == "mean",
            min_temp: cfg.min_temp,
            max_temp: cfg.max_temp,
        })
    }

    /// Sinusoidal 1-D position encoding, sines then cosines (f32 as the reference).
    fn position_encoding(n: usize, dim: usize, device: &Device) -> Result<Tensor> {
        let ln = (10000f32).ln();
        let mut v = vec![0f32; n * dim];
        let half = dim / 2;
        for p in 0..n {
            for i in 0..half {
                let div = ((2 * i) as f32 * (-ln / dim as f32)).exp();
                let a = p as f32 * div;
                v[p * dim + i] = a.sin();
                v[p * dim + half + i] = a.cos();
            }
        }
        Ok(Tensor::from_vec(v, (1, n, dim), device)?)
    }

    fn domain_logits(&self, x: &Tensor) -> Result<Tensor> {
        let e = self.embed.forward(x)?.flatten_from(2)?; // (b, 128, hw)
        let e = e.pad_with_zeros(2, 1, 0)?.transpose(1, 2)?.contiguous()?; // (b, 1 + hw, 128)
        let (_, n, c) = e.dims3()?;
        let mut h = e.broadcast_add(&Self::position_encoding(n, c, e.device())?)?;
        for l in &self.encoder {
            h = l.forward(&h)?;
        }
        let cls = h.i((.., 0, ..))?;
        Ok(self.cls2.forward(&self.cls1.forward(&cls)?.relu()?)?)
    }

    fn forward(
        &self,
        relative: &Tensor,
        bottleneck: &Tensor,
        fused: &[Tensor],
    ) -> Result<MetricOutput> {
        let x = self.conv2.forward(bottleneck)?;
        let domain_logits = self.domain_logits(&x)?;
        // One domain for the whole batch: argmax of the batch-summed logits (first on ties).
        let votes: Vec<f32> = domain_logits.sum(0)?.to_vec1()?;
        let domain = votes
            .iter()
            .enumerate()
            .fold(0, |best, (i, v)| if *v > votes[best] { i } else { best });
        let d = &self.domains[domain];
        let mut prev_bin = softplus(&d.seed.forward(&x)?)?;
        let mut prev_embedding = self.seed_projector.forward(&x)?;
        let mut embedding = prev_embedding.clone();
        for ((projector, attractor), feature) in
            self.projectors.iter().zip(&d.attractors).zip(fused)
        {
            embedding = projector.forward(feature)?;
            let (_, _, h, w) = embedding.dims4()?;
            let input = (&embedding + resize_to(&prev_embedding, h, w)?)?;
            let attractors = softplus(&attractor.forward(&input)?)?; // (b, 16, h, w)
            let centres = resize_to(&prev_bin, h, w)?; // (b, n_bins, h, w)
            let mut delta = centres.zeros_like()?;
            for a in 0..ATTRACTORS_PER_LAYER {
                let dx = attractors
                    .i((.., a..a + 1, .., ..))?
                    .broadcast_sub(&centres)?;
                // inv_attractor with the defaults alpha = 300, gamma = 2.
                let shift = (&dx / ((dx.sqr()? * 300.0)? + 1.0)?)?;
                delta = (delta + shift)?;
            }
            if self.mean_attractors {
                delta = (delta / ATTRACTORS_PER_LAYER as f64)?;
            }
            prev_bin = (centres + delta)?;
            prev_embedding = embedding.clone();
        }
        let (_, _, s_h, s_w) = relative.dims4()?;
        let centres = resize_to(&prev_bin, s_h, s_w)?;
        let embedding = resize_to(&embedding, s_h, s_w)?;
        let pt = d
            .clb0
            .forward(&Tensor::cat(&[relative, &embedding], 1)?)?
            .gelu_erf()?;
        let pt = softplus(&d.clb2.forward(&pt)?)?;
        let eps = 1e-4;
        let pt = (pt + eps)?;
        let p = (pt.i((.., 0, .., ..))? / (pt.i((.., 0, .., ..))? + pt.i((.., 1, .., ..))?)?)?;
        let t = (pt.i((.., 2, .., ..))? / (pt.i((.., 2, .., ..))? + pt.i((.., 3, .., ..))?)?)?;
        let t = ((t * (self.max_temp - self.min_temp))? + self.min_temp)?.unsqueeze(1)?;
        let probs = log_binomial_softmax(&p, &t, d.n_bins)?;
        let depth = (probs * centres)?.sum(1)?;
        Ok(MetricOutput {
            domain_logits,
            domain,
            depth,
        })
    }
}

/// Stirling log(n choose k) as the reference computes it, in f32.
fn log_binom(n: f32, k: f32) -> f32 {
    let eps = 1e-7f32;
    let (n, k) = (n + eps, k + eps);
    n * n.ln() - k * k.ln() - (n - k) * (n - k + eps).ln()
}

/// Softmax over bins of the log-binomial of `p` (b, h, w) at temperature `t` (b, 1, h, w).
fn log_binomial_softmax(p: &Tensor, t: &Tensor, n_bins: usize) -> Result<Tensor> {
    let eps = 1e-4;
    let one_minus = (1.0 - p)?.clamp(eps, 1.0)?.unsqueeze(1)?;
    let p = p.clamp(eps, 1.0)?.unsqueeze(1)?;
    let km1 = (n_bins - 1) as f32;
    let dev = p.device();
    let k: Vec<f32> = (0..n_bins).map(|k| k as f32).collect();
    let binom: Vec<f32> = k.iter().map(|k| log_binom(km1, *k)).collect();
    let shape = (1, n_bins, 1, 1);
    let k_t = Tensor::from_vec(k.clone(), shape, dev)?;
    let rest = Tensor::from_vec(k.iter().map(|k| km1 - k).collect::<Vec<_>>(), shape, dev)?;
    let binom = Tensor::from_vec(binom, shape, dev)?;
    let y = binom
        .broadcast_add(&k_t.broadcast_mul(&p.log()?)?)?
        .broadcast_add(&rest.broadcast_mul(&one_minus.log()?)?)?;
    let y = y.broadcast_div(t)?;
    Ok(candle_nn::ops::softmax(&y, 1)?)
}

// ---------------------------------------------------------------- the model

/// Everything ZoeDepth computed for one input, stage by stage.
pub struct ZoeOutput {
    /// Backbone hidden states at `out_indices` (1, 1 + grid^2, hidden).
    pub features: Vec<Tensor>,
    pub neck: NeckOutput,
    pub metric: MetricOutput,
}

pub struct ZoeDepth {
    pub config: ZoeConfig,
    backbone: Beit,
    neck: Neck,
    relative: RelativeHead,
    metric: MetricHead,
}

impl ZoeDepth {
    /// `vb` points at `vision_zoe_model`.
    pub fn load(config: &ZoeConfig, vb: VarBuilder) -> Result<Self> {
        let f = config.fusion_hidden_size;
        Ok(Self {
            backbone: Beit::load(config, vb.pp("backbone"))?,
            neck: Neck::load(config, vb.pp("neck"))?,
            relative: RelativeHead {
                conv1: conv3x3(f, f / 2, 1, true, vb.pp("relative_head.conv1"))?,
                conv2: conv3x3(
                    f / 2,
                    config.num_relative_features,
                    1,
                    true,
                    vb.pp("relative_head.conv2"),
                )?,
            },
            metric: MetricHead::load(config, vb.pp("metric_head"))?,
            config: config.clone(),
        })
    }

    /// `x`: (1, 3, S, S), the depth branch's input ([`super::zoe_resample::zoe_input`]).
    pub fn forward(&self, x: &Tensor) -> Result<ZoeOutput> {
        let x = x.to_dtype(DType::F32)?;
        let features = self.backbone.forward(&x)?;
        let neck = self.neck.forward(&features)?;
        let relative = self
            .relative
            .forward(neck.fused.last().expect("four fusion levels"))?;
        let metric = self
            .metric
            .forward(&relative, &neck.bottleneck, &neck.fused)?;
        Ok(ZoeOutput {
            features,
            neck,
            metric,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_index_uses_the_three_extra_entries_for_cls() {
        let w = 3;
        let idx = relative_position_index(w);
        let n = w * w + 1;
        let r = ((2 * w - 1) * (2 * w - 1)) as u32;
        assert_eq!(idx[0], r + 2);
        assert_eq!(idx[1], r);
        assert_eq!(idx[n], r + 1);
        // Same token: offset (0, 0) -> centre of the table.
        assert_eq!(idx[n + 1], ((w - 1) * (2 * w - 1) + (w - 1)) as u32);
    }

    #[test]
    fn softplus_matches_torch_including_the_threshold() {
        let x = Tensor::new(&[-30f32, 0.0, 1.0, 25.0], &Device::Cpu).unwrap();
        let y: Vec<f32> = softplus(&x).unwrap().to_vec1().unwrap();
        assert!(y[0] > 0.0 && y[0] < 1e-12);
        assert!((y[1] - 2f32.ln()).abs() < 1e-7);
        assert!((y[2] - (1.0 + 1f32.exp()).ln()).abs() < 1e-6);
        assert_eq!(y[3], 25.0);
    }
}
