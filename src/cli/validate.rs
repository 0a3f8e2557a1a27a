//! `openpace validate`: a config file checked, and its scenarios described, without running.

use std::path::PathBuf;

use openpace::Error;

use super::load;

pub(super) fn validate(file: &PathBuf) -> Result<u8, Error> {
    let run = load(Some(file), &[])?;
    println!(
        "{}: valid, {} scenario(s)",
        file.display(),
        run.scenarios.len()
    );
    for s in &run.scenarios {
        let profile = s.rate_profile();
        println!(
            "  {}: {} for {}s, peak {} RPS, {} requests scheduled, target {}",
            s.name,
            s.load_pattern.name(),
            s.duration_seconds,
            profile.peak_rps(),
            profile.total().round(),
            s.target
        );
    }
    Ok(0)
}
