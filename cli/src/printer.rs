//! The one place output is rendered: a table (or text) for people, the
//! canonical JSON or YAML document for scripts, identifiers only with
//! `-q`, or a jq filter's results with `--jq`. Written without `println!`,
//! which panics when the reader hung up (`modelreg versions churn | head`).

use std::cell::RefCell;
use std::io::Write;

use model_registry_client::Error;
use serde_json::Value;

use crate::jq;
use crate::output::{self, Format};

/// How this run prints its answers.
pub struct Printer {
    format: Format,
    quiet: bool,
    filter: Option<jq::Filter>,
    /// Why the filter failed on an answer: the command fails with it once
    /// the answer is printed.
    filter_failure: RefCell<Option<String>>,
}

impl Printer {
    /// A printer for `-o FORMAT`, `-q` and `--jq FILTER`.
    pub fn new(format: Format, quiet: bool, filter: Option<jq::Filter>) -> Self {
        Self {
            format,
            quiet,
            filter,
            filter_failure: RefCell::new(None),
        }
    }

    /// Prints one answer: `document` for scripts, `text` for people.
    pub fn print(&self, document: Value, text: String) {
        let rendered = match (&self.filter, self.format) {
            (Some(filter), _) => self.filtered(document, filter),
            (None, _) if self.quiet => output::identities(&document),
            (None, Format::Json) => format!("{document:#}"),
            (None, Format::Yaml) => output::yaml(&document),
            (None, Format::Table) => text,
        };
        if !rendered.is_empty() {
            let _ = writeln!(std::io::stdout(), "{rendered}");
        }
    }

    /// Prints one message of a stream at once (one JSON object per line);
    /// `Ok(false)` when the reader hung up.
    pub fn stream(&self, document: Value, text: String) -> Result<bool, Error> {
        let line = match (&self.filter, self.format) {
            (Some(filter), _) => self.filtered(document, filter),
            (None, _) if self.quiet => output::identities(&document),
            (None, Format::Json) => document.to_string(),
            (None, Format::Yaml) => format!("---\n{}", output::yaml(&document)),
            (None, Format::Table) => text,
        };
        self.finish()?;
        let mut stdout = std::io::stdout();
        Ok(writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_ok())
    }

    /// Fails if the filter failed on an answer printed so far.
    pub fn finish(&self) -> Result<(), Error> {
        match self.filter_failure.borrow_mut().take() {
            Some(why) => Err(Error::InvalidInput(format!("--jq: {why}"))),
            None => Ok(()),
        }
    }

    fn filtered(&self, document: Value, filter: &jq::Filter) -> String {
        match filter.run(document) {
            Ok(outputs) => outputs.join("\n"),
            Err(why) => {
                *self.filter_failure.borrow_mut() = Some(why);
                String::new()
            }
        }
    }
}
