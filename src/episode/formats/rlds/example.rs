//! `tf.train.Example` as prost messages (tensorflow/core/example/{example,feature}.proto),
//! written out by hand: three small messages do not justify a protoc build step.

use std::collections::HashMap;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Example {
    #[prost(message, optional, tag = "1")]
    pub features: Option<Features>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Features {
    #[prost(map = "string, message", tag = "1")]
    pub feature: HashMap<String, Feature>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Feature {
    #[prost(oneof = "Kind", tags = "1, 2, 3")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(message, tag = "1")]
    BytesList(BytesList),
    #[prost(message, tag = "2")]
    FloatList(FloatList),
    #[prost(message, tag = "3")]
    Int64List(Int64List),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BytesList {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub value: Vec<bytes::Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FloatList {
    #[prost(float, repeated, tag = "1")]
    pub value: Vec<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Int64List {
    #[prost(int64, repeated, tag = "1")]
    pub value: Vec<i64>,
}

impl Example {
    /// Decodes an Example; `bytes` fields share the input buffer.
    pub fn decode_from(buf: bytes::Bytes) -> Result<Self, prost::DecodeError> {
        <Self as prost::Message>::decode(buf)
    }

    pub fn feature(&self, key: &str) -> Option<&Kind> {
        self.features.as_ref()?.feature.get(key)?.kind.as_ref()
    }

    pub fn floats(&self, key: &str) -> Option<&[f32]> {
        match self.feature(key)? {
            Kind::FloatList(l) => Some(&l.value),
            _ => None,
        }
    }

    pub fn ints(&self, key: &str) -> Option<&[i64]> {
        match self.feature(key)? {
            Kind::Int64List(l) => Some(&l.value),
            _ => None,
        }
    }

    pub fn byte_strings(&self, key: &str) -> Option<&[bytes::Bytes]> {
        match self.feature(key)? {
            Kind::BytesList(l) => Some(&l.value),
            _ => None,
        }
    }

    /// Number of values stored under `key`, whatever their type.
    pub fn value_count(&self, key: &str) -> Option<usize> {
        Some(match self.feature(key)? {
            Kind::BytesList(l) => l.value.len(),
            Kind::FloatList(l) => l.value.len(),
            Kind::Int64List(l) => l.value.len(),
        })
    }
}
