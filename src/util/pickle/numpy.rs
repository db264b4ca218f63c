//! numpy arrays, dtypes and scalars, and the other callables pickles of data use, read as
//! data (never called).
//!
//! numpy pickles an array as `_reconstruct(ndarray, (0,), b'b')` followed by BUILD with the
//! state `(version, shape, dtype, is_fortran, raw bytes)` (`numpy.core.multiarray` before
//! numpy 2, `numpy._core.multiarray` since), or under protocol 5 as
//! `_frombuffer(buffer, dtype, shape, order)`; a dtype as `dtype(descr, False, True)` with
//! the state `(3, byte order, ...)`; a scalar as `scalar(dtype, raw bytes)`.

use super::value::{Object, Value, array};

/// An element type: kind (`f` float, `i` signed, `u` unsigned, `b` bool, others kept
/// as named), size in bytes and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    pub kind: char,
    pub size: usize,
    pub little_endian: bool,
}

impl DType {
    /// From a numpy type string (`f8`, `<f4`, `|u1`, `?`).
    fn parse(descr: &str) -> Result<Self, String> {
        let (order, rest) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (Some(c), &descr[1..]),
            _ => (None, descr),
        };
        if rest == "?" {
            return Ok(Self {
                kind: 'b',
                size: 1,
                little_endian: true,
            });
        }
        let mut chars = rest.chars();
        let kind = chars.next().ok_or("an empty dtype")?;
        let size: usize = chars
            .as_str()
            .parse()
            .map_err(|_| format!("dtype `{descr}` is not a numeric type string"))?;
        if size == 0 || size > 16 {
            return Err(format!("dtype `{descr}` has an item size of {size} bytes"));
        }
        Ok(Self {
            kind,
            size,
            little_endian: order != Some('>'),
        })
    }

    /// numpy's short name (`<f8`).
    pub fn descr(&self) -> String {
        format!(
            "{}{}{}",
            if self.little_endian { '<' } else { '>' },
            self.kind,
            self.size
        )
    }

    /// Element `bytes` (exactly `size` long) as f64, for numeric kinds.
    fn read(&self, b: &[u8]) -> Option<f64> {
        let mut buf = [0u8; 8];
        let n = self.size.min(8);
        buf[..n].copy_from_slice(&b[..n]);
        if !self.little_endian {
            buf[..n].reverse();
        }
        Some(match (self.kind, self.size) {
            ('f', 8) => f64::from_le_bytes(buf),
            ('f', 4) => f64::from(f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])),
            ('f', 2) => f64::from(half_to_f32(u16::from_le_bytes([buf[0], buf[1]]))),
            ('i', 1 | 2 | 4 | 8) => {
                let shift = 64 - 8 * self.size;
                ((i64::from_le_bytes(buf) << shift) >> shift) as f64
            }
            ('u', 1 | 2 | 4 | 8) => u64::from_le_bytes(buf) as f64,
            ('b', 1) => f64::from(u8::from(buf[0] != 0)),
            _ => return None,
        })
    }
}

fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// An n-dimensional array as stored: its element type, shape and raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Column-major (Fortran) element order.
    pub fortran: bool,
    data: Vec<u8>,
}

impl NdArray {
    /// Checks that the shape's element count times the item size is the data's length
    /// (with overflow checked) before keeping it.
    pub(super) fn new(
        dtype: DType,
        shape: Vec<usize>,
        fortran: bool,
        data: Vec<u8>,
    ) -> Result<Self, String> {
        let count = shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .and_then(|n| n.checked_mul(dtype.size))
            .ok_or_else(|| format!("array shape {shape:?} overflows"))?;
        if count != data.len() {
            return Err(format!(
                "array of shape {shape:?} and dtype {} needs {count} bytes, the pickle holds {}",
                dtype.descr(),
                data.len()
            ));
        }
        Ok(Self {
            dtype,
            shape,
            fortran,
            data,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements as f64 in row-major (C) order; an error for non-numeric dtypes.
    pub fn to_f64(&self) -> Result<Vec<f64>, String> {
        let size = self.dtype.size;
        let raw: Vec<f64> = self
            .data
            .chunks_exact(size)
            .map(|b| self.dtype.read(b))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("a {} array is not numeric", self.dtype.descr()))?;
        if !self.fortran || self.shape.len() < 2 {
            return Ok(raw);
        }
        // Column-major to row-major: walk C order, computing each element's F offset.
        let mut out = Vec::with_capacity(raw.len());
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..raw.len() {
            let mut offset = 0;
            let mut stride = 1;
            for (i, d) in index.iter().zip(&self.shape) {
                offset += i * stride;
                stride *= d;
            }
            out.push(raw[offset]);
            for k in (0..index.len()).rev() {
                index[k] += 1;
                if index[k] < self.shape[k] {
                    break;
                }
                index[k] = 0;
            }
        }
        Ok(out)
    }
}

fn is(obj: &Object, modules: &[&str], name: &str) -> bool {
    obj.class
        .rsplit_once('.')
        .is_some_and(|(m, n)| n == name && modules.contains(&m))
}

const MULTIARRAY: &[&str] = &["numpy.core.multiarray", "numpy._core.multiarray"];
const NUMERIC: &[&str] = &["numpy.core.numeric", "numpy._core.numeric"];
const BUILTINS: &[&str] = &["builtins", "__builtin__"];

fn dtype_of(v: &Value) -> Result<DType, String> {
    match v {
        Value::DType(d) => Ok(*d),
        other => Err(format!("expected a numpy dtype, found {}", other.kind())),
    }
}

fn shape_of(v: &Value) -> Result<Vec<usize>, String> {
    let items = v
        .as_seq()
        .ok_or_else(|| format!("an array shape is {}", v.kind()))?;
    items
        .iter()
        .map(|d| {
            d.as_i64()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| format!("an array dimension is {}", d.kind()))
        })
        .collect()
}

/// Latin-1 text as bytes (how Python 3 pickles `bytes` under protocol 2).
fn latin1(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c))
                .map_err(|_| "latin-1 bytes hold a character above 255".to_owned())
        })
        .collect()
}

fn bytes_of(v: Value) -> Result<Vec<u8>, String> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::Str(s) => latin1(&s),
        other => Err(format!("expected bytes, found {}", other.kind())),
    }
}

/// Maps the callables of data pickles to values; every other object stays as it is.
pub(super) fn interpret(mut obj: Object) -> Result<Value, String> {
    if is(&obj, MULTIARRAY, "_reconstruct") {
        let Some(Value::Tuple(mut st)) = obj.state.take() else {
            return Err("a numpy array without its state".into());
        };
        if st.len() != 5 {
            return Err(format!(
                "a numpy array state has {} parts, expected 5",
                st.len()
            ));
        }
        let data =
            bytes_of(st.pop().unwrap_or(Value::None)).map_err(|e| format!("array data: {e}"))?;
        let fortran = matches!(st[3], Value::Bool(true) | Value::Int(1));
        return array(dtype_of(&st[2])?, shape_of(&st[1])?, fortran, data);
    }
    if is(&obj, NUMERIC, "_frombuffer") {
        if obj.args.len() != 4 {
            return Err("numpy _frombuffer needs 4 arguments".into());
        }
        let fortran = obj.args[3].as_str() == Some("F");
        let (dtype, shape) = (dtype_of(&obj.args[1])?, shape_of(&obj.args[2])?);
        return array(dtype, shape, fortran, bytes_of(obj.args.swap_remove(0))?);
    }
    if obj.class == "numpy.dtype" {
        let descr = obj
            .args
            .first()
            .and_then(Value::as_str)
            .ok_or("numpy.dtype without a type string")?;
        let mut d = DType::parse(descr)?;
        if let Some(order) = obj
            .state
            .as_ref()
            .and_then(|s| s.as_seq()?.get(1)?.as_str())
        {
            d.little_endian = order != ">";
        }
        return Ok(Value::DType(d));
    }
    if is(&obj, MULTIARRAY, "scalar") {
        let dtype = dtype_of(obj.args.first().ok_or("a numpy scalar without a dtype")?)?;
        let raw = bytes_of(obj.args.get(1).cloned().unwrap_or(Value::None))?;
        if raw.len() != dtype.size {
            return Err(format!(
                "a {} scalar holds {} bytes",
                dtype.descr(),
                raw.len()
            ));
        }
        let v = dtype
            .read(&raw)
            .ok_or_else(|| format!("a {} scalar is not numeric", dtype.descr()))?;
        return Ok(match dtype.kind {
            'f' => Value::Float(v),
            'b' => Value::Bool(v != 0.0),
            _ => Value::Int(v as i64),
        });
    }
    if obj.class == "_codecs.encode" {
        let text = obj
            .args
            .first()
            .and_then(Value::as_str)
            .ok_or("_codecs.encode without text")?;
        return match obj.args.get(1).and_then(Value::as_str) {
            Some("latin1" | "latin-1") => latin1(text).map(Value::Bytes),
            Some("utf8" | "utf-8") | None => Ok(Value::Bytes(text.as_bytes().to_vec())),
            Some(other) => Err(format!(
                "_codecs.encode with encoding `{other}` is not read"
            )),
        };
    }
    if is(&obj, BUILTINS, "bytearray") || is(&obj, BUILTINS, "bytes") {
        return match obj.args.into_iter().next() {
            None => Ok(Value::Bytes(Vec::new())),
            Some(v) => bytes_of(v).map(Value::Bytes),
        };
    }
    if is(&obj, BUILTINS, "set") || is(&obj, BUILTINS, "frozenset") {
        let items = obj
            .args
            .first()
            .and_then(Value::as_seq)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        return Ok(Value::Set(items));
    }
    if obj.class == "collections.OrderedDict" {
        let mut items = obj.dict_items;
        if let Some(pairs) = obj.args.first().and_then(Value::as_seq) {
            for p in pairs {
                if let Some([k, v]) = p.as_seq() {
                    items.push((k.clone(), v.clone()));
                }
            }
        }
        return Ok(Value::Dict(items));
    }
    // copyreg's helpers name the real class in their first argument (`_reconstructor`
    // keeps only the class; `__newobj__` passes the rest to it).
    let reconstructor = matches!(
        obj.class.as_str(),
        "copyreg._reconstructor" | "copy_reg._reconstructor"
    );
    let newobj = matches!(
        obj.class.as_str(),
        "copyreg.__newobj__" | "copy_reg.__newobj__"
    );
    if (reconstructor || newobj)
        && let Some(Value::Global { module, name }) = obj.args.first()
    {
        obj.class = format!("{module}.{name}");
        if reconstructor {
            obj.args.clear();
        } else {
            obj.args.remove(0);
        }
    }
    Ok(Value::Object(Box::new(obj)))
}
