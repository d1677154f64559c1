//! Expected ASIO return codes and the step-by-step report of `wasio misuse`.

use std::fmt;

use asio_abi::{error_name, AsioError, ASE_INVALID_MODE, ASE_NOT_PRESENT, ASE_OK, ASE_SUCCESS};

/// What a step accepts as the driver's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `ASE_OK`.
    Ok,
    /// Exactly this code.
    Code(AsioError),
    /// Any of these codes.
    OneOf(&'static [AsioError]),
    /// Any code that is not a success (`ASE_OK` or `ASE_SUCCESS`).
    AnyError,
    /// A driver that is not initialized: `ASE_NotPresent` or `ASE_InvalidMode`.
    NotInitialized,
}

const NOT_INITIALIZED_CODES: &[AsioError] = &[ASE_NOT_PRESENT, ASE_INVALID_MODE];

impl Expect {
    /// Whether `code` satisfies the expectation.
    pub fn accepts(self, code: AsioError) -> bool {
        match self {
            Expect::Ok => code == ASE_OK,
            Expect::Code(expected) => code == expected,
            Expect::OneOf(codes) => codes.contains(&code),
            Expect::AnyError => code != ASE_OK && code != ASE_SUCCESS,
            Expect::NotInitialized => NOT_INITIALIZED_CODES.contains(&code),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, codes: &[AsioError]| {
            let names: Vec<&str> = codes.iter().map(|c| error_name(*c)).collect();
            f.write_str(&names.join(" or "))
        };
        match self {
            Expect::Ok => f.write_str(error_name(ASE_OK)),
            Expect::Code(code) => f.write_str(error_name(*code)),
            Expect::OneOf(codes) => list(f, codes),
            Expect::AnyError => f.write_str("any error"),
            Expect::NotInitialized => list(f, NOT_INITIALIZED_CODES),
        }
    }
}

/// `"ASE_InvalidMode (-997)"`.
pub fn describe_code(code: AsioError) -> String {
    format!("{} ({code})", error_name(code))
}

/// One step of a misuse run.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    pub passed: bool,
    /// What happened: the code returned, or a check's observation.
    pub observed: String,
    /// What was expected.
    pub expected: String,
}

impl Step {
    /// One line: `PASS  start before createBuffers: ASE_InvalidMode (-997), expected …`.
    pub fn line(&self) -> String {
        format!(
            "{}  {}: {} (expected {})",
            if self.passed { "PASS" } else { "FAIL" },
            self.name,
            self.observed,
            self.expected
        )
    }
}

/// The steps of a misuse run, printed as they are recorded when `echo` is set, so that a
/// driver that kills the process still leaves every earlier step on screen.
#[derive(Debug, Default)]
pub struct MisuseReport {
    pub steps: Vec<Step>,
    echo: bool,
}

impl MisuseReport {
    /// A report that prints each step to stdout as it is recorded.
    pub fn printing() -> Self {
        MisuseReport {
            steps: Vec::new(),
            echo: true,
        }
    }

    /// A silent report (tests).
    pub fn silent() -> Self {
        MisuseReport::default()
    }

    /// Records a call's return code against `expect`; returns whether it passed.
    pub fn code(&mut self, name: impl Into<String>, code: AsioError, expect: Expect) -> bool {
        self.push(Step {
            name: name.into(),
            passed: expect.accepts(code),
            observed: describe_code(code),
            expected: expect.to_string(),
        })
    }

    /// Records a check that is not a return code; returns `passed`.
    pub fn check(
        &mut self,
        name: impl Into<String>,
        passed: bool,
        observed: impl Into<String>,
        expected: impl Into<String>,
    ) -> bool {
        self.push(Step {
            name: name.into(),
            passed,
            observed: observed.into(),
            expected: expected.into(),
        })
    }

    /// Prints a note that is not a step (context for the reader).
    pub fn note(&self, text: &str) {
        if self.echo {
            outln!("      {text}");
        }
    }

    fn push(&mut self, step: Step) -> bool {
        if self.echo {
            outln!("{}", step.line());
        }
        let passed = step.passed;
        self.steps.push(step);
        passed
    }

    pub fn passed(&self) -> usize {
        self.steps.iter().filter(|s| s.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.steps.len() - self.passed()
    }

    /// `misuse: N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("misuse: {} passed, {} failed", self.passed(), self.failed())
    }

    /// `[{"name", "passed", "observed", "expected"}, …]`.
    pub fn steps_json(&self) -> crate::json::Json {
        use crate::json::Json;
        Json::Array(
            self.steps
                .iter()
                .map(|s| {
                    Json::object([
                        ("name", Json::string(s.name.clone())),
                        ("passed", Json::Bool(s.passed)),
                        ("observed", Json::string(s.observed.clone())),
                        ("expected", Json::string(s.expected.clone())),
                    ])
                })
                .collect(),
        )
    }

    /// 0 when every step passed and there was at least one, else 1.
    pub fn exit_code(&self) -> i32 {
        if self.failed() == 0 && !self.steps.is_empty() {
            0
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asio_abi::*;

    #[test]
    fn expectations_accept_exactly_their_codes() {
        let unknown = 12345;
        let all: Vec<AsioError> = ALL_ASIO_ERRORS.into_iter().chain([unknown]).collect();
        let accepted = |expect: Expect| -> Vec<AsioError> {
            all.iter().copied().filter(|c| expect.accepts(*c)).collect()
        };
        assert_eq!(accepted(Expect::Ok), vec![ASE_OK]);
        assert_eq!(
            accepted(Expect::Code(ASE_INVALID_PARAMETER)),
            vec![ASE_INVALID_PARAMETER]
        );
        assert_eq!(
            accepted(Expect::NotInitialized),
            vec![ASE_NOT_PRESENT, ASE_INVALID_MODE]
        );
        assert_eq!(
            accepted(Expect::OneOf(&[ASE_OK, ASE_INVALID_MODE])),
            vec![ASE_OK, ASE_INVALID_MODE]
        );
        assert_eq!(accepted(Expect::AnyError).len(), all.len() - 2);
        assert!(!Expect::AnyError.accepts(ASE_SUCCESS));
    }

    #[test]
    fn expectations_describe_themselves() {
        assert_eq!(Expect::Ok.to_string(), "ASE_OK");
        assert_eq!(Expect::Code(-998).to_string(), "ASE_InvalidParameter");
        assert_eq!(
            Expect::NotInitialized.to_string(),
            "ASE_NotPresent or ASE_InvalidMode"
        );
        assert_eq!(Expect::AnyError.to_string(), "any error");
        assert_eq!(describe_code(-997), "ASE_InvalidMode (-997)");
    }

    #[test]
    fn report_counts_and_exit_code() {
        let mut report = MisuseReport::silent();
        assert_eq!(report.exit_code(), 1, "an empty run proves nothing");
        assert!(report.code(
            "start before createBuffers",
            ASE_INVALID_MODE,
            Expect::Code(ASE_INVALID_MODE)
        ));
        assert!(report.check("bufferSwitch called", true, "12 switches", "> 0"));
        assert_eq!(report.exit_code(), 0);
        assert!(!report.code(
            "getChannels(null, null)",
            ASE_OK,
            Expect::Code(ASE_INVALID_PARAMETER)
        ));
        assert_eq!(report.summary(), "misuse: 2 passed, 1 failed");
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            report.steps[2].line(),
            "FAIL  getChannels(null, null): ASE_OK (0) (expected ASE_InvalidParameter)"
        );
        assert_eq!(
            report.steps[1].line(),
            "PASS  bufferSwitch called: 12 switches (expected > 0)"
        );
    }
}
