//! Bounded fuzzing of the backup manifest reader: arbitrary bytes, byte mutations and
//! hostile values in a valid document end in `Ok` or in an error naming the file, never a
//! panic; an accepted manifest keeps the invariants readers compute with.

use std::path::Path;

use physical::postgres::lsn::parse_segment_name;
use physical::repository::manifest::Manifest;
use proptest::prelude::*;
use proptest::sample::Index;

use archive_format::test_util::replace_somewhere;
use physical::test_util::sample_manifest as sample;

fn parse(bytes: &[u8]) -> Option<Manifest> {
    match Manifest::from_json(Path::new("backups/x/manifest.json"), bytes) {
        Ok(m) => {
            // What readers compute from an accepted manifest must not panic.
            let _ = m.raw_size();
            let _ = parse_segment_name(&m.start_wal, m.wal_segment_size);
            let _ = parse_segment_name(&m.stop_wal, m.wal_segment_size);
            assert!(m.block_size > 0 && m.wal_segment_size > 0);
            Some(m)
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains("manifest.json"), "not named: {text}");
            assert!(!text.contains('\n'), "not one line: {text}");
            None
        }
    }
}

fn hostile_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    prop_oneof![
        Just(Value::Null),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(u32::MAX)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!("../../etc/passwd")),
        Just(json!("/abs")),
        Just(json!("")),
        Just(json!("x")),
        "\\PC{0,30}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(parse(&bytes).is_none());
    }

    #[test]
    fn byte_mutations_never_panic(
        at in any::<Index>(),
        x in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let json = serde_json::to_vec(&sample()).unwrap();
        let i = at.index(json.len());
        let mut mutated = json.clone();
        if cut {
            mutated.truncate(i);
            prop_assert!(parse(&mutated).is_none(), "a truncated manifest was accepted");
        } else {
            mutated[i] ^= x;
            let _ = parse(&mutated);
        }
    }

    #[test]
    fn hostile_values_never_panic(
        steps in prop::collection::vec(any::<Index>(), 1..7),
        value in hostile_value(),
    ) {
        let mut doc = serde_json::to_value(sample()).unwrap();
        replace_somewhere(&mut doc, &steps, value);
        let _ = parse(doc.to_string().as_bytes());
    }
}

#[test]
fn the_sample_is_accepted() {
    assert!(parse(&serde_json::to_vec(&sample()).unwrap()).is_some());
}

#[test]
fn overflowing_ranges_and_impossible_sizes_are_refused() {
    let mut m = sample();
    m.files[0].chunks[1].offset = u64::MAX;
    let err = Manifest::from_json(
        Path::new("m/manifest.json"),
        &serde_json::to_vec(&m).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("base/5/1259") && err.contains("range"),
        "{err}"
    );

    let mut m = sample();
    m.files[0].chunks[0].blob.offset = u64::MAX - 3;
    assert!(parse(&serde_json::to_vec(&m).unwrap()).is_none());

    for size in [0, 1000, 3 << 20, 1 << 31] {
        let mut m = sample();
        m.wal_segment_size = size;
        let err = Manifest::from_json(
            Path::new("m/manifest.json"),
            &serde_json::to_vec(&m).unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("WAL segment size"), "{err}");
    }
    let mut m = sample();
    m.block_size = 0;
    assert!(parse(&serde_json::to_vec(&m).unwrap()).is_none());
}
