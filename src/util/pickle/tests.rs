//! Hand-assembled pickles: each opcode family, and every way a hostile file is refused.

use super::*;

fn p(body: &[u8]) -> Result<Value, PickleError> {
    let mut v = vec![0x80, 4];
    v.extend_from_slice(body);
    parse(&v)
}

#[test]
fn plain_values() {
    assert_eq!(p(b"K\x07."), Ok(Value::Int(7)));
    assert_eq!(p(b"J\xff\xff\xff\xff."), Ok(Value::Int(-1)));
    assert_eq!(p(b"\x8a\x02\x00\x80."), Ok(Value::Int(-32768)));
    assert_eq!(p(b"G?\xf8\x00\x00\x00\x00\x00\x00."), Ok(Value::Float(1.5)));
    assert_eq!(p(b"\x8c\x02hi."), Ok(Value::Str("hi".into())));
    assert_eq!(p(b"C\x02\x00\xff."), Ok(Value::Bytes(vec![0, 255])));
    assert_eq!(
        p(b"](K\x01K\x02e."),
        Ok(Value::List(vec![Value::Int(1), Value::Int(2)]))
    );
    assert_eq!(
        p(b"}\x8c\x01a\x88s."),
        Ok(Value::Dict(vec![(
            Value::Str("a".into()),
            Value::Bool(true)
        )]))
    );
    // Text opcodes (protocol 0): a big LONG and an escaped UNICODE.
    let v = parse(b"L-18446744073709551617L\n.").unwrap();
    assert_eq!(
        v,
        Value::BigInt(vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])
    );
    assert_eq!(
        parse(b"Va\\u00e9\xff\n.").unwrap(),
        Value::Str("a\u{e9}\u{ff}".into())
    );
}

#[test]
fn shared_values_are_shared_and_objects_stay_data() {
    // A list memoised, then extended through the memo reference: one list, two items.
    let v = p(b"]\x94h\x00K\x01ah\x00K\x02a\x86.").unwrap();
    let Value::Tuple(t) = v else { panic!("{v:?}") };
    assert_eq!(t[0], t[1]);
    assert_eq!(t[0].as_seq().map(<[Value]>::len), Some(2));
    // An unknown class is never resolved: NEWOBJ + BUILD keeps its name and state.
    let v = p(b"\x8c\x02os\x8c\x06system\x93)\x81}\x8c\x01x\x8c\x02rmsb.").unwrap();
    assert_eq!(v.class(), Some("os.system"));
    assert_eq!(v.get("x").and_then(Value::as_str), Some("rm"));
}

fn refused(body: &[u8], needle: &str) {
    let e = p(body).expect_err(needle);
    assert!(e.to_string().contains(needle), "{e} (wanted `{needle}`)");
}

#[test]
fn hostile_pickles_are_refused_with_a_reason() {
    refused(b"K\x07", "ends before the STOP");
    refused(
        b"\x8e\x00\x00\x00\x00\x00\x00\x00\x10.",
        "declares 1152921504606846976 bytes",
    );
    refused(b"X\xff\xff\xff\xff.", "declares 4294967295 bytes");
    refused(b"\x8b\xff\xff\xff\xff.", "negative length");
    refused(b"\xfe.", "unknown opcode 0xfe");
    refused(b"h\x05.", "memo entry 5");
    refused(b"a.", "empty stack");
    refused(b"(u.", "empty stack");
    refused(b"e.", "needs a MARK");
    refused(b"K\x01(R.", "past a MARK");
    refused(b"Q.", "persistent ids");
    refused(b"\x82\x01.", "extension-registry");
    refused(b"\x97.", "out-of-band");
    refused(b"K\x01K\x02b.", "BUILD on something");
    let e = parse(&[0x80, 9, b'.']).unwrap_err();
    assert!(e.to_string().contains("protocol 9"), "{e}");
}

#[test]
fn deep_or_self_containing_values_are_refused() {
    // 10 000 nested lists: an error, not a stack overflow.
    let mut body = Vec::new();
    body.extend(std::iter::repeat_n(b']', 10_000));
    body.extend(std::iter::repeat_n(b'a', 9_999));
    body.push(b'.');
    let e = p(&body).unwrap_err();
    assert!(e.to_string().contains("nest deeper"), "{e}");
    // A list that contains itself.
    let e = p(b"]\x94h\x00a.").unwrap_err();
    assert!(e.to_string().contains("contains itself"), "{e}");
}

#[test]
fn a_pickle_bomb_is_refused() {
    // One 1 MiB bytes value referenced by every item of 20 nested pairs: 2^20 copies.
    let mut body = vec![b'B'];
    body.extend((1u32 << 20).to_le_bytes());
    body.extend(std::iter::repeat_n(0u8, 1 << 20));
    for _ in 0..20 {
        body.extend(b"2\x86");
    }
    body.push(b'.');
    let e = p(&body).unwrap_err();
    assert!(e.to_string().contains("expand beyond"), "{e}");
}

#[test]
fn numpy_arrays_are_checked() {
    // dtype('f8') with state (3, '<'), an array of shape (2,) whose data is 8 bytes short.
    let dtype = b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f8\x89\x88\x87R(K\x03\x8c\x01<tb";
    let mut body = b"\x8c\x15numpy.core.multiarray\x8c\x0c_reconstruct\x93\x8c\x05numpy\x8c\x07ndarray\x93K\x00\x85C\x01b\x87R(K\x01K\x02\x85".to_vec();
    body.extend_from_slice(dtype);
    body.extend(b"\x89C\x08\x00\x00\x00\x00\x00\x00\xf0?tb.");
    let e = p(&body).unwrap_err();
    assert!(
        e.to_string().contains("needs 16 bytes, the pickle holds 8"),
        "{e}"
    );
    // The same with a shape whose element count overflows.
    let mut b2 = b"\x8c\x15numpy.core.multiarray\x8c\x0c_reconstruct\x93\x8c\x05numpy\x8c\x07ndarray\x93K\x00\x85C\x01b\x87R(K\x01\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40K\x10\x86".to_vec();
    b2.extend_from_slice(dtype);
    b2.extend(b"\x89C\x00tb.");
    let e = p(&b2).unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");
}

#[test]
fn persistent_ids_are_kept_only_when_asked_for() {
    use super::parse_with_persistent_ids;
    // BINPERSID on a tuple ('storage', 'k'), and text PERSID; inside a list.
    let bin = b"\x80\x02]q\x00X\x07\x00\x00\x00storageX\x01\x00\x00\x00k\x86QaPabc\na.";
    assert!(parse(bin).is_err());
    let v = parse_with_persistent_ids(bin).unwrap();
    let Value::List(items) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        items[0],
        Value::Persistent(Box::new(Value::Tuple(vec![
            Value::Str("storage".into()),
            Value::Str("k".into())
        ])))
    );
    assert_eq!(
        items[1],
        Value::Persistent(Box::new(Value::Str("abc".into())))
    );
    // Still an error on an empty stack.
    assert!(parse_with_persistent_ids(b"Q.").is_err());
}
