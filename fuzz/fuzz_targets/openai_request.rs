#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_providers::fuzzing::openai_request(data));
