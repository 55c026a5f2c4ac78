//! Cooperative cancellation: long loops poll a flag that another thread may raise.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{CoreError, Result};

/// A cancellation flag shared between the caller and the worker threads.
///
/// Workers check it between tiles, so a cancelled call returns within one tile's work.
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask running work to stop at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once `cancel` has been called.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(CoreError::Cancelled)
        } else {
            Ok(())
        }
    }
}
