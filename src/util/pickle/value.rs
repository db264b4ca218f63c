//! Plain data read from a pickle, and the arena-to-tree step that builds it.
//!
//! A pickle is a graph (memo references share values); [`Value`] is a tree, so shared
//! values are copied. The copy is bounded: nesting by [`super::MAX_DEPTH`] (which also stops
//! a value that contains itself), and the total number of values and bytes produced by a
//! budget proportional to the input, so a small pickle that refers to one large value many
//! times is refused instead of exhausting memory.

use super::machine::{Id, Node};
use super::numpy::{self, DType, NdArray};
use super::{MAX_DEPTH, PickleError};

/// A pickled value as plain data.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits (little-endian two's complement bytes).
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    /// `bytes`, `bytearray` and Python 2 `str`.
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    /// Keys in the order stored.
    Dict(Vec<(Value, Value)>),
    /// A reference to a class or function (`module.name`), not resolved.
    Global {
        module: String,
        name: String,
    },
    /// An instance of a class this reader does not map: its name, constructor arguments and
    /// state (for plain Python objects, the attribute dictionary).
    Object(Box<Object>),
    Array(NdArray),
    DType(DType),
    /// A persistent id (what a PyTorch checkpoint's storages are), read only by
    /// [`super::parse_with_persistent_ids`].
    Persistent(Box<Value>),
}

/// An instance of an unmapped class, as data.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// `module.name` of the class or callable (`rlbench.demo.Demo`).
    pub class: String,
    pub args: Vec<Value>,
    pub state: Option<Value>,
    /// Items APPENDed to it (list subclasses).
    pub list_items: Vec<Value>,
    /// Items SETITEMed on it (dict subclasses).
    pub dict_items: Vec<(Value, Value)>,
}

impl Value {
    /// A short name of the kind, for error messages.
    pub fn kind(&self) -> String {
        match self {
            Self::None => "None".into(),
            Self::Bool(_) => "a bool".into(),
            Self::Int(_) | Self::BigInt(_) => "an int".into(),
            Self::Float(_) => "a float".into(),
            Self::Str(_) => "a string".into(),
            Self::Bytes(_) => "bytes".into(),
            Self::List(_) => "a list".into(),
            Self::Tuple(_) => "a tuple".into(),
            Self::Set(_) => "a set".into(),
            Self::Dict(_) => "a dict".into(),
            Self::Global { module, name } => format!("the global {module}.{name}"),
            Self::Object(o) => format!("a {} object", o.class),
            Self::Array(a) => format!("a {:?} {} array", a.shape, a.dtype.descr()),
            Self::DType(_) => "a numpy dtype".into(),
            Self::Persistent(_) => "a persistent id".into(),
        }
    }

    /// Text: a string, or bytes that are UTF-8 (Python 2 `str`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            Self::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// A number (bool, int or float; a one-element array) as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Bool(b) => Some(f64::from(u8::from(*b))),
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            Self::Array(a) if a.len() == 1 => a.to_f64().ok()?.first().copied(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Bool(b) => Some(i64::from(*b)),
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The items of a list or tuple (or of a list subclass).
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Self::List(v) | Self::Tuple(v) => Some(v),
            Self::Object(o) if !o.list_items.is_empty() => Some(&o.list_items),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&NdArray> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    /// The entry `key` of a dict, or the attribute `key` of an object (its state dictionary,
    /// the first part of a `(dict, slots)` state, or its dict items).
    pub fn get(&self, key: &str) -> Option<&Value> {
        fn find<'v>(items: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
            items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v)
        }
        match self {
            Self::Dict(items) => find(items, key),
            Self::Object(o) => match &o.state {
                Some(Self::Dict(items)) => find(items, key),
                Some(Self::Tuple(parts)) => parts.iter().find_map(|p| p.get(key)),
                _ => None,
            }
            .or_else(|| find(&o.dict_items, key)),
            _ => None,
        }
    }

    /// The class name of an object (`rlbench.demo.Demo`).
    pub fn class(&self) -> Option<&str> {
        match self {
            Self::Object(o) => Some(&o.class),
            _ => None,
        }
    }
}

/// How much a materialisation may still produce.
struct Budget {
    values: usize,
    bytes: usize,
}

impl Budget {
    fn spend(&mut self, values: usize, bytes: usize) -> Result<(), PickleError> {
        if values > self.values || bytes > self.bytes {
            return Err(PickleError::content(
                "shared values expand beyond what the file's size allows (a pickle bomb?)",
            ));
        }
        self.values -= values;
        self.bytes -= bytes;
        Ok(())
    }
}

/// Builds the tree below `root`, mapping known callables to data.
pub(super) fn materialize(
    arena: &[Node],
    root: Id,
    input_len: usize,
) -> Result<Value, PickleError> {
    let mut budget = Budget {
        values: arena.len().saturating_mul(4).saturating_add(1 << 20),
        bytes: input_len.saturating_mul(2).saturating_add(64 << 20),
    };
    build(arena, root, 0, &mut budget)
}

fn build(arena: &[Node], id: Id, depth: usize, budget: &mut Budget) -> Result<Value, PickleError> {
    if depth > MAX_DEPTH {
        return Err(PickleError::content(format!(
            "values nest deeper than {MAX_DEPTH} levels (or a value contains itself)"
        )));
    }
    let seq = |ids: &[Id], budget: &mut Budget| -> Result<Vec<Value>, PickleError> {
        ids.iter()
            .map(|i| build(arena, *i, depth + 1, budget))
            .collect()
    };
    let pairs =
        |ids: &[(Id, Id)], budget: &mut Budget| -> Result<Vec<(Value, Value)>, PickleError> {
            ids.iter()
                .map(|(k, v)| {
                    Ok((
                        build(arena, *k, depth + 1, budget)?,
                        build(arena, *v, depth + 1, budget)?,
                    ))
                })
                .collect()
        };
    let node = &arena[id];
    let bytes = match node {
        Node::Str(s) => s.len(),
        Node::Bytes(b) | Node::BigInt(b) => b.len(),
        _ => 0,
    };
    budget.spend(1, bytes)?;
    Ok(match node {
        Node::None => Value::None,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::Int(*i),
        Node::BigInt(b) => Value::BigInt(b.clone()),
        Node::Float(f) => Value::Float(*f),
        Node::Str(s) => Value::Str(s.clone()),
        Node::Bytes(b) => Value::Bytes(b.clone()),
        Node::List(v) => Value::List(seq(v, budget)?),
        Node::Tuple(v) => Value::Tuple(seq(v, budget)?),
        Node::Set(v) => Value::Set(seq(v, budget)?),
        Node::Dict(v) => Value::Dict(pairs(v, budget)?),
        Node::Global { module, name } => Value::Global {
            module: module.clone(),
            name: name.clone(),
        },
        Node::Call {
            func,
            args,
            state,
            list_items,
            dict_items,
        } => {
            let class = match &arena[*func] {
                Node::Global { module, name } => format!("{module}.{name}"),
                _ => "(the result of a call)".to_owned(),
            };
            let args = match build(arena, *args, depth + 1, budget)? {
                Value::Tuple(v) | Value::List(v) => v,
                other => vec![other],
            };
            let state = state
                .map(|s| build(arena, s, depth + 1, budget))
                .transpose()?;
            let obj = Object {
                class,
                args,
                state,
                list_items: seq(list_items, budget)?,
                dict_items: pairs(dict_items, budget)?,
            };
            numpy::interpret(obj).map_err(PickleError::content)?
        }
        Node::Persistent(pid) => {
            Value::Persistent(Box::new(build(arena, *pid, depth + 1, budget)?))
        }
    })
}

/// `Value::Array` from its parts, for the numpy mapping.
pub(super) fn array(
    dtype: DType,
    shape: Vec<usize>,
    fortran: bool,
    data: Vec<u8>,
) -> Result<Value, String> {
    NdArray::new(dtype, shape, fortran, data).map(Value::Array)
}
