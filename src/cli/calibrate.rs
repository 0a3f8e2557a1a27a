//! `openpace calibrate`: this host's floors (timer lateness, hand-off, overhead per wait
//! mode, the highest noop rate, spin accuracy), printed and saved.

use clap::Args;
use openpace::report::{self, Destination};
use openpace::{Error, calibrate};

use super::{Console, finish};

/// Flags of `openpace calibrate`.
#[derive(Args)]
pub(super) struct CalibrateArgs {
    /// Roughly how long to measure (1s to 1h).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    duration: String,
    /// Core of the timing loop.
    #[arg(long, value_name = "CORE")]
    timer_core: Option<String>,
    /// Core of the worker.
    #[arg(long, value_name = "CORE")]
    worker_core: Option<String>,
    /// Wait modes to measure, e.g. spin,hybrid.
    #[arg(long, value_name = "MODES", default_value = "spin,hybrid,sleep")]
    modes: String,
    /// Where the JSON report goes; `none` for nowhere.
    #[arg(long, value_name = "FILE", default_value = "openpace-calibration.json")]
    out: String,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// Run the timing loop under SCHED_FIFO, as `run --realtime` does (refused, exit 2,
    /// where the process may not).
    #[arg(long)]
    realtime: bool,
}

pub(super) fn calibrate(args: &CalibrateArgs) -> Result<u8, Error> {
    let options = calibrate::CalibrateOptions {
        realtime: args.realtime,
        ..calibrate::CalibrateOptions::from_flags(
            Some(&args.duration),
            args.timer_core.as_deref(),
            args.worker_core.as_deref(),
            Some(&args.modes),
        )?
    };
    let out = (args.out != "none").then(|| Destination::flag("--out", &args.out));
    if let Some(dest) = &out {
        report::output::check(std::slice::from_ref(dest))?;
    }
    let console = Console::beside(args.quiet, out.as_ref());
    let report = calibrate::calibrate(&options, |step| {
        if !console.quiet {
            openpace::base::say(format_args!("openpace calibrate: {step}"));
        }
    })?;
    let mut written = report::Written::default();
    written.failed.extend(
        console
            .print(&report::calibration::calibration_text(&report))
            .err(),
    );
    if let Some(dest) = out {
        let text = serde_json::to_string_pretty(&report).expect("reports serialize") + "\n";
        match report::output::write(&dest, text.as_bytes()) {
            Ok(()) => written.written.push(dest),
            Err(e) => written.failed.push(e),
        }
    }
    finish(&console, &written, 0)
}
