#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_providers::fuzzing::anthropic_request(data));
