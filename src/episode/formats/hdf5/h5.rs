//! The few HDF5 operations the robomimic/LIBERO reader needs, over `hdf5-pure` (a pure-Rust
//! reader: no system libhdf5). It reads what h5py writes with every `libver` up to "v114",
//! including the version-4 layouts Debian's libhdf5 1.10 refuses; HDF5 2.0's version-5
//! layout (`libver="latest"` with HDF5 >= 2.0) is refused with an explanation ([`explain`]).
//!
//! The file is opened streaming (metadata and chunks fetched on demand, never the whole file
//! in memory: LIBERO files run to gigabytes). Attributes are read as the string, integer
//! or float encodings h5py writes; arrays are converted to `f64`/`f32` from whichever
//! numeric type they are stored as. Every size that comes from the file is checked against
//! the file's length before anything is allocated for it ([`check_read_size`]).

use std::collections::HashMap;
use std::path::Path;

use hdf5_pure::{AttrValue, DType};

pub(super) use hdf5_pure::{Dataset, Group};

/// A reader error as a message, with what to do where the cause is known.
pub(super) fn explain(e: hdf5_pure::Error) -> String {
    let s = e.to_string();
    if s.contains("layout version: 5") || s.contains("InvalidLayoutVersion(5)") {
        return format!(
            "{s}: the file was written by HDF5 2.0 with libver=\"latest\" (data layout version 5), \
             which the built-in reader does not read yet; re-save it with h5py's default libver \
             (h5py.File(path, \"w\") or `h5repack -V` from HDF5 1.14) to open it here"
        );
    }
    s
}

/// The opened file (cheap to clone: groups and datasets share it).
pub(super) struct H5File {
    file: hdf5_pure::File,
    /// Length of the file on disk, bytes: the bound for what any dataset can hold.
    pub(super) len_bytes: u64,
}

impl std::fmt::Debug for H5File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "H5File({} bytes)", self.len_bytes)
    }
}

impl H5File {
    pub(super) fn open(path: &Path) -> Result<Self, String> {
        let len_bytes = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
        let file = hdf5_pure::File::open_streaming(path).map_err(explain)?;
        Ok(Self { file, len_bytes })
    }

    pub(super) fn group(&self, path: &str) -> Result<Group, String> {
        self.file.group(path).map_err(explain)
    }
}

/// Member names of `g` that are groups, sorted as stored.
pub(super) fn group_names(g: &Group) -> Vec<String> {
    g.groups().unwrap_or_default()
}

/// Member names of `g` that are datasets.
pub(super) fn dataset_names(g: &Group) -> Vec<String> {
    g.datasets().unwrap_or_default()
}

/// Whether `g` has a dataset called `name`.
pub(super) fn has_dataset(g: &Group, name: &str) -> bool {
    dataset_names(g).iter().any(|n| n == name)
}

fn attrs(g: &Group) -> HashMap<String, AttrValue> {
    g.attrs().unwrap_or_default()
}

/// Whether `g` has an attribute `name` (of any type).
pub(super) fn has_attr(g: &Group, name: &str) -> bool {
    attrs(g).contains_key(name)
}

/// A string attribute in any encoding h5py writes (variable-length UTF-8 or ASCII,
/// fixed-width `np.bytes_`, a one-element string array).
pub(super) fn str_attr(g: &Group, name: &str) -> Option<String> {
    match attrs(g).remove(name)? {
        AttrValue::String(s)
        | AttrValue::AsciiString(s)
        | AttrValue::VarLenString(s)
        | AttrValue::StringSized { value: s, .. }
        | AttrValue::AsciiStringSized { value: s, .. } => Some(s),
        AttrValue::StringArray(mut v)
        | AttrValue::AsciiStringArray(mut v)
        | AttrValue::VarLenStringArray(mut v)
        | AttrValue::VarLenAsciiCharArray(mut v)
            if v.len() == 1 =>
        {
            v.pop()
        }
        _ => None,
    }
}

/// An integer attribute stored as any integer type (or a one-element array of one).
pub(super) fn int_attr(g: &Group, name: &str) -> Option<i64> {
    match attrs(g).remove(name)? {
        AttrValue::I8(v) => Some(v.into()),
        AttrValue::I16(v) => Some(v.into()),
        AttrValue::I32(v) => Some(v.into()),
        AttrValue::I64(v) => Some(v),
        AttrValue::U8(v) => Some(v.into()),
        AttrValue::U16(v) => Some(v.into()),
        AttrValue::U32(v) => Some(v.into()),
        AttrValue::U64(v) => i64::try_from(v).ok(),
        AttrValue::I64Array(v) if v.len() == 1 => v.first().copied(),
        AttrValue::I32Array(v) if v.len() == 1 => v.first().map(|&x| x.into()),
        _ => None,
    }
}

/// The dataset's shape, each extent as `usize` (an extent that does not fit is an error).
pub(super) fn shape(ds: &Dataset) -> Result<Vec<usize>, String> {
    ds.shape()
        .map_err(explain)?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format!("extent {d} does not fit in memory")))
        .collect()
}

/// The element type, in `hdf5-pure`'s simple classification.
pub(super) fn dtype(ds: &Dataset) -> Option<DType> {
    ds.dtype().ok()
}

/// Whether values of this type are integers (depth stored as integer millimetres).
pub(super) fn is_integer(t: &DType) -> bool {
    matches!(
        t,
        DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64
    )
}

/// Whether values of this type are numbers we can convert to `f64`.
pub(super) fn is_numeric(t: &DType) -> bool {
    is_integer(t) || matches!(t, DType::F32 | DType::F64)
}

/// A short name for a type, for messages ("float64", "uint8", ...).
pub(super) fn type_name(t: &DType) -> String {
    match t {
        DType::F32 => "float32".into(),
        DType::F64 => "float64".into(),
        DType::I8 => "int8".into(),
        DType::I16 => "int16".into(),
        DType::I32 => "int32".into(),
        DType::I64 => "int64".into(),
        DType::U8 => "uint8".into(),
        DType::U16 => "uint16".into(),
        DType::U32 => "uint32".into(),
        DType::U64 => "uint64".into(),
        DType::String | DType::VariableLengthString => "string".into(),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}

/// Frames per stored chunk along the first axis (1 when the dataset is not chunked).
pub(super) fn chunk_rows(ds: &Dataset) -> usize {
    ds.chunk_shape()
        .ok()
        .flatten()
        .and_then(|c| c.first().copied())
        .and_then(|c| usize::try_from(c).ok())
        .unwrap_or(1)
        .max(1)
}

/// Most bytes one small array (actions, proprio, poses) may take when read whole.
pub(super) const MAX_ARRAY_BYTES: u64 = 1 << 30;
/// What gzip can at most inflate to per stored byte (deflate's limit is about 1032:1).
pub(super) const MAX_INFLATION: u64 = 1100;

/// Refuses a read whose declared size cannot be real: more than [`MAX_ARRAY_BYTES`], or more
/// than the whole file could hold even at gzip's best ratio (a dataset that declares 10^9
/// rows but stores none is a hostile or damaged file, not a reason to allocate gigabytes).
/// Checked arithmetic throughout.
pub(super) fn check_read_size(
    file_len_bytes: u64,
    shape: &[usize],
    elem_bytes: usize,
) -> Result<(), String> {
    let bytes = shape
        .iter()
        .try_fold(elem_bytes as u64, |n, &d| n.checked_mul(d as u64))
        .ok_or_else(|| format!("shape {shape:?}: the size overflows 64 bits"))?;
    let possible = file_len_bytes.saturating_mul(MAX_INFLATION).max(1 << 20);
    if bytes > MAX_ARRAY_BYTES || bytes > possible {
        return Err(format!(
            "shape {shape:?} declares {bytes} bytes but the file holds {file_len_bytes} bytes in all; not read"
        ));
    }
    Ok(())
}

/// Refuses a dataset whose declared chunk is larger than the whole file could inflate to
/// (or than [`MAX_ARRAY_BYTES`]): the reader holds a whole chunk in memory to serve any row
/// of it, so a 70 kB file declaring gigabyte chunks must not get that far. Then checks the
/// chunk index itself ([`check_chunk_index`]).
pub(super) fn check_chunk_size(ds: &Dataset, file_len_bytes: u64) -> Result<(), String> {
    let Some(chunk) = ds.chunk_shape().map_err(explain)? else {
        return Ok(());
    };
    let elem = ds.element_size().map_err(explain)?;
    let bytes = chunk
        .iter()
        .try_fold(elem, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("chunk shape {chunk:?}: the size overflows 64 bits"))?;
    let possible = file_len_bytes.saturating_mul(MAX_INFLATION).max(1 << 20);
    if bytes > MAX_ARRAY_BYTES || bytes > possible {
        return Err(format!(
            "chunks of shape {chunk:?} declare {bytes} bytes each but the file holds {file_len_bytes} bytes in all; not read"
        ));
    }
    check_chunk_index(ds, file_len_bytes, bytes)
}

/// Most a stored (filtered) chunk may take: deflate's worst case on incompressible data adds
/// a few bytes per 16 kB block plus headers, LZF and Blosc a few percent; an eighth more
/// and 4 kB covers them all with room.
fn max_stored_chunk_bytes(raw_chunk_bytes: u64) -> u64 {
    raw_chunk_bytes
        .saturating_add(raw_chunk_bytes / 8)
        .saturating_add(4096)
}

/// Every chunk the index lists must lie inside the file and be no larger than a chunk can
/// be stored. The reader trusts these extents: it merges neighbouring chunks into one read
/// and sizes (zero-fills) its buffer from them before reading, so a 70 kB file whose index
/// claims a 3 GB chunk made it allocate 3 GB (found by fuzzing). Reads only the index, once
/// per dataset. An index kind the reader cannot list (B-tree v2) is left to the reader's
/// own checks.
fn check_chunk_index(
    ds: &Dataset,
    file_len_bytes: u64,
    raw_chunk_bytes: u64,
) -> Result<(), String> {
    let Ok(chunks) = ds.chunks() else {
        return Ok(());
    };
    let most = max_stored_chunk_bytes(raw_chunk_bytes);
    for c in &chunks {
        let end = c.address.checked_add(c.storage_size);
        if c.storage_size > most || end.is_none_or(|e| e > file_len_bytes) {
            return Err(format!(
                "the chunk index lists a chunk at offset {} of {} bytes (a chunk holds at most {raw_chunk_bytes} bytes; the file is {file_len_bytes} bytes long): the file is damaged; not read",
                c.address, c.storage_size
            ));
        }
    }
    Ok(())
}

/// Rows `start..end` of a numeric dataset as `f64`, whatever numeric type is stored.
pub(super) fn read_rows_f64(ds: &Dataset, start: usize, end: usize) -> Result<Vec<f64>, String> {
    let t = dtype(ds).ok_or("unreadable element type")?;
    if !is_numeric(&t) {
        return Err(format!("holds {} values, not numbers", type_name(&t)));
    }
    ds.read_f64_rows(start as u64, end.saturating_sub(start) as u64)
        .map_err(explain)
}

/// Rows `start..end` of a `uint8` dataset.
pub(super) fn read_rows_u8(ds: &Dataset, start: usize, end: usize) -> Result<Vec<u8>, String> {
    ds.read_u8_rows(start as u64, end.saturating_sub(start) as u64)
        .map_err(explain)
}

/// A whole numeric dataset as `f64`, after [`check_read_size`].
pub(super) fn read_all_f64(ds: &Dataset, file_len_bytes: u64) -> Result<Vec<f64>, String> {
    let s = shape(ds)?;
    check_read_size(file_len_bytes, &s, size_of::<f64>())?;
    check_chunk_size(ds, file_len_bytes)?;
    let rows = s.first().copied().unwrap_or(1);
    if s.is_empty() {
        let t = dtype(ds).ok_or("unreadable element type")?;
        if !is_numeric(&t) {
            return Err(format!("holds {} values, not numbers", type_name(&t)));
        }
        return ds.read_f64().map_err(explain);
    }
    read_rows_f64(ds, 0, rows)
}
