//! `config.json` of a SpatialVLA checkpoint (spec 7.2), with the library defaults the
//! reference relies on resolved here, once. The released file lists only non-default Gemma2
//! and SigLIP fields (no `head_dim`, no soft-caps, no `query_pre_attn_scalar`), so a loader
//! that required them would reject the real checkpoint; fields the reference has no default
//! for (the decoder and vision shapes, the action-token ids) are required and a missing one
//! is reported by its dotted path. The top-level `hidden_size` (2048) and
//! `num_hidden_layers` are leftovers and never read.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{ModelError, Result};

/// The Gemma2 decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    /// Queries are scaled by `query_pre_attn_scalar^-0.5` (256 in the library, even when
    /// `head_dim` differs, as in the tiny checkpoint).
    pub query_pre_attn_scalar: f64,
    pub attn_logit_softcapping: Option<f64>,
    pub final_logit_softcapping: Option<f64>,
    /// Even-indexed layers see at most this many previous positions.
    pub sliding_window: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
}

/// The SigLIP vision tower.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub patch_size: usize,
    pub image_size: usize,
    pub layer_norm_eps: f64,
}

impl VisionConfig {
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }
    pub fn num_patches(&self) -> usize {
        self.patches_per_side().pow(2)
    }
}

/// The whole model.
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialVlaConfig {
    pub action_token_begin_idx: i64,
    pub spatial_token_num: usize,
    pub use_spatial_token: bool,
    pub image_token_index: i64,
    pub ego3d_patch_reso: usize,
    pub n_freqs: usize,
    pub use_vision_zoe: bool,
    pub bos_token_id: i64,
    pub eos_token_id: i64,
    pub pad_token_id: i64,
    pub text: TextConfig,
    pub vision: VisionConfig,
    /// Whether the file carries a `vision_zoe_config`.
    pub has_zoe_config: bool,
    /// ZoeDepth's configuration, when the file has one.
    pub zoe: Option<super::zoe_config::ZoeConfig>,
}

/// Most layers a tower may declare.
pub const MAX_LAYERS: usize = 1 << 10;

struct Fields<'a> {
    path: &'a Path,
    root: &'a Value,
}

impl Fields<'_> {
    fn err(&self, field: &str, what: impl Into<String>) -> ModelError {
        ModelError::Config {
            path: self.path.to_path_buf(),
            field: field.to_owned(),
            what: what.into(),
        }
    }

    fn get(&self, field: &str) -> Option<&Value> {
        let mut v = self.root;
        for part in field.split('.') {
            v = v.get(part)?;
        }
        Some(v)
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                self.err(field, format!("expected a non-negative integer, found {v}"))
            }),
        }
    }

    fn usize(&self, field: &str) -> Result<usize> {
        self.opt_usize(field)?
            .ok_or_else(|| self.err(field, "missing (the model shape cannot be guessed)"))
    }

    fn usize_or(&self, field: &str, default: usize) -> Result<usize> {
        Ok(self.opt_usize(field)?.unwrap_or(default))
    }

    /// Refuses a size above `max` (a hostile or damaged config), before it is used.
    fn at_most(&self, field: &str, value: usize, max: usize) -> Result<usize> {
        if value > max {
            return Err(self.err(
                field,
                format!("{value} is beyond any real model (at most {max} accepted)"),
            ));
        }
        Ok(value)
    }

    /// A count of at least 1; `default` 0 means the field is required.
    fn positive(&self, field: &str, default: usize) -> Result<usize> {
        let n = if default == 0 {
            self.usize(field)?
        } else {
            self.usize_or(field, default)?
        };
        if n == 0 {
            return Err(self.err(field, "must be at least 1"));
        }
        Ok(n)
    }

    fn i64(&self, field: &str) -> Result<i64> {
        match self.get(field) {
            None | Some(Value::Null) => Err(self.err(field, "missing")),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| self.err(field, format!("expected an integer, found {v}"))),
        }
    }

    fn i64_or(&self, field: &str, default: i64) -> Result<i64> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Array(items)) => items
                .first()
                .and_then(Value::as_i64)
                .ok_or_else(|| self.err(field, "expected an integer or a list of integers")),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| self.err(field, format!("expected an integer, found {v}"))),
        }
    }

    fn f64_or(&self, field: &str, default: f64) -> Result<f64> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| self.err(field, format!("expected a finite number, found {v}"))),
        }
    }

    /// Absent: the library default; `null`: switched off.
    fn softcap(&self, field: &str, default: f64) -> Result<Option<f64>> {
        match self.get(field) {
            None => Ok(Some(default)),
            Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected a positive number, found {v}"))),
        }
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(field, format!("expected true or false, found {v}"))),
        }
    }

    fn activation(&self, field: &str) -> Result<()> {
        match self.get(field).and_then(Value::as_str) {
            None | Some("gelu_pytorch_tanh") => Ok(()),
            Some(other) => Err(self.err(
                field,
                format!(
                    "activation `{other}` is not supported (SpatialVLA uses gelu_pytorch_tanh)"
                ),
            )),
        }
    }
}

impl SpatialVlaConfig {
    /// Reads `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io {
            path: path.clone(),
            what: format!("cannot read: {e}"),
        })?;
        Self::from_json_str(&text, &path)
    }

    /// Parses the text of a `config.json` (`path` is only used in messages).
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let root: Value = serde_json::from_str(text).map_err(|e| ModelError::Config {
            path: PathBuf::from(path),
            field: "(file)".into(),
            what: format!("not valid JSON: {e}"),
        })?;
        let f = Fields { path, root: &root };
        if !root.is_object() {
            return Err(f.err("(file)", "expected a JSON object"));
        }
        for section in ["text_config", "vision_config"] {
            if !f.get(section).is_some_and(Value::is_object) {
                return Err(f.err(section, "missing or not an object"));
            }
        }
        f.activation("text_config.hidden_activation")?;
        f.activation("text_config.hidden_act")?;
        f.activation("vision_config.hidden_act")?;
        let text = TextConfig {
            vocab_size: f.usize("text_config.vocab_size")?,
            hidden_size: f.positive("text_config.hidden_size", 0)?,
            intermediate_size: f.positive("text_config.intermediate_size", 0)?,
            num_hidden_layers: f.usize("text_config.num_hidden_layers")?,
            num_attention_heads: f.positive("text_config.num_attention_heads", 8)?,
            num_key_value_heads: f.positive("text_config.num_key_value_heads", 4)?,
            head_dim: f.positive("text_config.head_dim", 256)?,
            query_pre_attn_scalar: f.f64_or("text_config.query_pre_attn_scalar", 256.0)?,
            attn_logit_softcapping: f.softcap("text_config.attn_logit_softcapping", 50.0)?,
            final_logit_softcapping: f.softcap("text_config.final_logit_softcapping", 30.0)?,
            sliding_window: f.positive("text_config.sliding_window", 4096)?,
            rms_norm_eps: f.f64_or("text_config.rms_norm_eps", 1e-6)?,
            rope_theta: f.f64_or("text_config.rope_theta", 10_000.0)?,
        };
        if !text
            .num_attention_heads
            .is_multiple_of(text.num_key_value_heads)
        {
            return Err(f.err(
                "text_config.num_key_value_heads",
                format!(
                    "{} query heads cannot share {} key/value heads",
                    text.num_attention_heads, text.num_key_value_heads
                ),
            ));
        }
        // Sizes become allocations and arithmetic: bound each far above any real model
        // (SpatialVLA-4B: 26 layers, width 2304, vocabulary 257,152) before anything uses them.
        for (field, value, max) in [
            ("text_config.vocab_size", text.vocab_size, 1 << 22),
            ("text_config.hidden_size", text.hidden_size, 1 << 16),
            (
                "text_config.intermediate_size",
                text.intermediate_size,
                1 << 18,
            ),
            (
                "text_config.num_hidden_layers",
                text.num_hidden_layers,
                MAX_LAYERS,
            ),
            (
                "text_config.num_attention_heads",
                text.num_attention_heads,
                1 << 10,
            ),
            (
                "text_config.num_key_value_heads",
                text.num_key_value_heads,
                1 << 10,
            ),
            ("text_config.head_dim", text.head_dim, 1 << 12),
            ("text_config.sliding_window", text.sliding_window, 1 << 24),
        ] {
            f.at_most(field, value, max)?;
        }
        if text.query_pre_attn_scalar <= 0.0 {
            return Err(f.err("text_config.query_pre_attn_scalar", "must be positive"));
        }
        let vision = VisionConfig {
            hidden_size: f.positive("vision_config.hidden_size", 0)?,
            intermediate_size: f.positive("vision_config.intermediate_size", 0)?,
            num_hidden_layers: f.usize("vision_config.num_hidden_layers")?,
            num_attention_heads: f.positive("vision_config.num_attention_heads", 0)?,
            patch_size: f.positive("vision_config.patch_size", 0)?,
            image_size: f.positive("vision_config.image_size", 224)?,
            layer_norm_eps: f.f64_or("vision_config.layer_norm_eps", 1e-6)?,
        };
        for (field, value, max) in [
            ("vision_config.hidden_size", vision.hidden_size, 1 << 16),
            (
                "vision_config.intermediate_size",
                vision.intermediate_size,
                1 << 18,
            ),
            (
                "vision_config.num_hidden_layers",
                vision.num_hidden_layers,
                MAX_LAYERS,
            ),
            (
                "vision_config.num_attention_heads",
                vision.num_attention_heads,
                1 << 10,
            ),
            ("vision_config.patch_size", vision.patch_size, 1 << 10),
            ("vision_config.image_size", vision.image_size, 1 << 13),
        ] {
            f.at_most(field, value, max)?;
        }
        if !vision
            .hidden_size
            .is_multiple_of(vision.num_attention_heads)
        {
            return Err(f.err(
                "vision_config.num_attention_heads",
                "does not divide vision_config.hidden_size",
            ));
        }
        if !vision.image_size.is_multiple_of(vision.patch_size) {
            return Err(f.err("vision_config.patch_size", "does not divide the image size"));
        }
        let cfg = SpatialVlaConfig {
            action_token_begin_idx: f.i64("action_token_begin_idx")?,
            spatial_token_num: f.usize("spatial_token_num")?,
            use_spatial_token: f.bool_or("use_spatial_token", false)?,
            image_token_index: f.i64("image_token_index")?,
            ego3d_patch_reso: f.positive("ego3d_patch_reso", 4)?,
            n_freqs: f.positive("n_freqs", 8)?,
            use_vision_zoe: f.bool_or("use_vision_zoe", true)?,
            bos_token_id: f.i64_or("bos_token_id", 2)?,
            eos_token_id: f.i64_or("eos_token_id", 1)?,
            pad_token_id: f.i64_or("pad_token_id", 0)?,
            text,
            vision,
            has_zoe_config: f.get("vision_zoe_config").is_some_and(Value::is_object),
            zoe: match f.get("vision_zoe_config") {
                Some(v) if v.is_object() => Some(
                    super::zoe_config::ZoeConfig::from_value(v)
                        .map_err(|(field, what)| f.err(&field, what))?,
                ),
                _ => None,
            },
        };
        for (field, value, max) in [
            ("spatial_token_num", cfg.spatial_token_num, 1 << 20),
            ("ego3d_patch_reso", cfg.ego3d_patch_reso, 1 << 6),
            ("n_freqs", cfg.n_freqs, 1 << 6),
        ] {
            f.at_most(field, value, max)?;
        }
        if vision_patch_reso_invalid(&cfg) {
            return Err(f.err(
                "ego3d_patch_reso",
                format!(
                    "{} does not divide the patch size {} (spec 5.4)",
                    cfg.ego3d_patch_reso, cfg.vision.patch_size
                ),
            ));
        }
        let end = cfg
            .action_token_begin_idx
            .checked_add(cfg.spatial_token_num as i64)
            .unwrap_or(i64::MAX);
        if cfg.action_token_begin_idx < 0 || end > cfg.text.vocab_size as i64 {
            return Err(f.err(
                "action_token_begin_idx",
                format!(
                    "action ids {}..{end} do not fit the vocabulary of {}",
                    cfg.action_token_begin_idx, cfg.text.vocab_size
                ),
            ));
        }
        if cfg.image_token_index < 0 || cfg.image_token_index >= cfg.text.vocab_size as i64 {
            return Err(f.err("image_token_index", "outside the vocabulary"));
        }
        Ok(cfg)
    }

    /// Projector output width: the decoder width.
    pub fn projection_dim(&self) -> usize {
        self.text.hidden_size
    }
}

fn vision_patch_reso_invalid(cfg: &SpatialVlaConfig) -> bool {
    !cfg.vision.patch_size.is_multiple_of(cfg.ego3d_patch_reso)
}
