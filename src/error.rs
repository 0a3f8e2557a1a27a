//! Typed errors and the exit codes they map to.
//!
//! A [`ConfigError`] (exit 2) always names the field or flag, the value it had and what is
//! allowed; a [`RunError`] (exit 3) says what could not be done and why; a stop signal before
//! anything was measured (during the check that the target is there, say) is
//! [`Error::Interrupted`] (exit 130, or 129 after a hang-up). The binary maps them to exit
//! codes in one place ([`Error::exit_code`]).
//!
//! Errors are typed where a caller decides on their kind: the exit code (these three), a
//! refused shard report (`cluster::verify::Problem`), a probe stopped by a signal or failed
//! (`targets::net::probe::Probe`), a request's failure (`ErrorKind`, which the worker retries
//! on and the report counts). A `RunError` stays an action and a reason, and the many
//! `Result<_, String>` of the parsers stay text: no caller branches on them, each only says
//! them (inside a `ConfigError` that names the field, or a `RunError`).

use std::fmt;

/// Where a setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A field in a config file; `scope` is `""` or `scenarios[i]`.
    File {
        /// The file's name as given.
        file: String,
        /// `""` for a single-scenario file, `scenarios[i]` otherwise.
        scope: String,
    },
    /// A command-line flag, e.g. `--rate`.
    Flag(String),
    /// A config built in code through the library.
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, scope } if scope.is_empty() => write!(f, "{file}"),
            Origin::File { file, scope } => write!(f, "{file}, {scope}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Code => f.write_str("config"),
        }
    }
}

/// Bad configuration: exit code 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A field has a value that is not allowed.
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// The field's name as in the config file.
        field: String,
        /// The value as given.
        value: String,
        /// What would have been accepted.
        allowed: String,
    },
    /// A field name that openpace does not know.
    UnknownField {
        /// Where the field appeared.
        origin: Origin,
        /// The unknown name.
        field: String,
        /// The closest known field, if one is close.
        suggestion: Option<&'static str>,
    },
    /// The file is not valid JSON.
    Syntax {
        /// The file's name.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// The file could not be read.
    Unreadable {
        /// The file's name.
        file: String,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(
        origin: &Origin,
        field: &str,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            origin: origin.clone(),
            field: field.to_string(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                origin,
                field,
                value,
                allowed,
            } => write!(
                f,
                "{origin}: {field} = {value} is not allowed; allowed: {allowed}"
            ),
            ConfigError::UnknownField {
                origin,
                field,
                suggestion,
            } => {
                write!(f, "{origin}: unknown field `{field}`")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean `{s}`?")?;
                }
                write!(f, " (`openpace example-config` lists every field)")
            }
            ConfigError::Syntax {
                file,
                line,
                column,
                message,
            } => write!(
                f,
                "{file}: not valid JSON at line {line}, column {column}: {message}"
            ),
            ConfigError::Unreadable { file, reason } => write!(f, "{file}: cannot read: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The run could not be carried out: exit code 3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunError {
    /// What openpace was trying to do.
    pub action: String,
    /// Why it failed.
    pub reason: String,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.action, self.reason)
    }
}

impl std::error::Error for RunError {}

/// Any error openpace reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Bad usage or configuration (exit 2).
    Config(ConfigError),
    /// The run could not be carried out (exit 3).
    Run(RunError),
    /// A stop signal came before anything was measured (exit 130; 129 after SIGHUP). Says
    /// what was under way.
    Interrupted(String),
}

impl Error {
    /// A [`RunError`] from an action and a reason.
    pub fn run(action: impl Into<String>, reason: impl fmt::Display) -> Error {
        Error::Run(RunError {
            action: action.into(),
            reason: reason.to_string(),
        })
    }

    /// The process exit code for this error (see DESIGN.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => 2,
            Error::Run(_) => 3,
            Error::Interrupted(_) => i32::from(crate::base::sys::interrupted_exit_code()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "config error: {e}"),
            Error::Run(e) => write!(f, "run error: {e}"),
            Error::Interrupted(during) => write!(f, "interrupted {during}; nothing was measured"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e)
    }
}

impl From<RunError> for Error {
    fn from(e: RunError) -> Error {
        Error::Run(e)
    }
}
