//! Loading a [`RunConfig`] from JSON text and command-line overrides.
//!
//! A file is either one scenario (an object of fields) or `{"scenarios": [...]}`, where fields
//! at the top level apply to every scenario unless the scenario sets them itself. Flags
//! override both, in every scenario. Errors name the file and scenario, or the flag, that
//! supplied the offending value.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::fields::{Slots, set_field};
use super::{RunConfig, RunSettings, ScenarioConfig};
use crate::base::json::strict_json;
use crate::error::{ConfigError, Origin};
use crate::schedule::LoadPattern;

/// The scenario `openpace run` uses when no config file is given.
pub const DEFAULT_SCENARIO: &str = include_str!("../default_scenario.json");

/// The fields whose defaults the summary names as such when no file or flag set them: the
/// rate, and the design's four limits (in [`ScenarioConfig::thresholds`]'s order).
pub const DEFAULTS_SAID: [&str; 5] = [
    "target_rps",
    "latency_p95_threshold_ms",
    "latency_p99_threshold_ms",
    "error_rate_threshold",
    "success_rate_threshold",
];

/// A value for a field given on the command line, applied after the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The flag as typed, for messages (`--rate`).
    pub flag: String,
    /// The config field it sets (`target_rps`).
    pub field: String,
    /// The value (flags give strings; fields read numbers from strings too).
    pub value: Value,
}

impl Override {
    /// An override of `field` by `flag` with the text the user typed.
    pub fn new(flag: &str, field: &str, text: &str) -> Override {
        Override {
            flag: flag.to_string(),
            field: field.to_string(),
            value: Value::String(text.to_string()),
        }
    }
}

/// Parses `text` (the contents of `file`), applies `overrides`, and validates the result.
pub fn load_json(text: &str, file: &str, overrides: &[Override]) -> Result<RunConfig, ConfigError> {
    let root: Value = strict_json(text).map_err(|e| ConfigError::Syntax {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    let top_origin = Origin::File {
        file: file.to_string(),
        scope: String::new(),
    };
    let Value::Object(mut root) = root else {
        return Err(ConfigError::invalid(
            &top_origin,
            "(top level)",
            kind_of(&root),
            "a JSON object of fields, or {\"scenarios\": [...]}",
        ));
    };
    let scenarios = match root.remove("scenarios") {
        None => vec![(Map::new(), String::new())],
        Some(Value::Array(items)) if !items.is_empty() => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(fields) => Ok((fields, format!("scenarios[{i}]"))),
                other => Err(ConfigError::invalid(
                    &top_origin,
                    &format!("scenarios[{i}]"),
                    kind_of(&other),
                    "an object of scenario fields",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(ConfigError::invalid(
                &top_origin,
                "scenarios",
                kind_of(&other),
                "a non-empty list of scenario objects",
            ));
        }
    };

    let mut run = RunConfig {
        run: RunSettings::default(),
        scenarios: Vec::new(),
        origins: Vec::new(),
    };
    let mut settings = Vec::new();
    let mut field_origins = Vec::new();
    for (own, scope) in scenarios {
        let scope_origin = Origin::File {
            file: file.to_string(),
            scope,
        };
        let (config, shared, origins) =
            build_scenario(&root, &top_origin, &own, &scope_origin, overrides)?;
        run.scenarios.push(config);
        settings.push(shared);
        run.origins.push(scope_origin);
        field_origins.push(origins);
    }
    run.run = settings[0].clone();
    let agreed = agree(&settings, &run.origins);
    agreed
        .and_then(|()| run.validate())
        .map_err(|e| attribute(e, &run.origins, &field_origins))?;
    Ok(run)
}

/// The run-wide fields each scenario was given agree: they are one timing loop's and one
/// report's, so a scenario may repeat them but not change them.
fn agree(settings: &[RunSettings], origins: &[Origin]) -> Result<(), ConfigError> {
    for (theirs, origin) in settings.iter().zip(origins).skip(1) {
        if let Some((field, first, value)) = settings[0].difference(theirs) {
            return Err(ConfigError::invalid(
                origin,
                field,
                value,
                format!(
                    "the same value as the first scenario ({first}): the timing loop and the \
                     report are shared, so set it once at the top level"
                ),
            ));
        }
    }
    Ok(())
}

/// Builds one scenario: defaults, then top-level fields, then its own, then the flags.
/// Returns it with the run-wide settings it was given and the origin of every field that
/// was set.
fn build_scenario(
    shared: &Map<String, Value>,
    shared_origin: &Origin,
    own: &Map<String, Value>,
    own_origin: &Origin,
    overrides: &[Override],
) -> Result<(ScenarioConfig, RunSettings, HashMap<String, Origin>), ConfigError> {
    let (mut config, mut run) = (ScenarioConfig::default(), RunSettings::default());
    let mut slots = Slots {
        scenario: &mut config,
        run: &mut run,
    };
    let mut origins = HashMap::new();
    let layers = [(shared, shared_origin), (own, own_origin)];
    for (fields, origin) in layers {
        for (name, value) in fields.iter().filter(|(name, _)| !name.starts_with("//")) {
            set_field(&mut slots, name, value, origin)?;
            origins.insert(name.clone(), origin.clone());
        }
    }
    for o in overrides {
        let origin = Origin::Flag(o.flag.clone());
        set_field(&mut slots, &o.field, &o.value, &origin)?;
        origins.insert(o.field.clone(), origin);
    }
    config.defaulted = DEFAULTS_SAID
        .iter()
        .filter(|field| !origins.contains_key(**field))
        .map(|field| field.to_string())
        .collect();
    // The stages pattern's length is the sum of its stages unless it was given explicitly.
    if config.load_pattern == LoadPattern::Stages && !origins.contains_key("duration_seconds") {
        config.duration_seconds = config.stages.iter().map(|s| s.duration).sum();
    }
    Ok((config, run, origins))
}

/// Re-labels a validation error with the origin of the field it is about (a flag, the top
/// level of the file, or the scenario).
fn attribute(
    error: ConfigError,
    scenario_origins: &[Origin],
    field_origins: &[HashMap<String, Origin>],
) -> ConfigError {
    match error {
        ConfigError::Invalid {
            origin,
            field,
            value,
            allowed,
        } => {
            let scenario = scenario_origins.iter().position(|o| *o == origin);
            let base = field.split(['[', '.']).next().unwrap_or(&field);
            let origin = scenario
                .and_then(|i| field_origins[i].get(base).cloned())
                .unwrap_or(origin);
            ConfigError::Invalid {
                origin,
                field,
                value,
                allowed,
            }
        }
        other => other,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// serde_json appends " at line L column C"; the error reports those separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<RunConfig, ConfigError> {
        load_json(text, "test.json", &[])
    }

    #[test]
    fn the_default_scenario_is_valid() {
        let run = load_json(DEFAULT_SCENARIO, "default", &[]).unwrap();
        assert_eq!(run.scenarios[0].name, "Feature Extraction Load Test");
        assert_eq!(run.scenarios[0].target_rps, 50.0);
    }

    #[test]
    fn the_example_config_is_valid() {
        load(&super::super::example_config()).unwrap();
    }

    #[test]
    fn top_level_fields_apply_to_every_scenario_unless_overridden() {
        let run = load(
            r#"{"target_rps": 20, "duration_seconds": 5, "scenarios": [
                {"name": "a"}, {"name": "b", "target_rps": 40}]}"#,
        )
        .unwrap();
        assert_eq!(run.scenarios[0].target_rps, 20.0);
        assert_eq!(run.scenarios[1].target_rps, 40.0);
        assert_eq!(run.scenarios[1].duration_seconds, 5.0);
    }

    #[test]
    fn flags_override_the_file_in_every_scenario() {
        let run = load_json(
            r#"{"duration_seconds": 5, "scenarios": [{"name": "a"}, {"name": "b"}]}"#,
            "f.json",
            &[Override::new("--rate", "target_rps", "75")],
        )
        .unwrap();
        assert!(run.scenarios.iter().all(|s| s.target_rps == 75.0));
    }

    #[test]
    fn errors_name_the_flag_that_set_the_value() {
        let err = load_json(
            r#"{"duration_seconds": 5}"#,
            "f.json",
            &[Override::new("--rate", "target_rps", "-5")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("flag --rate: target_rps = -5"), "{err}");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = load("{\n  \"target_rps\": 5,\n  \"name\" \"x\"\n}").unwrap_err();
        match err {
            ConfigError::Syntax { line, column, .. } => assert_eq!((line, column), (3, 10)),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_key_given_twice_is_an_error_naming_it() {
        let err = load("{\n  \"target_rps\": 5,\n  \"target_rps\": 50\n}").unwrap_err();
        match &err {
            ConfigError::Syntax { line, message, .. } => {
                assert_eq!(*line, 3, "{err}");
                assert!(message.contains("`target_rps` appears twice"), "{err}");
            }
            other => panic!("{other}"),
        }
        // Inside a scenario and inside a target object too.
        assert!(load(r#"{"scenarios": [{"name": "a", "name": "b"}]}"#).is_err());
        assert!(
            load(r#"{"target": {"http": {"url": "http://127.0.0.1/", "url": "http://x/"}}}"#)
                .is_err()
        );
        assert_eq!(
            strict_json("[1, 2.5, null, true, \"x\"]")
                .unwrap()
                .to_string(),
            "[1,2.5,null,true,\"x\"]"
        );
    }

    #[test]
    fn stages_duration_defaults_to_their_sum() {
        let run = load(
            r#"{"load_pattern": "stages", "stages": [
                {"duration": "2s", "target_rps": 10}, {"duration": 3, "target_rps": 10}]}"#,
        )
        .unwrap();
        assert_eq!(run.scenarios[0].duration_seconds, 5.0);
        let err = load(
            r#"{"load_pattern": "stages", "duration_seconds": 9,
                "stages": [{"duration": 2, "target_rps": 10}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("duration_seconds = 9"), "{err}");
    }

    #[test]
    fn run_wide_fields_must_agree() {
        let err = load(r#"{"scenarios": [{"name": "a"}, {"name": "b", "wait": "spin"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("scenarios[1]: wait"), "{err}");
        let err = load(r#"{"scenarios": [{"name": "a"}, {"name": "a"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("name = \"a\""), "{err}");
    }
}
