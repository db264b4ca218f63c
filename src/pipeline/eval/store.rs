//! The evaluation store: a folder with `store.json` (what was evaluated, with which
//! checkpoint and settings) and `steps.parquet` (one [`EvalRow`] per evaluated step), plus
//! `summary.json` when a run ends.
//!
//! Rows are written as they come, in parts (`steps.part-NNNNN.parquet`, each written to a
//! temporary name and renamed, every [`PART_ROWS`] rows): a run stopped by Ctrl-C, a crash or
//! a power cut loses at most the rows of the part being filled. When a run ends the parts are
//! merged into `steps.parquet`. Reading takes `steps.parquet` and any parts, so a store left
//! mid-run is still read whole, and a resumed run skips every stored step.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use arrow_array::builder::{
    BooleanBuilder, FixedSizeListBuilder, Float32Builder, Int64Builder, ListBuilder,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, ListArray, RecordBatch,
    StringArray, UInt8Array, UInt32Array,
};
use serde::{Deserialize, Serialize};

use super::row::{CHUNK, DIMS, EvalRow};

/// Rows per part file.
pub const PART_ROWS: usize = 32;
/// The manifest's schema id.
pub const STORE_SCHEMA: &str = "spatialscope.eval/1";

/// `store.json`: everything that must match for a run to add to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    /// The checkpoint folder, its label and a fingerprint of its config and tensor headers.
    pub checkpoint_path: String,
    pub checkpoint_label: String,
    pub checkpoint_fingerprint: String,
    /// The dataset path as given.
    pub dataset_path: String,
    pub settings: EvalSettings,
}

/// The settings a store's rows were made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSettings {
    /// Every K-th step of each episode (from step 0).
    pub every: usize,
    /// The requested statistics key (`None`: each episode's dataset key).
    pub unnorm_key: Option<String>,
    /// `estimated` or `sensor`.
    pub depth_source: String,
    /// `processor`, `camera` or `entry:NAME`.
    pub intrinsics: String,
    pub bf16_intrinsics: bool,
    pub dtype: String,
}

impl Manifest {
    /// What differs between a stored manifest and this run's, in words.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let mut d = Vec::new();
        if self.schema != other.schema {
            d.push(format!("schema {} vs {}", self.schema, other.schema));
        }
        if self.checkpoint_fingerprint != other.checkpoint_fingerprint {
            d.push(format!(
                "checkpoint {} ({}) vs {} ({})",
                self.checkpoint_path,
                &self.checkpoint_fingerprint[..12.min(self.checkpoint_fingerprint.len())],
                other.checkpoint_path,
                &other.checkpoint_fingerprint[..12.min(other.checkpoint_fingerprint.len())]
            ));
        }
        if self.settings != other.settings {
            d.push(format!(
                "settings {:?} vs {:?}",
                self.settings, other.settings
            ));
        }
        d
    }
}

/// SHA-256 over a checkpoint's `config.json`, its tensor index and every safetensors header
/// (tensor names, dtypes, shapes, offsets): what identifies the weights without hashing
/// gigabytes.
pub fn checkpoint_fingerprint(dir: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let config = dir.join("config.json");
    h.update(std::fs::read(&config).with_context(|| format!("cannot read {}", config.display()))?);
    let index = dir.join("model.safetensors.index.json");
    if let Ok(b) = std::fs::read(&index) {
        h.update(b);
    }
    let mut shards: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    shards.sort();
    for p in shards {
        use std::io::Read;
        let mut f =
            std::fs::File::open(&p).with_context(|| format!("cannot open {}", p.display()))?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len)
            .with_context(|| format!("{}: no safetensors header", p.display()))?;
        let n = u64::from_le_bytes(len);
        ensure!(
            n <= 100 << 20,
            "{}: safetensors header of {n} bytes",
            p.display()
        );
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header)
            .with_context(|| format!("{}: truncated safetensors header", p.display()))?;
        h.update(
            p.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        h.update(&header);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn list_f32(rows: &[EvalRow], f: impl Fn(&EvalRow) -> &[f32]) -> ArrayRef {
    let mut b = ListBuilder::new(Float32Builder::new());
    for r in rows {
        b.values().append_slice(f(r));
        b.append(true);
    }
    Arc::new(b.finish())
}

fn fixed_f32(rows: &[EvalRow], width: usize, f: impl Fn(&EvalRow) -> &[f32]) -> ArrayRef {
    let mut b = FixedSizeListBuilder::new(Float32Builder::new(), width as i32);
    for r in rows {
        let v = f(r);
        for k in 0..width {
            b.values()
                .append_value(v.get(k).copied().unwrap_or(f32::NAN));
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn to_batch(rows: &[EvalRow]) -> anyhow::Result<RecordBatch> {
    let s = |f: fn(&EvalRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let f32s = |f: fn(&EvalRow) -> f32| -> ArrayRef {
        Arc::new(Float32Array::from_iter_values(rows.iter().map(f)))
    };
    let bools = |f: fn(&EvalRow) -> bool| -> ArrayRef {
        let mut b = BooleanBuilder::new();
        rows.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish())
    };
    let mut ids = ListBuilder::new(Int64Builder::new());
    for r in rows {
        ids.values().append_slice(&r.token_ids);
        ids.append(true);
    }
    Ok(RecordBatch::try_from_iter([
        ("dataset", s(|r| &r.dataset)),
        (
            "episode_index",
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.episode_index),
            )) as ArrayRef,
        ),
        ("episode", s(|r| &r.episode)),
        (
            "step",
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.step))) as ArrayRef,
        ),
        ("instruction", s(|r| &r.instruction)),
        ("token_ids", Arc::new(ids.finish()) as ArrayRef),
        (
            "token_probabilities",
            list_f32(rows, |r| &r.token_probabilities),
        ),
        (
            "token_entropy_nats",
            list_f32(rows, |r| &r.token_entropy_nats),
        ),
        ("predicted", fixed_f32(rows, CHUNK * DIMS, |r| &r.predicted)),
        (
            "ground_truth",
            fixed_f32(rows, CHUNK * DIMS, |r| &r.ground_truth),
        ),
        (
            "ground_truth_len",
            Arc::new(UInt8Array::from_iter_values(
                rows.iter().map(|r| r.ground_truth_len),
            )) as ArrayRef,
        ),
        ("first_translation_l2", f32s(|r| r.first_translation_l2)),
        ("chunk_translation_l2", f32s(|r| r.chunk_translation_l2)),
        ("first_direction_deg", f32s(|r| r.first_direction_deg)),
        ("first_rotation_l2", f32s(|r| r.first_rotation_l2)),
        ("gripper_agreement", f32s(|r| r.gripper_agreement)),
        (
            "first_abs_error",
            fixed_f32(rows, DIMS, |r| &r.first_abs_error),
        ),
        ("malformed", bools(|r| r.malformed)),
        ("low_confidence", bools(|r| r.low_confidence)),
        ("unnorm_key", s(|r| &r.unnorm_key)),
        ("depth_source", s(|r| &r.depth_source)),
        ("intrinsics", s(|r| &r.intrinsics)),
        ("time_ms", f32s(|r| r.time_ms)),
    ])?)
}

/// Writes `rows` as one parquet file at `path` (a temporary name, then renamed).
fn write_parquet(path: &Path, rows: &[EvalRow]) -> anyhow::Result<()> {
    let batch = to_batch(rows)?;
    let tmp = path.with_extension("parquet.partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    w.write(&batch)?;
    w.close()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str, path: &Path) -> anyhow::Result<&'a T> {
    b.column_by_name(name)
        .with_context(|| {
            format!(
                "{}: not an evaluation store: no column `{name}`",
                path.display()
            )
        })?
        .as_any()
        .downcast_ref::<T>()
        .with_context(|| {
            format!(
                "{}: column `{name}` has another type than a store writes",
                path.display()
            )
        })
}

fn fixed_rows(
    a: &FixedSizeListArray,
    width: usize,
    path: &Path,
    name: &str,
) -> anyhow::Result<Vec<Vec<f32>>> {
    ensure!(
        a.value_length() as usize == width,
        "{}: column `{name}` holds {} values per row, not {width}",
        path.display(),
        a.value_length()
    );
    let v = a
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .with_context(|| format!("{}: column `{name}` is not float32", path.display()))?;
    Ok((0..a.len())
        .map(|i| v.values()[i * width..(i + 1) * width].to_vec())
        .collect())
}

fn list_rows<T: arrow_array::types::ArrowPrimitiveType>(
    a: &ListArray,
    path: &Path,
    name: &str,
) -> anyhow::Result<Vec<Vec<T::Native>>> {
    let v = a
        .values()
        .as_any()
        .downcast_ref::<arrow_array::PrimitiveArray<T>>()
        .with_context(|| {
            format!(
                "{}: column `{name}` has another element type",
                path.display()
            )
        })?;
    let off = a.value_offsets();
    (0..a.len())
        .map(|i| {
            let (s, e) = (off[i] as usize, off[i + 1] as usize);
            ensure!(
                e - s <= 1024,
                "{}: column `{name}` row {i} holds {} values",
                path.display(),
                e - s
            );
            Ok(v.values()[s..e].to_vec())
        })
        .collect()
}

/// Reads every row of one parquet file of a store.
fn read_parquet(path: &Path) -> anyhow::Result<Vec<EvalRow>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a parquet file", path.display()))?
        .build()?;
    let mut rows = Vec::new();
    for b in reader {
        let b = b.with_context(|| format!("{}: unreadable rows", path.display()))?;
        let st = |n| column::<StringArray>(&b, n, path);
        let f = |n| column::<Float32Array>(&b, n, path);
        let bo = |n| column::<BooleanArray>(&b, n, path);
        let (dataset, episode, instruction) = (st("dataset")?, st("episode")?, st("instruction")?);
        let (key, depth, intr) = (st("unnorm_key")?, st("depth_source")?, st("intrinsics")?);
        let ep = column::<UInt32Array>(&b, "episode_index", path)?;
        let step = column::<UInt32Array>(&b, "step", path)?;
        let gt_len = column::<UInt8Array>(&b, "ground_truth_len", path)?;
        let ids = list_rows::<arrow_array::types::Int64Type>(
            column(&b, "token_ids", path)?,
            path,
            "token_ids",
        )?;
        let probs = list_rows::<arrow_array::types::Float32Type>(
            column(&b, "token_probabilities", path)?,
            path,
            "token_probabilities",
        )?;
        let ent = list_rows::<arrow_array::types::Float32Type>(
            column(&b, "token_entropy_nats", path)?,
            path,
            "token_entropy_nats",
        )?;
        let pred = fixed_rows(
            column(&b, "predicted", path)?,
            CHUNK * DIMS,
            path,
            "predicted",
        )?;
        let gt = fixed_rows(
            column(&b, "ground_truth", path)?,
            CHUNK * DIMS,
            path,
            "ground_truth",
        )?;
        let abs = fixed_rows(
            column(&b, "first_abs_error", path)?,
            DIMS,
            path,
            "first_abs_error",
        )?;
        let (m1, m2, m3, m4, m5, t) = (
            f("first_translation_l2")?,
            f("chunk_translation_l2")?,
            f("first_direction_deg")?,
            f("first_rotation_l2")?,
            f("gripper_agreement")?,
            f("time_ms")?,
        );
        let (mal, low) = (bo("malformed")?, bo("low_confidence")?);
        for i in 0..b.num_rows() {
            rows.push(EvalRow {
                dataset: dataset.value(i).to_owned(),
                episode_index: ep.value(i),
                episode: episode.value(i).to_owned(),
                step: step.value(i),
                instruction: instruction.value(i).to_owned(),
                token_ids: ids[i].clone(),
                token_probabilities: probs[i].clone(),
                token_entropy_nats: ent[i].clone(),
                predicted: pred[i].clone(),
                ground_truth: gt[i].clone(),
                ground_truth_len: gt_len.value(i),
                first_translation_l2: m1.value(i),
                chunk_translation_l2: m2.value(i),
                first_direction_deg: m3.value(i),
                first_rotation_l2: m4.value(i),
                gripper_agreement: m5.value(i),
                first_abs_error: abs[i].clone(),
                malformed: mal.value(i),
                low_confidence: low.value(i),
                unnorm_key: key.value(i).to_owned(),
                depth_source: depth.value(i).to_owned(),
                intrinsics: intr.value(i).to_owned(),
                time_ms: t.value(i),
            });
        }
    }
    Ok(rows)
}

/// The store's files: `steps.parquet` then the parts, in order.
fn step_files(dir: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("steps.part-") && n.ends_with(".parquet"))
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    let main = dir.join("steps.parquet");
    let mut out = Vec::new();
    if main.is_file() {
        out.push(main);
    }
    out.extend(parts);
    out
}

/// Reads a store: its manifest and every stored row.
pub fn read_store(dir: &Path) -> anyhow::Result<(Manifest, Vec<EvalRow>)> {
    let mpath = dir.join("store.json");
    let text = std::fs::read_to_string(&mpath)
        .with_context(|| format!("{}: not an evaluation store (no store.json)", dir.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an evaluation store manifest", mpath.display()))?;
    ensure!(
        manifest.schema == STORE_SCHEMA,
        "{}: store schema `{}`, this spatialscope reads `{STORE_SCHEMA}`",
        mpath.display(),
        manifest.schema
    );
    let mut rows = Vec::new();
    for p in step_files(dir) {
        rows.extend(read_parquet(&p)?);
    }
    Ok((manifest, rows))
}

/// Adds rows to a store as they come.
pub struct StoreWriter {
    dir: PathBuf,
    pending: Vec<EvalRow>,
    next_part: usize,
    /// Rows written by this writer.
    pub written: usize,
}

impl StoreWriter {
    /// Opens (or creates) the store at `dir` for `manifest`; a store made with another
    /// checkpoint or other settings is refused. Returns the writer and the rows stored so far.
    pub fn open(dir: &Path, manifest: &Manifest) -> anyhow::Result<(Self, Vec<EvalRow>)> {
        let existing = if dir.join("store.json").is_file() {
            let (m, rows) = read_store(dir)?;
            let diff = m.differences(manifest);
            if !diff.is_empty() {
                bail!(
                    "{} holds an evaluation made with another checkpoint or settings ({}); choose another --out",
                    dir.display(),
                    diff.join("; ")
                );
            }
            rows
        } else {
            if dir.exists() && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
                bail!(
                    "{} is not empty and holds no evaluation store; choose an empty or new folder",
                    dir.display()
                );
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let tmp = dir.join("store.json.partial");
            std::fs::write(&tmp, serde_json::to_string_pretty(manifest)?)?;
            std::fs::rename(&tmp, dir.join("store.json"))?;
            Vec::new()
        };
        let next_part = step_files(dir).len();
        Ok((
            Self {
                dir: dir.to_owned(),
                pending: Vec::new(),
                next_part,
                written: 0,
            },
            existing,
        ))
    }

    pub fn push(&mut self, row: EvalRow) -> anyhow::Result<()> {
        self.pending.push(row);
        if self.pending.len() >= PART_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending rows as a new part.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        loop {
            let p = self
                .dir
                .join(format!("steps.part-{:05}.parquet", self.next_part));
            self.next_part += 1;
            if !p.exists() {
                write_parquet(&p, &self.pending)?;
                break;
            }
        }
        self.written += self.pending.len();
        self.pending.clear();
        Ok(())
    }

    /// Flushes, then merges every part into `steps.parquet`; returns all stored rows.
    pub fn finish(mut self) -> anyhow::Result<Vec<EvalRow>> {
        self.flush()?;
        let files = step_files(&self.dir);
        let mut rows = Vec::new();
        for p in &files {
            rows.extend(read_parquet(p)?);
        }
        rows.sort_by_key(EvalRow::key);
        write_parquet(&self.dir.join("steps.parquet"), &rows)?;
        for p in files.iter().filter(|p| !p.ends_with("steps.parquet")) {
            let _ = std::fs::remove_file(p);
        }
        Ok(rows)
    }
}
