//! Errors of the numerical core. The binding crate maps them to Python exceptions.

use std::fmt;

/// Why a core routine did not return a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// An argument violates the routine's contract (shape, size, parameter range).
    InvalidInput(String),
    /// The caller asked the routine to stop (e.g. Ctrl-C in Python).
    Cancelled,
    /// A buffer the routine needs could not be allocated; the message says which, how
    /// large, and what needs less.
    OutOfMemory(String),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::InvalidInput(msg) => f.write_str(msg),
            CoreError::Cancelled => f.write_str("computation cancelled"),
            CoreError::OutOfMemory(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for CoreError {}

pub type Result<T> = std::result::Result<T, CoreError>;

/// Shorthand for an `InvalidInput` error.
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(CoreError::InvalidInput(msg.into()))
}
