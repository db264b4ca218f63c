//! Reading LeRobot parquet tables: selected top-level columns, optionally a row range
//! (v3 files hold many episodes), turned into plain Rust vectors.
//!
//! LeRobot writes vectors as `fixed_size_list<float>[n]` (v2.1, `datasets`) or `list<float>`
//! (pandas), scalars as `float`/`int64`/`bool`, images as `struct<bytes, path>`; every
//! accessor accepts the forms a real writer produces and says which column and type it found
//! otherwise. Errors are strings; the caller adds the file and episode.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};

/// Selected columns of a parquet file, batches kept as read.
pub struct Table {
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    /// Every top-level column name in the file (also those not read).
    pub all_columns: Vec<String>,
}

/// Reads the columns in `want` that exist (all of them when `want` is `None`), rows
/// `range` (all when `None`).
///
/// The parquet and arrow crates panic on some malformed files (an embedded arrow schema
/// whose list type has no child, found by fuzzing): such a panic becomes an error here.
pub fn read(
    path: &Path,
    want: Option<&dyn Fn(&str) -> bool>,
    range: Option<(usize, usize)>,
) -> Result<Table, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_unguarded(path, want, range)
    }))
    .unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(format!(
            "not a readable parquet file (the parquet reader failed on malformed data: {what})"
        ))
    })
}

fn read_unguarded(
    path: &Path,
    want: Option<&dyn Fn(&str) -> bool>,
    range: Option<(usize, usize)>,
) -> Result<Table, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("not a readable parquet file ({e})"))?;
    let all_columns: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let total = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let roots: Vec<usize> = all_columns
        .iter()
        .enumerate()
        .filter(|(_, n)| want.is_none_or(|w| w(n)))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut builder = builder.with_projection(mask).with_batch_size(8192);
    if let Some((start, len)) = range {
        if start.checked_add(len).is_none_or(|end| end > total) {
            return Err(format!(
                "rows {start}..{} asked for, the file has {total}",
                start.saturating_add(len)
            ));
        }
        builder = builder.with_row_selection(RowSelection::from(vec![
            RowSelector::skip(start),
            RowSelector::select(len),
        ]));
    }
    let reader = builder.build().map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    let mut rows = 0;
    for b in reader {
        let b = b.map_err(|e| format!("corrupt parquet data ({e})"))?;
        rows += b.num_rows();
        batches.push(b);
    }
    Ok(Table {
        batches,
        rows,
        all_columns,
    })
}

impl Table {
    pub fn has(&self, name: &str) -> bool {
        self.batches
            .first()
            .is_some_and(|b| b.schema().index_of(name).is_ok())
    }

    fn columns(&self, name: &str) -> Result<Vec<ArrayRef>, String> {
        self.batches
            .iter()
            .map(|b| {
                b.column_by_name(name)
                    .cloned()
                    .ok_or_else(|| format!("no column `{name}`"))
            })
            .collect()
    }

    /// A numeric column as rows of f64 (vectors, or scalars as 1-vectors). Nulls are NaN.
    pub fn f64_rows(&self, name: &str) -> Result<Vec<Vec<f64>>, String> {
        let mut out = Vec::with_capacity(self.rows);
        for col in self.columns(name)? {
            match col.data_type() {
                DataType::FixedSizeList(_, _) => {
                    let l = col.as_fixed_size_list();
                    for i in 0..l.len() {
                        out.push(numbers(&l.value(i), name)?);
                    }
                }
                DataType::List(_) => {
                    let l = col.as_list::<i32>();
                    for i in 0..l.len() {
                        out.push(numbers(&l.value(i), name)?);
                    }
                }
                DataType::LargeList(_) => {
                    let l = col.as_list::<i64>();
                    for i in 0..l.len() {
                        out.push(numbers(&l.value(i), name)?);
                    }
                }
                _ => out.extend(numbers(&col, name)?.into_iter().map(|v| vec![v])),
            }
        }
        Ok(out)
    }

    /// A scalar numeric column (a 1-vector column also counts).
    pub fn f64_column(&self, name: &str) -> Result<Vec<f64>, String> {
        self.f64_rows(name)?
            .into_iter()
            .enumerate()
            .map(|(row, v)| match v.as_slice() {
                [x] => Ok(*x),
                _ => Err(format!(
                    "column `{name}` row {row}: expected one value, found {}",
                    v.len()
                )),
            })
            .collect()
    }

    /// An integer column; non-integral or negative values are errors.
    pub fn index_column(&self, name: &str) -> Result<Vec<usize>, String> {
        self.f64_column(name)?
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 {
                    Ok(v as usize)
                } else {
                    Err(format!("column `{name}` row {row}: {v} is not an index"))
                }
            })
            .collect()
    }

    /// A `list<string>` column (v3's `tasks`), or a plain string column as 1-lists.
    pub fn string_lists(&self, name: &str) -> Result<Vec<Vec<String>>, String> {
        let mut out = Vec::with_capacity(self.rows);
        for col in self.columns(name)? {
            match col.data_type() {
                DataType::List(_) => {
                    let l = col.as_list::<i32>();
                    for i in 0..l.len() {
                        out.push(strings(&l.value(i), name)?.into_iter().flatten().collect());
                    }
                }
                DataType::LargeList(_) => {
                    let l = col.as_list::<i64>();
                    for i in 0..l.len() {
                        out.push(strings(&l.value(i), name)?.into_iter().flatten().collect());
                    }
                }
                _ => out.extend(
                    strings(&col, name)?
                        .into_iter()
                        .map(|s| s.into_iter().collect()),
                ),
            }
        }
        Ok(out)
    }

    /// A string column (nulls are `None`).
    pub fn string_column(&self, name: &str) -> Result<Vec<Option<String>>, String> {
        let mut out = Vec::with_capacity(self.rows);
        for col in self.columns(name)? {
            out.extend(strings(&col, name)?);
        }
        Ok(out)
    }

    /// Encoded image bytes from a LeRobot image column (`struct<bytes: binary, path>`) or a
    /// plain binary column.
    pub fn image_bytes(&self, name: &str) -> Result<Vec<bytes::Bytes>, String> {
        let mut out = Vec::with_capacity(self.rows);
        for col in self.columns(name)? {
            let bin: ArrayRef = match col.data_type() {
                DataType::Struct(_) => col
                    .as_struct()
                    .column_by_name("bytes")
                    .cloned()
                    .ok_or_else(|| format!("image column `{name}` has no `bytes` field"))?,
                _ => col.clone(),
            };
            match bin.data_type() {
                DataType::Binary => {
                    let b = bin.as_binary::<i32>();
                    out.extend((0..b.len()).map(|i| bytes::Bytes::copy_from_slice(b.value(i))));
                }
                DataType::LargeBinary => {
                    let b = bin.as_binary::<i64>();
                    out.extend((0..b.len()).map(|i| bytes::Bytes::copy_from_slice(b.value(i))));
                }
                t => return Err(format!("image column `{name}` holds {t}, not bytes")),
            }
        }
        Ok(out)
    }
}

fn numbers(a: &ArrayRef, name: &str) -> Result<Vec<f64>, String> {
    let get = |i: usize, v: f64| if a.is_null(i) { f64::NAN } else { v };
    Ok(match a.data_type() {
        DataType::Float32 => {
            let p = a.as_primitive::<Float32Type>();
            (0..p.len())
                .map(|i| get(i, f64::from(p.value(i))))
                .collect()
        }
        DataType::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            (0..p.len()).map(|i| get(i, p.value(i))).collect()
        }
        DataType::Int64 => {
            let p = a.as_primitive::<Int64Type>();
            (0..p.len()).map(|i| get(i, p.value(i) as f64)).collect()
        }
        DataType::Int32 => {
            let p = a.as_primitive::<Int32Type>();
            (0..p.len())
                .map(|i| get(i, f64::from(p.value(i))))
                .collect()
        }
        DataType::Boolean => {
            let p = a.as_boolean();
            (0..p.len())
                .map(|i| get(i, if p.value(i) { 1.0 } else { 0.0 }))
                .collect()
        }
        t => return Err(format!("column `{name}` holds {t}, not numbers")),
    })
}

fn strings(a: &ArrayRef, name: &str) -> Result<Vec<Option<String>>, String> {
    Ok(match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            (0..s.len())
                .map(|i| (!s.is_null(i)).then(|| s.value(i).to_owned()))
                .collect()
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            (0..s.len())
                .map(|i| (!s.is_null(i)).then(|| s.value(i).to_owned()))
                .collect()
        }
        t => return Err(format!("column `{name}` holds {t}, not strings")),
    })
}
