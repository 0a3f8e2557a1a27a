//! Beyond one machine: openpace as N cooperating shards under the user's own launcher.
//!
//! openpace has no master/worker protocol. Slurm, `mpirun` or a Kubernetes Indexed Job
//! starts N copies; each learns its shard `I` of `N` ([`Shard::resolve`]: `--shard I/N`, or
//! the launcher's environment), sends the requests of the one global schedule whose index `k`
//! has `k mod N = I` (so the union of the shards is exactly what one generator would have
//! sent), starts at a common wall-clock instant (`--start-at`, [`ClusterPlan`]) and writes
//! its own report. [`merge()`](merge::merge) then adds the reports' histograms and counts into one result,
//! exactly, and re-evaluates every threshold on it.
//!
//! This module reads the environment and the realtime clock; it never touches the engine's
//! hot path: the engine only asks the schedule for every `N`th instant.

pub mod merge;
pub mod verify;

pub use crate::base::clock::{ClockInfo, clock_info, unix_now};
pub use crate::shard::{
    ClusterPlan, Colocated, DEFAULT_START_TOLERANCE_S, Launcher, Shard, ShardInfo,
};
pub use merge::{MergeOptions, lighten, merge, merge_with};

/// Parses `--start-at`: Unix seconds with a fraction (`1795784400.5`), `now+DURATION`
/// (`now+10s`, for trying things by hand), or RFC 3339 (`2026-11-27T13:00:00Z`,
/// `2026-11-27T14:00:00.250+01:00`).
pub fn parse_start_at(text: &str) -> Result<f64, String> {
    let at = parse_instant(text.trim())?;
    let ahead_s = at - unix_now();
    if ahead_s > MAX_START_AHEAD_S {
        return Err(format!(
            "`{}` is {:.0} days from now; an instant at most {} days ahead (a run would wait \
             until then)",
            text.trim(),
            ahead_s / 86_400.0,
            MAX_START_AHEAD_S / 86_400.0
        ));
    }
    Ok(at)
}

/// How far ahead `--start-at` may be: 30 days.
const MAX_START_AHEAD_S: f64 = crate::base::units::MAX_SECONDS;

/// `--start-at`'s forms, to Unix seconds.
fn parse_instant(text: &str) -> Result<f64, String> {
    if let Some(delay) = text.strip_prefix("now+") {
        let d = crate::base::units::parse_duration(delay)?;
        return Ok(unix_now() + d.as_secs_f64());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds > 0.0 {
            return Ok(seconds);
        }
        return Err(format!("`{text}` is not a positive Unix time"));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "`{text}` is neither Unix seconds (e.g. 1795784400.5), now+DURATION nor RFC 3339 \
             (e.g. 2026-11-27T13:00:00Z)"
        )
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to Unix seconds.
fn parse_rfc3339(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &frac[..digits]).parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) as f64 + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An output path for shard `shard`: `{shard}` is replaced by the shard's index (0 when not
/// sharded), so one command line serves every shard. A path without `{shard}` gets
/// `.shard-I` before its extension when there are several shards, so that shards on one
/// host or one shared volume never overwrite each other's reports.
pub fn shard_path(path: &std::path::Path, shard: Option<Shard>) -> std::path::PathBuf {
    let text = path.to_string_lossy();
    let index = shard.map_or(0, |s| s.index);
    if text.contains("{shard}") {
        return std::path::PathBuf::from(text.replace("{shard}", &index.to_string()));
    }
    match shard {
        Some(s) if s.count > 1 => crate::base::units::with_suffix(path, &format!(".shard-{index}")),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn identity_comes_from_the_flag_or_each_launcher() {
        let flag = Shard::resolve(Some("2/5"), None, env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (flag.index, flag.count, flag.launcher),
            (2, 5, Launcher::Flag)
        );
        let cases = [
            (
                &[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4")][..],
                Launcher::Slurm,
            ),
            (
                &[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "4")][..],
                Launcher::OpenMpi,
            ),
            (&[("PMI_RANK", "1"), ("PMI_SIZE", "4")][..], Launcher::Pmi),
            (
                &[("JOB_COMPLETION_INDEX", "1"), ("OPENPACE_SHARDS", "4")][..],
                Launcher::Kubernetes,
            ),
        ];
        for (vars, launcher) in cases {
            for flag in [None, Some("auto")] {
                let s = Shard::resolve(flag, None, env(vars)).unwrap().unwrap();
                assert_eq!((s.index, s.count, s.launcher), (1, 4, launcher));
            }
        }
        // --shards gives an Indexed Job its count; no launcher and no flag: not sharded.
        let k = Shard::resolve(None, Some("3"), env(&[("JOB_COMPLETION_INDEX", "2")]))
            .unwrap()
            .unwrap();
        assert_eq!((k.index, k.count), (2, 3));
        assert_eq!(Shard::resolve(None, None, env(&[])).unwrap(), None);
        let slurm = env(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "4")]);
        assert_eq!(Shard::resolve(Some("none"), None, slurm).unwrap(), None);
        // The flag wins over the environment.
        let s = Shard::resolve(
            Some("0/2"),
            None,
            env(&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!((s.index, s.count, s.launcher), (0, 2, Launcher::Flag));
    }

    /// Variables a launcher sets, as (name, value).
    type Vars<'a> = &'a [(&'a str, &'a str)];

    #[test]
    fn inconsistent_identities_are_config_errors_naming_their_source() {
        let cases: [(Option<&str>, Vars, &str); 7] = [
            (Some("4/4"), &[], "--shard"),
            (Some("0/0"), &[], "--shard"),
            (Some("1"), &[], "--shard"),
            (Some("a/b"), &[], "--shard"),
            (Some("auto"), &[], "--shard"),
            (
                None,
                &[("SLURM_PROCID", "x"), ("SLURM_NTASKS", "2")],
                "SLURM_PROCID",
            ),
            (None, &[("JOB_COMPLETION_INDEX", "0")], "OPENPACE_SHARDS"),
        ];
        for (flag, vars, needle) in cases {
            let e = Shard::resolve(flag, None, env(vars))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{flag:?} {vars:?}: {e}");
        }
    }

    #[test]
    fn colocated_shards_take_disjoint_slices_of_their_mask() {
        let ompi = env(&[
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "3"),
        ]);
        let c = Colocated::from_env(ompi).unwrap();
        assert_eq!((c.rank, c.size), (1, 3));
        let cores: Vec<usize> = (0..8).collect();
        let slices: Vec<Vec<usize>> = (0..3)
            .map(|rank| Colocated { rank, ..c }.slice(&cores).unwrap())
            .collect();
        assert_eq!(slices, vec![vec![0, 1], vec![2, 3, 4], vec![5, 6, 7]]);
        // Bound to one core each already: the binding stands.
        assert_eq!(c.slice(&[5]), None);
        // More shards than cores: one core each, in turn.
        let spread: Vec<Vec<usize>> = (0..3)
            .map(|rank| Colocated { rank, ..c }.slice(&[4, 5]).unwrap())
            .collect();
        assert_eq!(spread, vec![vec![4], vec![5], vec![4]]);
        // Slurm: node 3 of "2(x3),1" runs one task, so it is alone; node 1 runs two.
        let on_node = |node| {
            [
                ("SLURM_LOCALID", "0"),
                ("SLURM_NODEID", node),
                ("SLURM_TASKS_PER_NODE", "2(x3),1"),
            ]
        };
        assert_eq!(Colocated::from_env(env(&on_node("3"))), None);
        assert_eq!(
            Colocated::from_env(env(&on_node("1"))).map(|c| c.size),
            Some(2)
        );
        let hydra = env(&[("MPI_LOCALRANKID", "0"), ("MPI_LOCALNRANKS", "4")]);
        assert_eq!(Colocated::from_env(hydra).map(|c| c.size), Some(4));
        assert_eq!(Colocated::from_env(env(&[])), None);
    }

    #[test]
    fn start_times_parse_in_every_form() {
        assert_eq!(parse_start_at("1795784400.5").unwrap(), 1_795_784_400.5);
        assert_eq!(parse_start_at("1970-01-01T00:00:10Z").unwrap(), 10.0);
        // 2026-11-27T13:00:00Z = 20784 days after 1970-01-01, plus 13 h.
        assert_eq!(
            parse_start_at("2026-11-27T13:00:00Z").unwrap(),
            (20_784 * 86_400 + 13 * 3600) as f64
        );
        assert_eq!(
            parse_start_at("2026-11-27T14:00:00.250+01:00").unwrap(),
            (20_784 * 86_400 + 13 * 3600) as f64 + 0.25
        );
        let soon = parse_start_at("now+10s").unwrap() - unix_now();
        assert!((9.0..=10.0).contains(&soon), "{soon}");
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-27T13:00:00",
            "-5",
        ] {
            assert!(parse_start_at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_patterns_in_paths_take_the_index() {
        let p = std::path::Path::new("results/run-{shard}.json");
        let s = Shard {
            index: 3,
            count: 8,
            launcher: Launcher::Flag,
        };
        assert_eq!(
            shard_path(p, Some(s)),
            std::path::Path::new("results/run-3.json")
        );
        assert_eq!(
            shard_path(p, None),
            std::path::Path::new("results/run-0.json")
        );
        let plain = std::path::Path::new("results/run.json");
        assert_eq!(
            shard_path(plain, Some(s)),
            std::path::Path::new("results/run.shard-3.json")
        );
        assert_eq!(shard_path(plain, None), plain);
        let one = Shard {
            count: 1,
            index: 0,
            ..s
        };
        assert_eq!(shard_path(plain, Some(one)), plain);
    }
}
