//! Replays the fuzz targets' seeds and every input a fuzzer ever crashed
//! on (`fuzz/seeds/<target>`, `fuzz/regressions/<target>`) through the same
//! entry points the cargo-fuzz targets call, so a fixed crash stays fixed
//! without nightly Rust.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8]) -> bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let (mut inputs, mut accepted) = (0, 0);
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("input");
            let outcome = std::panic::catch_unwind(|| run(&data));
            let Ok(ok) = outcome else {
                panic!("{target} fails on {}", path.display());
            };
            inputs += 1;
            accepted += usize::from(ok);
        }
    }
    assert!(
        inputs >= 3,
        "{target}: only {inputs} inputs; fuzz/seeds is missing"
    );
    assert!(
        accepted > 0 && accepted < inputs,
        "{target}: {accepted} of {inputs} seeds accepted; the seeds should reach both paths"
    );
}

#[test]
fn lt1_inputs() {
    replay("lt1", idp_bridge::fuzzing::lt1);
}

#[test]
fn authorize_request_inputs() {
    replay("authorize_request", idp_bridge::fuzzing::authorize_request);
}

#[test]
fn token_request_inputs() {
    replay("token_request", idp_bridge::fuzzing::token_request);
}

#[test]
fn http_answer_inputs() {
    replay("http_answer", idp_bridge::fuzzing::http_answer);
}
