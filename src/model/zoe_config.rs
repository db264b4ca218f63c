//! `vision_zoe_config` of a SpatialVLA `config.json`: the ZoeDepth (BEiT backbone, DPT neck,
//! multi-domain metric bins head) hyper-parameters, with the library defaults the release
//! relies on. Only the variant SpatialVLA ships is supported (softplus bin centres, two or
//! more bin configurations, `project` readout); anything else is a clear error naming the
//! field, not a silently different network.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BeitConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "d_patch")]
    pub patch_size: usize,
    #[serde(default = "d_image")]
    pub image_size: usize,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "d_out_indices")]
    pub out_indices: Vec<usize>,
    #[serde(default = "d_true")]
    pub use_relative_position_bias: bool,
    #[serde(default)]
    pub use_shared_relative_position_bias: bool,
    #[serde(default)]
    pub use_absolute_position_embeddings: bool,
}

fn d_patch() -> usize {
    16
}
fn d_image() -> usize {
    384
}
fn d_eps() -> f64 {
    1e-12
}
fn d_out_indices() -> Vec<usize> {
    vec![6, 12, 18, 24]
}
fn d_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BinConfiguration {
    pub name: String,
    pub n_bins: usize,
    pub min_depth: f64,
    pub max_depth: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ZoeConfig {
    pub backbone_config: BeitConfig,
    pub neck_hidden_sizes: Vec<usize>,
    pub reassemble_factors: Vec<f64>,
    pub fusion_hidden_size: usize,
    pub bottleneck_features: usize,
    pub num_relative_features: usize,
    pub bin_embedding_dim: usize,
    pub bin_configurations: Vec<BinConfiguration>,
    #[serde(default = "d_softplus")]
    pub bin_centers_type: String,
    #[serde(default = "d_mean")]
    pub attractor_kind: String,
    #[serde(default = "d_project")]
    pub readout_type: String,
    pub patch_transformer_hidden_size: usize,
    pub patch_transformer_intermediate_size: usize,
    pub patch_transformer_num_attention_heads: usize,
    #[serde(default = "d_max_temp")]
    pub max_temp: f64,
    #[serde(default = "d_min_temp")]
    pub min_temp: f64,
}

fn d_softplus() -> String {
    "softplus".into()
}
fn d_mean() -> String {
    "mean".into()
}
fn d_project() -> String {
    "project".into()
}
fn d_max_temp() -> f64 {
    50.0
}
fn d_min_temp() -> f64 {
    0.0212
}

/// Attractors per attractor layer: the head passes `num_attractors[i]` as the *bin* count
/// and leaves the attractor count at its default (a quirk of the reference, see the golden
/// README), so every layer predicts this many.
pub const ATTRACTORS_PER_LAYER: usize = 16;
/// Width the reference hard-wires for the domain classifier and patch transformer.
pub const CLASSIFIER_WIDTH: usize = 128;

impl ZoeConfig {
    /// Parses and checks `vision_zoe_config`; the error is (field, what).
    pub fn from_value(v: &serde_json::Value) -> Result<Self, (String, String)> {
        let c: ZoeConfig = serde_path_to_error::deserialize(v).map_err(|e| {
            (
                format!("vision_zoe_config.{}", e.path()),
                e.into_inner().to_string(),
            )
        })?;
        let bad = |f: &str, w: String| Err((format!("vision_zoe_config.{f}"), w));
        let b = &c.backbone_config;
        // Sizes become allocations: bound each far above the released ZoeDepth (BEiT-L,
        // 24 layers of 1024, 384 px) before anything uses them.
        let wide = 1usize << 16;
        let mut sizes = vec![
            ("backbone_config.hidden_size", b.hidden_size, wide),
            (
                "backbone_config.intermediate_size",
                b.intermediate_size,
                1 << 18,
            ),
            (
                "backbone_config.num_hidden_layers",
                b.num_hidden_layers,
                super::config::MAX_LAYERS,
            ),
            (
                "backbone_config.num_attention_heads",
                b.num_attention_heads,
                1 << 10,
            ),
            ("backbone_config.patch_size", b.patch_size, 1 << 10),
            ("backbone_config.image_size", b.image_size, 1 << 13),
            ("fusion_hidden_size", c.fusion_hidden_size, wide),
            ("bottleneck_features", c.bottleneck_features, wide),
            ("num_relative_features", c.num_relative_features, wide),
            ("bin_embedding_dim", c.bin_embedding_dim, wide),
            (
                "patch_transformer_intermediate_size",
                c.patch_transformer_intermediate_size,
                1 << 18,
            ),
            ("bin_configurations", c.bin_configurations.len(), 64),
        ];
        sizes.extend(
            c.neck_hidden_sizes
                .iter()
                .map(|&n| ("neck_hidden_sizes", n, wide)),
        );
        sizes.extend(
            c.bin_configurations
                .iter()
                .map(|bc| ("bin_configurations.n_bins", bc.n_bins, 1 << 12)),
        );
        if let Some((field, value, max)) = sizes.into_iter().find(|(_, v, max)| v > max) {
            return bad(
                field,
                format!("{value} is beyond any real model (at most {max} accepted)"),
            );
        }
        if b.hidden_size == 0
            || b.num_attention_heads == 0
            || !b.hidden_size.is_multiple_of(b.num_attention_heads)
        {
            return bad(
                "backbone_config.hidden_size",
                "must be a positive multiple of num_attention_heads".into(),
            );
        }
        if !b.image_size.is_multiple_of(b.patch_size.max(1)) {
            return bad(
                "backbone_config.image_size",
                "must be a multiple of patch_size".into(),
            );
        }
        if !b.use_relative_position_bias
            || b.use_shared_relative_position_bias
            || b.use_absolute_position_embeddings
        {
            return bad(
                "backbone_config",
                "only per-layer relative position bias (ZoeDepth's BEiT) is supported".into(),
            );
        }
        if b.out_indices.len() != 4
            || b.out_indices
                .iter()
                .any(|i| *i == 0 || *i > b.num_hidden_layers)
        {
            return bad(
                "backbone_config.out_indices",
                format!(
                    "{:?}: four layers 1..={} expected",
                    b.out_indices, b.num_hidden_layers
                ),
            );
        }
        if c.neck_hidden_sizes.len() != 4 || c.reassemble_factors.len() != 4 {
            return bad("neck_hidden_sizes", "four neck levels expected".into());
        }
        if c.bin_centers_type != "softplus" {
            return bad(
                "bin_centers_type",
                format!(
                    "{:?}: only \"softplus\" (SpatialVLA's ZoeDepth) is supported",
                    c.bin_centers_type
                ),
            );
        }
        if c.bin_configurations.len() < 2 {
            return bad("bin_configurations", "the multi-domain head (two or more domains) is what SpatialVLA ships; one domain is not supported".into());
        }
        if c.readout_type != "project" {
            return bad(
                "readout_type",
                format!("{:?}: only \"project\" is supported", c.readout_type),
            );
        }
        if !matches!(c.attractor_kind.as_str(), "mean" | "sum") {
            return bad(
                "attractor_kind",
                format!("{:?}: \"mean\" or \"sum\"", c.attractor_kind),
            );
        }
        if c.patch_transformer_hidden_size != CLASSIFIER_WIDTH {
            return bad(
                "patch_transformer_hidden_size",
                format!(
                    "must be {CLASSIFIER_WIDTH}: the reference hard-wires its domain classifier to that width"
                ),
            );
        }
        if c.patch_transformer_num_attention_heads == 0
            || !CLASSIFIER_WIDTH.is_multiple_of(c.patch_transformer_num_attention_heads)
        {
            return bad(
                "patch_transformer_num_attention_heads",
                "must divide 128".into(),
            );
        }
        Ok(c)
    }

    /// Patches per side of the backbone grid (24 at 384 px).
    pub fn grid(&self) -> usize {
        self.backbone_config.image_size / self.backbone_config.patch_size
    }
}
