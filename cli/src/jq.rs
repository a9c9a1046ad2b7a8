//! `--jq EXPR`: a jq filter applied to the JSON document a command prints
//! (as `gh --jq` does), run in-process by jaq so no `jq` binary is needed.
//! Strings come out raw, as `jq -r` prints them; anything else as JSON.

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, RcIter};
use jaq_json::Val;
use serde_json::Value;

/// A compiled filter, checked before any call is made.
pub struct Filter(jaq_core::Filter<Native<Val>>);

impl Filter {
    /// Compiles `code`, or says what is wrong with it.
    pub fn parse(code: &str) -> Result<Self, String> {
        let loader = Loader::new(jaq_std::defs().chain(jaq_json::defs()));
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|(_, error)| load_error(&error))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        let filter = Compiler::default()
            .with_funs(jaq_std::funs().chain(jaq_json::funs()))
            .compile(modules)
            .map_err(|errors| {
                errors
                    .into_iter()
                    .flat_map(|(_, undefined)| undefined)
                    .map(|(name, kind)| format!("undefined {} {name}", kind.as_str()))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        Ok(Self(filter))
    }

    /// The filter's outputs for `input`, one text per output.
    pub fn run(&self, input: Value) -> Result<Vec<String>, String> {
        let inputs = RcIter::new(core::iter::empty());
        self.0
            .run((Ctx::new([], &inputs), Val::from(input)))
            .map(|output| match output.map(Value::from) {
                Ok(Value::String(text)) => Ok(text),
                Ok(value) => Ok(format!("{value:#}")),
                Err(error) => Err(error.to_string()),
            })
            .collect()
    }
}

fn load_error(error: &load::Error<&str>) -> String {
    // `rest` is the program from where it went wrong.
    let at = |rest: &str| match rest.chars().take(20).collect::<String>() {
        near if near.is_empty() => "at the end".to_owned(),
        near => format!("at `{near}`"),
    };
    match error {
        load::Error::Io(failures) => failures
            .iter()
            .map(|(path, why)| format!("cannot load {path}: {why}"))
            .collect::<Vec<_>>()
            .join("; "),
        load::Error::Lex(failures) => failures
            .iter()
            .map(|(expected, rest)| format!("expected {} {}", expected.as_str(), at(rest)))
            .collect::<Vec<_>>()
            .join("; "),
        load::Error::Parse(failures) => failures
            .iter()
            .map(|(expected, rest)| format!("expected {} {}", expected.as_str(), at(rest)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_come_out_raw_and_the_rest_as_json() {
        let filter = Filter::parse(".[] | select(.metrics.auc > 0.85) | .version").unwrap();
        let versions = json!([
            {"version": "1", "metrics": {"auc": 0.81}},
            {"version": "2", "metrics": {"auc": 0.92}},
        ]);
        assert_eq!(filter.run(versions.clone()).unwrap(), ["2"]);
        let counted = Filter::parse("length").unwrap();
        assert_eq!(counted.run(versions).unwrap(), ["2"]);
        let object = Filter::parse("{a: 1}").unwrap();
        assert_eq!(object.run(json!(null)).unwrap(), ["{\n  \"a\": 1\n}"]);
    }

    #[test]
    fn bad_filters_are_refused_with_the_reason() {
        let unclosed = Filter::parse(".[] | select(").err().unwrap();
        assert!(unclosed.starts_with("expected"), "{unclosed}");
        let unknown = Filter::parse("nosuchfilter").err().unwrap();
        assert_eq!(unknown, "undefined filter nosuchfilter");
        let failing = Filter::parse(".version").unwrap();
        assert!(failing.run(json!([1])).is_err());
    }
}
