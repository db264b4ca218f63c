//! ZoeDepth's heads: the relative head's features (the metric head's conditioning) and the
//! multi-domain metric bins head (domain classifier, seed bins, attractors, conditional
//! log-binomial).

use crate::model::activation::gelu_erf;
use crate::model::batched;
use crate::model::conv1x1::Conv1x1;
use crate::model::linear::{Linear, linear};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder, layer_norm};

use super::{binomial, conv1x1, resize_to, softplus, upsample2};
use crate::model::error::Result;
use crate::model::zoe_config::{ATTRACTORS_PER_LAYER, CLASSIFIER_WIDTH, ZoeConfig};
use crate::util::parallel::each_chunk_mut;

pub(super) struct RelativeHead {
    pub(super) conv1: crate::model::conv3x3::Conv3x3,
    pub(super) conv2: crate::model::conv3x3::Conv3x3,
}

impl RelativeHead {
    /// The conditioning features (after conv2 + ReLU) at the input resolution.
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = upsample2(&self.conv1.forward(x)?)?;
        Ok(self.conv2.forward(&h)?.relu()?)
    }
}

struct Mlp2 {
    conv1: Conv1x1,
    conv2: Conv1x1,
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
        let scores = (batched::matmul(&q, &k.t()?)? / (hd as f64).sqrt())?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = batched::matmul(&probs, &v)?
            .transpose(1, 2)?
            .reshape((b, n, c))?;
        let x = self.norm1.forward(&(x + self.out.forward(&ctx)?)?)?;
        let m = self.fc2.forward(&self.fc1.forward(&x)?.relu()?)?;
        Ok(self.norm2.forward(&(x + m)?)?)
    }
}

struct Domain {
    seed: Mlp2,
    attractors: Vec<Mlp2>,
    /// Conditional log-binomial MLP (conv, GELU, conv, softplus).
    clb0: Conv1x1,
    clb2: Conv1x1,
}

pub struct MetricHead {
    conv2: Conv1x1,
    embed: Conv1x1,
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
    pub(super) fn load(cfg: &ZoeConfig, vb: VarBuilder) -> Result<Self> {
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

    pub(super) fn forward(
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
            prev_bin = attract(&centres, &attractors, self.mean_attractors)?;
            prev_embedding = embedding.clone();
        }
        let (_, _, s_h, s_w) = relative.dims4()?;
        let centres = resize_to(&prev_bin, s_h, s_w)?;
        let embedding = resize_to(&embedding, s_h, s_w)?;
        let pt = gelu_erf(&d.clb0.forward(&Tensor::cat(&[relative, &embedding], 1)?)?)?;
        let pt = softplus(&d.clb2.forward(&pt)?)?;
        let depth = binomial::depth(&pt, &centres, (self.min_temp, self.max_temp))?;
        Ok(MetricOutput {
            domain_logits,
            domain,
            depth,
        })
    }
}

/// The bin centres `c` (b, n_bins, h, w) moved by the attractors `a` (b, A, h, w): each
/// centre by the sum (or mean) over attractors of `inv_attractor(a - c)` with the defaults
/// alpha = 300, gamma = 2: `dx / (1 + 300 dx^2)`. On the CPU one pass per bin (bins across
/// the cores), where tensor operations per attractor made 16 x 6 full-size temporaries per
/// layer (a third of a second at real size).
fn attract(c: &Tensor, a: &Tensor, mean: bool) -> Result<Tensor> {
    let (b, bins, h, w) = c.dims4()?;
    let n_attr = a.dim(1)?;
    let scale = if mean { 1.0 / n_attr as f32 } else { 1.0 };
    if !c.device().is_cpu() || c.dtype() != DType::F32 || a.dtype() != DType::F32 {
        let mut delta = c.zeros_like()?;
        for i in 0..n_attr {
            let dx = a.i((.., i..i + 1, .., ..))?.broadcast_sub(c)?;
            delta = (delta + (&dx / ((dx.sqr()? * 300.0)? + 1.0)?)?)?;
        }
        return Ok((c + (delta * f64::from(scale))?)?);
    }
    let hw = h * w;
    let cv: Vec<f32> = c.flatten_all()?.to_vec1()?;
    let av: Vec<f32> = a.flatten_all()?.to_vec1()?;
    let mut out = vec![0f32; b * bins * hw];
    if hw > 0 {
        let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
        let per = (b * bins).div_ceil(cores);
        each_chunk_mut(&mut out, per * hw, "attractors", |chunk, dst| {
            for (j, plane) in dst.chunks_exact_mut(hw).enumerate() {
                let plane_index = chunk * per + j;
                let batch = plane_index / bins;
                let centre = &cv[plane_index * hw..][..hw];
                plane.fill(0.0);
                for attractor in av[batch * n_attr * hw..][..n_attr * hw].chunks_exact(hw) {
                    for ((d, &at), &ce) in plane.iter_mut().zip(attractor).zip(centre) {
                        let dx = at - ce;
                        *d += dx / (dx * dx * 300.0 + 1.0);
                    }
                }
                for (d, &ce) in plane.iter_mut().zip(centre) {
                    *d = ce + *d * scale;
                }
            }
        });
    }
    Ok(Tensor::from_vec(out, (b, bins, h, w), c.device())?)
}
