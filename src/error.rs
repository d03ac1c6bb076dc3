//! What an error means to the command line: a usage error ([`UsageError`]: flags, a job file,
//! an output folder that cannot be used) or unreadable input ([`crate::read::InputError`])
//! exit with code 2; anything else (a store that keeps failing, a bug) with 1.

use std::fmt;

/// The command was given something it cannot use: a flag, a job key, a URL, an output folder.
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl UsageError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Mark an error as a usage error, keeping its whole message (an input error stays one).
pub fn usage(err: anyhow::Error) -> anyhow::Error {
    if is_usage_or_input(&err) {
        err
    } else {
        UsageError::new(format!("{err:#}")).into()
    }
}

/// Whether an error (anywhere in its chain) is a usage error or unreadable input: exit code 2.
pub fn is_usage_or_input(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<UsageError>()) || crate::read::is_input_error(err)
}
