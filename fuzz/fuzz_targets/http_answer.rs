//! cargo-fuzz target: see `idp_bridge::fuzzing::http_answer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _accepted = idp_bridge::fuzzing::http_answer(data);
});
