//! The extension's own Rayon pool, sized by `set_num_threads`.
//!
//! Rayon's global pool can be configured only once, so the extension keeps its own and
//! rebuilds it when the requested size changes. The pool remembers the process id it was
//! built in: after `os.fork()` the child has none of the parent's worker threads, so it
//! builds a fresh pool instead of waiting forever on the inherited one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::PyResult;
use rayon::{ThreadPool, ThreadPoolBuilder};

struct PoolState {
    pid: u32,
    threads: usize,
    pool: Arc<ThreadPool>,
}

// Only touched while the GIL is held, so a fork (which Python performs holding the GIL)
// never inherits it locked.
static STATE: Mutex<Option<PoolState>> = Mutex::new(None);
/// Thread count set by `set_num_threads`; 0 means the default.
static REQUESTED: AtomicUsize = AtomicUsize::new(0);

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The most worker threads a pool may have: 8 per available core, at least 64. More
/// only queue on the cores (and each reserves a stack), so a larger request is a typo.
pub fn max_threads() -> usize {
    (8 * available_cores()).max(64)
}

/// `DIVERGENT_NUM_THREADS` if set to a positive integer (at most [`max_threads`]),
/// else the cores available. (The Python package warns about a value it ignores.)
fn default_threads() -> usize {
    std::env::var("DIVERGENT_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .map_or_else(available_cores, |n| n.min(max_threads()))
}

pub fn num_threads() -> usize {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

pub fn set_num_threads(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(PyValueError::new_err("n must be a positive integer"));
    }
    if n > max_threads() {
        return Err(PyValueError::new_err(format!(
            "n = {n} threads is more than the {} allowed (8 per available core, at least 64); \
             pass at most that (the default is the {} available cores)",
            max_threads(),
            available_cores()
        )));
    }
    REQUESTED.store(n, Ordering::Relaxed);
    pool().map(|_| ())
}

/// The pool to run on, (re)built if the size changed or the process forked.
pub fn pool() -> PyResult<Arc<ThreadPool>> {
    let want = num_threads();
    let pid = std::process::id();
    let mut state = STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(s) = state.as_ref() {
        if s.pid == pid && s.threads == want {
            return Ok(Arc::clone(&s.pool));
        }
    }
    if let Some(old) = state.take() {
        if old.pid != pid {
            // Inherited across fork: its workers do not exist here, so never drop it
            // (dropping would signal threads that will never answer).
            std::mem::forget(old.pool);
        }
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(want)
        .thread_name(|i| format!("divergent-{i}"))
        .build()
        .map_err(|e| {
            PyRuntimeError::new_err(format!("could not start {want} worker threads: {e}"))
        })?;
    let pool = Arc::new(pool);
    *state = Some(PoolState {
        pid,
        threads: want,
        pool: Arc::clone(&pool),
    });
    Ok(pool)
}

/// The thread count, for `threadpoolctl`'s controller (a C symbol that also tells that
/// controller a loaded library is this extension). Reads an atomic (and, for the
/// default, the environment): safe without the GIL, which `ctypes` releases.
#[no_mangle]
pub extern "C" fn divergent_get_num_threads() -> usize {
    num_threads()
}

/// Sets the thread count for the next call into the core (the pool is rebuilt there,
/// under the GIL), capped at [`max_threads`]; 0 restores the default. Touches only an
/// atomic, so `ctypes` may call it without the GIL.
#[no_mangle]
pub extern "C" fn divergent_set_num_threads(n: usize) {
    REQUESTED.store(n.min(max_threads()), Ordering::Relaxed);
}
