//! Replays the fuzz corpus (`fuzz/corpus/<target>`, grown by `scripts/fuzz`) through the same
//! checks the fuzz targets run, so every input that ever found new code stays a regression
//! test on stable Rust without libFuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/fuzz_targets/checks.rs"]
mod checks;

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    // A corpus that went missing would make this test pass on nothing.
    assert!(
        inputs.len() >= 3,
        "{}: only {} inputs",
        dir.display(),
        inputs.len()
    );
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails {target}", input.display());
    }
}

#[test]
fn key_codec_corpus() {
    replay("key_codec", checks::key_codec);
}

#[test]
fn heartbeat_input_corpus() {
    replay("heartbeat_input", checks::heartbeat_input);
}

#[test]
fn signature_header_corpus() {
    replay("signature_header", checks::signature_header);
}
