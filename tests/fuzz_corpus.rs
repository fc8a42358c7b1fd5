//! Replays the committed fuzz corpora (fuzz/corpus/{pipeline,config,control}/seed-*) through the
//! same harnesses the fuzz targets run, on every `cargo test`: each crash the fuzzer ever found
//! is committed there as a `seed-regress-*` file and stays fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use vxgate::fuzzing::{self, PipelineHarness};

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v
}

#[test]
fn pipeline_corpus_runs_without_panic_or_leak_and_forwards_the_valid_frames() {
    let mut g = PipelineHarness::new();
    let (mut to_access, mut to_underlay) = (0, 0);
    for path in seeds("pipeline") {
        let frame = std::fs::read(&path).unwrap();
        let (a, u) = g.run(&frame);
        to_access += a.len();
        to_underlay += u.len();
    }
    // pcap-gen's access frames are encapsulated, its underlay frames decapsulated.
    assert!(to_underlay >= 12, "{to_underlay} frames encapsulated");
    assert!(to_access >= 6, "{to_access} frames decapsulated");
}

#[test]
fn config_and_control_corpora_run_without_panic() {
    for path in seeds("config") {
        fuzzing::config(&std::fs::read_to_string(&path).unwrap());
    }
    for path in seeds("control") {
        fuzzing::control_line(&std::fs::read(&path).unwrap());
    }
}
