//! cargo-fuzz target: see `idp_bridge::fuzzing::authorize_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _accepted = idp_bridge::fuzzing::authorize_request(data);
});
