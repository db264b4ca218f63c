//! What `features` and `probe` share: the depth-source flag, the guard that keeps outputs
//! out of the checkpoint folder, and the run settings for a features-only pass (no
//! generation; the statistics key only changes how actions decode, never the features, so
//! any of the checkpoint's keys serves when the episode has none of its own).

use std::path::Path;

use anyhow::{Context, bail};

use crate::episode::Episode;
use crate::model::processor::IntrinsicsPrecision;
use crate::model::{DepthChoice, GenerateOptions, Predictor};
use crate::pipeline::{IntrinsicsChoice, RunSettings, choose_unnorm_key};

/// `--depth-source estimated|sensor`.
pub fn depth_choice(flag: &str) -> anyhow::Result<DepthChoice> {
    Ok(match flag {
        "estimated" => DepthChoice::Estimated,
        "sensor" => DepthChoice::Sensor,
        other => bail!("--depth-source {other:?}: `estimated` or `sensor`"),
    })
}

/// Refuses an output folder inside the checkpoint folder.
pub fn ensure_outside_checkpoint(out: &Path, model_dir: &Path) -> anyhow::Result<()> {
    let out_abs = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let model_abs = std::fs::canonicalize(model_dir).unwrap_or_else(|_| model_dir.to_path_buf());
    if out_abs.starts_with(&model_abs) {
        bail!(
            "{} lies inside the checkpoint folder {}; spatialscope never writes there",
            out.display(),
            model_dir.display()
        );
    }
    Ok(())
}

/// Settings for reading features of `ep`'s steps.
pub fn features_settings(
    predictor: &Predictor,
    ep: &Episode,
    depth_choice: DepthChoice,
) -> anyhow::Result<RunSettings> {
    Ok(RunSettings {
        unnorm_key: match choose_unnorm_key(predictor, ep, None) {
            Ok(k) => k,
            Err(_) => predictor
                .unnorm_keys()
                .into_iter()
                .next()
                .context("the checkpoint has no statistics keys")?,
        },
        intrinsics: IntrinsicsPrecision::Float32,
        intrinsics_choice: IntrinsicsChoice::Processor,
        depth_choice,
        compare_depth: false,
        options: GenerateOptions {
            max_new_tokens: 1,
            top_k: 1,
            attention: false,
        },
    })
}
