//! The one table of report formats: each format is declared once, in `report_formats!`'s
//! table below, with its name, file extension, renderer, whether it makes one file or one per
//! scenario and metric, whether it is text, and the run-wide config field (and flag) that
//! writes it beside the main output. The [`ReportFormat`] enum, the config's `report_format`
//! choices, the `html`/`hgrm`/... fields and flags, `--format`'s reader and the dispatch
//! ([`render_files`](super::render_files)) all come from it.

use serde::{Deserialize, Serialize};

use crate::metrics::RunResult;

/// How many files a format makes of one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Files {
    /// One file (or one stream).
    One,
    /// One file per scenario and metric (and request-set name), beside the path given; a
    /// stream takes them one after the other.
    PerScenarioAndMetric,
}

/// What a renderer makes: (file-name suffix, contents) for each file.
pub type Rendered = Result<Vec<(String, String)>, String>;

/// One report format as the table declares it.
pub struct Format {
    /// The enum value.
    pub format: ReportFormat,
    /// Its name (`--format NAME`, `"report_format": "NAME"`).
    pub name: &'static str,
    /// The usual file extension, without the dot.
    pub extension: &'static str,
    /// One file, or one per scenario and metric.
    pub files: Files,
    /// Whether the contents are text (all are today; a binary format would be written as
    /// bytes and never to a terminal).
    pub text: bool,
    /// What the format holds, in a line.
    pub doc: &'static str,
    /// The run-wide config field (and flag) that also writes this format beside the main
    /// output, with its doc; `None`: only through `report_format`.
    pub also: Option<(&'static str, &'static str)>,
    /// Renders a result.
    pub render: fn(&RunResult) -> Rendered,
}

/// One file: the whole text.
fn one(text: String) -> Rendered {
    Ok(vec![(String::new(), text)])
}

/// Declares [`ReportFormat`] and [`FORMATS`] from one list.
macro_rules! report_formats {
    ($(
        $variant:ident {
            name: $name:literal,
            extension: $extension:literal,
            files: $files:ident,
            text: $text:literal,
            doc: $doc:literal,
            also: $also:expr,
            render: $render:expr $(,)?
        }
    )*) => {
        /// What a report file holds.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ReportFormat {
            $(#[doc = $doc] $variant,)*
        }

        /// Every format, in the order `--help` and messages list them.
        pub static FORMATS: &[Format] = &[$(Format {
            format: ReportFormat::$variant,
            name: $name,
            extension: $extension,
            files: Files::$files,
            text: $text,
            doc: $doc,
            also: $also,
            render: $render,
        }),*];

        impl ReportFormat {
            /// Every format with its name.
            pub const ALL: [(&'static str, ReportFormat); [$($name),*].len()] =
                [$(($name, ReportFormat::$variant)),*];
        }
    };
}

report_formats! {
    Json {
        name: "json",
        extension: "json",
        files: One,
        text: true,
        doc: "The JSON report (schema in docs/formats.md).",
        also: None,
        render: |r| one(super::to_json(r)),
    }
    Text {
        name: "text",
        extension: "txt",
        files: One,
        text: true,
        doc: "The summary block as printed.",
        also: None,
        render: |r| one(super::summary(r)),
    }
    Hgrm {
        name: "hgrm",
        extension: "hgrm",
        files: PerScenarioAndMetric,
        text: true,
        doc: "HdrHistogram percentile distributions (one file per scenario and metric).",
        also: Some(("hgrm", "also write HdrHistogram percentile distributions here")),
        render: super::hdr::hgrm_files,
    }
    Hlog {
        name: "hlog",
        extension: "hlog",
        files: One,
        text: true,
        doc: "An HdrHistogram interval log (V2 compressed).",
        also: Some(("hlog", "also write the HdrHistogram interval log here")),
        render: |r| one(super::hdr::hlog(r)?),
    }
    Csv {
        name: "csv",
        extension: "csv",
        files: One,
        text: true,
        doc: "The interval time series.",
        also: Some(("csv", "also write the interval time series as CSV here")),
        render: |r| one(super::csv::csv(r)),
    }
    Html {
        name: "html",
        extension: "html",
        files: One,
        text: true,
        doc: "A self-contained page with the verdict, the summary and charts.",
        also: Some(("html", "also write the self-contained HTML report here")),
        render: |r| one(super::html::html(r)?),
    }
    Junit {
        name: "junit",
        extension: "xml",
        files: One,
        text: true,
        doc: "JUnit XML, one test case per threshold.",
        also: Some(("junit", "also write a JUnit XML report (one test case per threshold) here")),
        render: |r| one(super::junit::junit(r)),
    }
}

impl ReportFormat {
    /// The format's row of the table.
    pub fn info(self) -> &'static Format {
        FORMATS
            .iter()
            .find(|f| f.format == self)
            .expect("every format has its row")
    }

    /// The format's name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The names of every format, as messages list them: `json, text, ..., junit`.
    pub fn names() -> String {
        let names: Vec<&str> = FORMATS.iter().map(|f| f.name).collect();
        names.join(", ")
    }

    /// The names of every format as a sentence lists them: `json, text, ... or junit`.
    pub fn names_or() -> String {
        let names: Vec<&str> = FORMATS.iter().map(|f| f.name).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// The format written by the run-wide config field `field` (`html`), if one is.
    pub fn of_field(field: &str) -> Option<ReportFormat> {
        FORMATS
            .iter()
            .find(|f| f.also.is_some_and(|(name, _)| name == field))
            .map(|f| f.format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each format once, each `also` field naming its own format, and every format renders
    /// a saved result into the files its row says.
    #[test]
    fn the_table_holds_each_format_once_and_renders_each() {
        let mut names: Vec<&str> = FORMATS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FORMATS.len());
        let saved = crate::report::read_json(include_str!("../../tests/golden/single/result.json"))
            .unwrap();
        for (name, format) in ReportFormat::ALL {
            assert_eq!(format.name(), name);
            if let Some((field, _)) = format.info().also {
                assert_eq!(ReportFormat::of_field(field), Some(format));
            }
            let files = (format.info().render)(&saved).unwrap();
            match format.info().files {
                Files::One => assert_eq!(files.len(), 1, "{name}"),
                Files::PerScenarioAndMetric => assert!(files.len() >= 3, "{name}"),
            }
        }
        assert_eq!(ReportFormat::of_field("output"), None);
    }
}
