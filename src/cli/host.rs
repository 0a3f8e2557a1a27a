//! `openpace host`: what on this host will move a latency measurement, checked in a moment
//! and without load (governor, turbo, SMT, isolation, IRQs, THP, timer slack, C-states,
//! clocksource, VM and steal), each with the files read and what to change.

use clap::Args;
use openpace::Error;
use openpace::base::host::MAX_CORE;
use openpace::base::host::allowed_cores;
use openpace::base::host_check::{self, HostTree, MeasuringCores, Steal};

use super::flag_error;

/// Flags of `openpace host`.
#[derive(Args)]
pub(super) struct HostArgs {
    /// The timing loop's core (default: as a run would choose, the first this process may
    /// use when it may use two or more).
    #[arg(long, value_name = "CORE")]
    timer_core: Option<String>,
    /// The workers' cores, e.g. 2-5 (default: as a run would choose, the others).
    #[arg(long, value_name = "CORES")]
    worker_cores: Option<String>,
    /// Print the JSON document instead of the text.
    #[arg(long)]
    json: bool,
}

pub(super) fn host(args: &HostArgs) -> Result<u8, Error> {
    let cores = measuring_cores(args)?;
    let report = host_check::report(&HostTree::real(), &cores, Steal::Watch(200));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        );
    } else {
        print!("{}", openpace::report::host::host_text(&report));
    }
    Ok(0)
}

/// The cores named by the flags, else those a run would take.
fn measuring_cores(args: &HostArgs) -> Result<MeasuringCores, Error> {
    let cores = |name: &str, text: &str| -> Result<Vec<usize>, Error> {
        let machine = openpace::base::host::machine_cores();
        openpace::base::host::parse_core_list(text)
            .filter(|list| !list.is_empty() && list.iter().all(|&c| c < machine.min(MAX_CORE + 1)))
            .ok_or_else(|| {
                flag_error(
                    name,
                    name.trim_start_matches('-'),
                    text,
                    format!(
                        "cores this machine has (0 to {}), e.g. 1 or 2-5",
                        machine - 1
                    ),
                )
            })
    };
    let allowed = allowed_cores();
    let timer = match &args.timer_core {
        Some(text) => match cores("--timer-core", text)?.as_slice() {
            [one] => Some(*one),
            _ => {
                return Err(flag_error(
                    "--timer-core",
                    "timer-core",
                    text,
                    "one core, e.g. 0",
                ));
            }
        },
        None => (allowed.len() >= 2).then(|| allowed[0]),
    };
    let workers = match &args.worker_cores {
        Some(text) => cores("--worker-cores", text)?,
        None => {
            let rest: Vec<usize> = allowed
                .iter()
                .copied()
                .filter(|&c| Some(c) != timer)
                .collect();
            if rest.is_empty() {
                allowed.clone()
            } else {
                rest
            }
        }
    };
    Ok(MeasuringCores { timer, workers })
}
