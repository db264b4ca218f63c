//! The pickle machine: opcodes to a value arena, nothing called.
//!
//! Values live in an arena and the stack and memo hold indices into it, so the in-place
//! opcodes (APPEND, SETITEMS, BUILD, ...) act on the value a memo entry refers to, exactly as
//! Python's shared references do. Every opcode consumes at least one byte and adds at most
//! one arena entry, so the arena, stack and memo are bounded by the input's length; byte and
//! string payloads are bounded by it too (their lengths are checked before any copy).

use std::collections::HashMap;

use super::PickleError;
use super::text::{decimal_to_le, raw_unicode_escape};

pub(super) type Id = usize;

/// One value in the arena; children are arena indices.
#[derive(Debug)]
pub(super) enum Node {
    None,
    Bool(bool),
    Int(i64),
    /// Little-endian two's complement, wider than 64 bits.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    Global {
        module: String,
        name: String,
    },
    /// REDUCE / NEWOBJ / OBJ / INST: a callable and its arguments, never called; BUILD,
    /// APPEND(S) and SETITEM(S) on it are recorded.
    Call {
        func: Id,
        args: Id,
        state: Option<Id>,
        list_items: Vec<Id>,
        dict_items: Vec<(Id, Id)>,
    },
    /// A persistent id (PERSID / BINPERSID), kept as the id value; only when allowed.
    Persistent(Id),
}

struct Machine<'a> {
    /// Whether persistent ids are kept (PyTorch checkpoints) or refused.
    persistent_ids: bool,
    data: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts, for errors.
    op_at: usize,
    arena: Vec<Node>,
    stack: Vec<Id>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

/// Runs the pickle in `data` to its STOP; returns the arena and the root's index.
pub(super) fn run(data: &[u8], persistent_ids: bool) -> Result<(Vec<Node>, Id), PickleError> {
    let mut m = Machine {
        persistent_ids,
        data,
        pos: 0,
        op_at: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        m.op_at = m.pos;
        let Some(&op) = data.get(m.pos) else {
            return Err(PickleError::at(
                m.pos,
                "the data ends before the STOP opcode",
            ));
        };
        m.pos += 1;
        if op == b'.' {
            let root = m.pop()?;
            return Ok((m.arena, root));
        }
        m.step(op)?;
    }
}

impl<'a> Machine<'a> {
    fn err(&self, reason: impl Into<String>) -> PickleError {
        PickleError::at(self.op_at, reason)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], PickleError> {
        let left = self.data.len() - self.pos;
        if n > left as u64 {
            return Err(self.err(format!("declares {n} bytes, only {left} remain")));
        }
        let n = n as usize;
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from(self.fixed::<1>()?[0]))
    }

    fn u32(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from(u32::from_le_bytes(self.fixed()?)))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.fixed()?))
    }

    /// A text argument's bytes up to (not including) the next newline.
    fn line_bytes(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            return Err(self.err("a text argument has no end of line"));
        };
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// A text argument up to (not including) the next newline, as UTF-8.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let b = self.line_bytes()?;
        std::str::from_utf8(b).map_err(|_| self.err("a text argument is not UTF-8"))
    }

    fn utf8(&self, bytes: &[u8]) -> Result<String, PickleError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| self.err("a string is not valid UTF-8"))
    }

    fn node(&mut self, n: Node) -> Id {
        self.arena.push(n);
        self.arena.len() - 1
    }

    fn push(&mut self, n: Node) {
        let id = self.node(n);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        if self.marks.last().is_some_and(|m| *m >= self.stack.len()) {
            return Err(self.err("pops past a MARK"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.err("pops from an empty stack"))
    }

    fn top(&self) -> Result<Id, PickleError> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err("needs a value on an empty stack"))
    }

    /// The items pushed since the last MARK, removing them and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let at = self
            .marks
            .pop()
            .ok_or_else(|| self.err("needs a MARK and there is none"))?;
        Ok(self.stack.split_off(at.min(self.stack.len())))
    }

    fn memo_put(&mut self, index: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u64) -> Result<(), PickleError> {
        let id = *self.memo.get(&index).ok_or_else(|| {
            self.err(format!(
                "refers to memo entry {index}, which was never stored"
            ))
        })?;
        self.stack.push(id);
        Ok(())
    }

    fn pairs(&self, items: &[Id]) -> Result<Vec<(Id, Id)>, PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("a dictionary has a key without a value"));
        }
        Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    }

    fn call(&mut self, func: Id, args: Id) {
        self.push(Node::Call {
            func,
            args,
            state: None,
            list_items: Vec::new(),
            dict_items: Vec::new(),
        });
    }

    fn append(&mut self, items: Vec<Id>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.arena[target] {
            Node::List(v) | Node::Set(v) => v.extend(items),
            Node::Call { list_items, .. } => list_items.extend(items),
            _ => return Err(self.err("appends to something that is not a list")),
        }
        Ok(())
    }

    fn set_items(&mut self, items: Vec<(Id, Id)>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.arena[target] {
            Node::Dict(v) => v.extend(items),
            Node::Call { dict_items, .. } => dict_items.extend(items),
            _ => return Err(self.err("sets items on something that is not a dictionary")),
        }
        Ok(())
    }

    fn int_from_le(&self, bytes: &[u8]) -> Node {
        if bytes.len() > 8 {
            return Node::BigInt(bytes.to_vec());
        }
        let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut buf = [if negative { 0xff } else { 0 }; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Node::Int(i64::from_le_bytes(buf))
    }

    fn step(&mut self, op: u8) -> Result<(), PickleError> {
        match op {
            0x80 => {
                let proto = self.u8()?;
                if proto > 5 {
                    return Err(self.err(format!("protocol {proto} is newer than 5")));
                }
            }
            0x95 => {
                self.u64()?;
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                if self.marks.last().is_some_and(|m| *m == self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop()?;
                }
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let t = self.top()?;
                self.stack.push(t);
            }
            b'N' => self.push(Node::None),
            0x88 => self.push(Node::Bool(true)),
            0x89 => self.push(Node::Bool(false)),
            b'J' => {
                let v = i32::from_le_bytes(self.fixed()?);
                self.push(Node::Int(i64::from(v)));
            }
            b'K' => {
                let v = self.u8()?;
                self.push(Node::Int(v as i64));
            }
            b'M' => {
                let v = u16::from_le_bytes(self.fixed()?);
                self.push(Node::Int(i64::from(v)));
            }
            0x8a => {
                let n = self.u8()?;
                let b = self.take(n)?;
                let v = self.int_from_le(b);
                self.push(v);
            }
            0x8b => {
                let n = i32::from_le_bytes(self.fixed()?);
                if n < 0 {
                    return Err(self.err(format!("LONG4 declares a negative length {n}")));
                }
                let b = self.take(n as u64)?;
                let v = self.int_from_le(b);
                self.push(v);
            }
            b'I' => {
                let l = self.line()?;
                let v = match l {
                    "01" => Node::Bool(true),
                    "00" => Node::Bool(false),
                    _ => Node::Int(
                        l.trim()
                            .parse()
                            .map_err(|_| self.err(format!("INT `{l}`")))?,
                    ),
                };
                self.push(v);
            }
            b'L' => {
                let l = self.line()?;
                let t = l.trim().trim_end_matches('L');
                let v = match t.parse() {
                    Ok(v) => Node::Int(v),
                    Err(_) => Node::BigInt(
                        decimal_to_le(t).ok_or_else(|| self.err(format!("LONG `{l}`")))?,
                    ),
                };
                self.push(v);
            }
            b'G' => {
                let v = f64::from_be_bytes(self.fixed()?);
                self.push(Node::Float(v));
            }
            b'F' => {
                let l = self.line()?;
                let v = l
                    .trim()
                    .parse()
                    .map_err(|_| self.err(format!("FLOAT `{l}`")))?;
                self.push(Node::Float(v));
            }
            0x8c | b'X' | 0x8d => {
                let n = match op {
                    0x8c => self.u8()?,
                    b'X' => self.u32()?,
                    _ => self.u64()?,
                };
                let b = self.take(n)?;
                let s = self.utf8(b)?;
                self.push(Node::Str(s));
            }
            b'V' => {
                let l = self.line_bytes()?;
                let s = raw_unicode_escape(l).map_err(|e| self.err(e))?;
                self.push(Node::Str(s));
            }
            // Python 2 `str` (BINSTRING, SHORT_BINSTRING, STRING) and bytes: raw bytes.
            b'T' | b'U' | b'C' | b'B' | 0x8e | 0x96 => {
                let n = match op {
                    b'U' | b'C' => self.u8()?,
                    b'T' => {
                        let n = i32::from_le_bytes(self.fixed()?);
                        if n < 0 {
                            return Err(
                                self.err(format!("BINSTRING declares a negative length {n}"))
                            );
                        }
                        n as u64
                    }
                    b'B' => self.u32()?,
                    _ => self.u64()?,
                };
                let b = self.take(n)?.to_vec();
                self.push(Node::Bytes(b));
            }
            b'S' => {
                let l = self.line()?;
                let q = l.trim();
                let inner = q
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| q.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    .filter(|s| !s.contains('\\'))
                    .ok_or_else(|| self.err("STRING with escapes or without quotes is not read"))?;
                self.push(Node::Bytes(inner.as_bytes().to_vec()));
            }
            b']' => self.push(Node::List(Vec::new())),
            b')' => self.push(Node::Tuple(Vec::new())),
            b'}' => self.push(Node::Dict(Vec::new())),
            0x8f => self.push(Node::Set(Vec::new())),
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Node::List(items));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push(Node::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(Node::Tuple(items));
            }
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(&items)?;
                self.push(Node::Dict(pairs));
            }
            0x91 => {
                let items = self.pop_mark()?;
                self.push(Node::Set(items));
            }
            b'a' => {
                let v = self.pop()?;
                self.append(vec![v])?;
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![(k, v)])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(&items)?;
                self.set_items(pairs)?;
            }
            b'c' => {
                let module = self.line()?.to_owned();
                let name = self.line()?.to_owned();
                self.push(Node::Global { module, name });
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Node::Str(module), Node::Str(name)) = (&self.arena[module], &self.arena[name])
                else {
                    return Err(self.err("STACK_GLOBAL needs two strings"));
                };
                let n = Node::Global {
                    module: module.clone(),
                    name: name.clone(),
                };
                self.push(n);
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let func = self.pop()?;
                self.call(func, args);
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let func = self.pop()?;
                self.call(func, args);
            }
            b'o' => {
                let items = self.pop_mark()?;
                let Some((&func, rest)) = items.split_first() else {
                    return Err(self.err("OBJ without a class"));
                };
                let args = self.node(Node::Tuple(rest.to_vec()));
                self.call(func, args);
            }
            b'i' => {
                let module = self.line()?.to_owned();
                let name = self.line()?.to_owned();
                let items = self.pop_mark()?;
                let func = self.node(Node::Global { module, name });
                let args = self.node(Node::Tuple(items));
                self.call(func, args);
            }
            b'b' => {
                let s = self.pop()?;
                let target = self.top()?;
                match &mut self.arena[target] {
                    Node::Call { state, .. } => *state = Some(s),
                    _ => return Err(self.err("BUILD on something that is not an object")),
                }
            }
            b'p' => {
                let l = self.line()?;
                let i = l
                    .trim()
                    .parse()
                    .map_err(|_| self.err(format!("PUT `{l}`")))?;
                self.memo_put(i)?;
            }
            b'q' => {
                let i = self.u8()?;
                self.memo_put(i)?;
            }
            b'r' => {
                let i = self.u32()?;
                self.memo_put(i)?;
            }
            0x94 => {
                let i = self.memo.len() as u64;
                self.memo_put(i)?;
            }
            b'g' => {
                let l = self.line()?;
                let i = l
                    .trim()
                    .parse()
                    .map_err(|_| self.err(format!("GET `{l}`")))?;
                self.memo_get(i)?;
            }
            b'h' => {
                let i = self.u8()?;
                self.memo_get(i)?;
            }
            b'j' => {
                let i = self.u32()?;
                self.memo_get(i)?;
            }
            0x98 => {}
            b'P' | b'Q' if !self.persistent_ids => {
                return Err(self.err("persistent ids are not read"));
            }
            b'P' => {
                let l = self.line()?.to_owned();
                let id = self.node(Node::Str(l));
                self.push(Node::Persistent(id));
            }
            b'Q' => {
                let id = self.pop()?;
                self.push(Node::Persistent(id));
            }
            0x82..=0x84 => return Err(self.err("extension-registry codes are not read")),
            0x97 => return Err(self.err("out-of-band buffers are not read")),
            other => return Err(self.err(format!("unknown opcode 0x{other:02x}"))),
        }
        Ok(())
    }
}
