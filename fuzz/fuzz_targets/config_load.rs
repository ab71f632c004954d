//! Config loading end to end: YAML parse, interpolation, typed decoding
//! with error recovery, location of errors, and compiling every route.
//! Must never panic, whatever the file says; a config that loads must have
//! no problems, and one that fails must say at least one thing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

// One set of shared resources, as in a server that reloads many times (the
// file-writer registry must not grow without bound across reloads either).
static RESOURCES: LazyLock<hookroute::actions::Resources> =
    LazyLock::new(|| hookroute::actions::Resources::new().expect("resources"));

/// No environment and no file system: `${VAR}` is unset unless it has a
/// default, and `${file:...}` fails, so fuzzing never reads the disk.
struct NoEnv;
impl hookroute::config::interpolate::Environment for NoEnv {
    fn var(&self, name: &str) -> Option<String> {
        (name == "SET").then(|| "value".to_string())
    }
    fn read_file(&self, _path: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::other("no files while fuzzing"))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // File actions are only registered, never opened, at compile time.
    match hookroute::settings::load_str("fuzz.yaml", text, &NoEnv, &RESOURCES) {
        Ok(_loaded) => {}
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            let _ = errors.to_string();
        }
    }
});
