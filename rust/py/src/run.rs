//! Running core routines off the GIL, interruptibly, with panics contained.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use divergent_core::{Control, CoreError};
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::{Py, PyAny, PyErr, PyResult, Python};

use crate::threads;

/// Below this many pair-coordinate operations a call takes ~10 ms or less: run it
/// directly instead of paying for a watcher thread.
const WATCH_ABOVE: f64 = 2e7;
/// How often a long call looks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

fn to_pyerr(e: CoreError) -> PyErr {
    match e {
        CoreError::InvalidInput(msg) => PyValueError::new_err(msg),
        CoreError::Cancelled => PyKeyboardInterrupt::new_err("computation cancelled"),
        CoreError::OutOfMemory(msg) => PyMemoryError::new_err(msg),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

type Caught<T> = std::thread::Result<Result<T, CoreError>>;

/// Run `f` on the extension's pool with the GIL released.
///
/// `work` estimates the cost (pairs x dimensions); long calls poll for signals every
/// 50 ms and cancel the computation on KeyboardInterrupt. A panic in the core becomes a
/// RuntimeError rather than aborting or unwinding into Python.
pub fn detached<T, F>(py: Python<'_>, work: f64, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Control) -> Result<T, CoreError> + Send,
{
    detached_reporting(py, work, None, f)
}

/// `detached`, and while it runs, `progress(done)` called every 50 ms with the units of
/// work the core last reported (`Control::report`) when they changed; an exception in
/// `progress` cancels the work and is raised.
pub fn detached_reporting<T, F>(
    py: Python<'_>,
    work: f64,
    progress: Option<&Py<PyAny>>,
    f: F,
) -> PyResult<T>
where
    T: Send,
    F: FnOnce(&Control) -> Result<T, CoreError> + Send,
{
    let pool = threads::pool()?;
    let ctl = Control::new();
    let (caught, interrupt): (Caught<T>, Option<PyErr>) = py.detach(|| {
        let call = || catch_unwind(AssertUnwindSafe(|| pool.install(|| f(&ctl))));
        if work < WATCH_ABOVE && progress.is_none() {
            return (call(), None);
        }
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            scope.spawn(move || {
                let _ = tx.send(call());
            });
            let mut interrupt = None;
            let mut shown = 0;
            loop {
                match rx.recv_timeout(SIGNAL_POLL) {
                    Ok(done) => return (done, interrupt),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if interrupt.is_none() {
                            let now = ctl.done();
                            let polled = Python::attach(|py| {
                                py.check_signals()?;
                                match progress {
                                    Some(p) if now != shown => p.call1(py, (now,)).map(drop),
                                    _ => Ok(()),
                                }
                            });
                            shown = now;
                            if let Err(e) = polled {
                                ctl.cancel();
                                interrupt = Some(e);
                            }
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        let lost: Caught<T> = Err(Box::new("worker thread ended without a result"));
                        return (lost, interrupt);
                    }
                }
            }
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    match caught {
        Ok(result) => result.map_err(to_pyerr),
        Err(payload) => Err(PyRuntimeError::new_err(format!(
            "internal error in divergent's Rust core (please report it): {}",
            panic_message(payload)
        ))),
    }
}

/// The pair-coordinate operations of a call over `rows` x `cols` pairs in dimension `d`,
/// the measure of its work that decides whether it runs under a watcher thread.
pub fn pair_work(rows: usize, cols: usize, d: usize) -> f64 {
    rows as f64 * cols as f64 * d.max(1) as f64
}
