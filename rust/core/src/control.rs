//! Cooperative cancellation and progress: long loops poll a flag that another thread may
//! raise, and may publish how far they are for another thread to show.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{CoreError, Result};

/// A cancellation flag shared between the caller and the worker threads.
///
/// Workers check it between tiles, so a cancelled call returns within one tile's work.
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    /// Units of work done, in the unit the routine documents (a sampler's iterations).
    done: AtomicU64,
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask running work to stop at its next check.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Publish that `done` units of work are complete.
    pub fn report(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    /// The units of work last reported.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
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
