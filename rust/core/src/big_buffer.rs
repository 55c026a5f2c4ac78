//! Large zeroed buffers backed by transparent huge pages where the system offers them.
//!
//! A fresh buffer's pages are faulted in on first write, one 4 KiB page at a time: for
//! the 800 MB of a stored 10,000 x 10,000 kernel (or of a sampler's recorded states)
//! that is 200,000 page faults, which took about half of building the kernel (measured
//! with perf: fault handling and page clearing against the exponentials). With
//! `MADV_HUGEPAGE`, Linux faults in 2 MiB at a time where the mode in
//! /sys/kernel/mm/transparent_hugepage/enabled is `madvise` or `always` (NumPy asks for
//! the same on its large arrays). Elsewhere, or if the advice is refused, the buffer is
//! an ordinary one.

use std::alloc::{alloc_zeroed, Layout};

use crate::error::{CoreError, Result};

/// Buffers at least this large get the advice (smaller ones span few huge pages).
const ADVISE_FROM: usize = 4 << 20;

/// A vector of `len` zeros whose pages the kernel may back by huge pages, or, where the
/// allocation fails (it is refused instead of aborting the process), an
/// `OutOfMemory` error naming `what` the buffer holds, its size, and `advice`.
pub fn zeroed(len: usize, what: &str, advice: &str) -> Result<Vec<f64>> {
    let refuse = || {
        Err(CoreError::OutOfMemory(format!(
            "{what}: {:.3} GB ({len} values of 8 bytes) could not be allocated; {advice}",
            len as f64 * 8e-9
        )))
    };
    let Some(bytes) = len.checked_mul(8).filter(|&b| b <= isize::MAX as usize) else {
        return refuse();
    };
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::from_size_align(bytes, 8).expect("size checked against isize::MAX");
    // SAFETY: the layout has non-zero size. A null pointer is a refused allocation; a
    // non-null one is `len` zeroed f64 values from the global allocator with the layout
    // `Vec<f64>` of capacity `len` uses, so the vector may own and free it.
    let v = unsafe {
        let ptr = alloc_zeroed(layout) as *mut f64;
        if ptr.is_null() {
            return refuse();
        }
        Vec::from_raw_parts(ptr, len, len)
    };
    advise_huge_pages(&v);
    Ok(v)
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &[f64]) {
    const HUGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(v);
    if bytes < ADVISE_FROM {
        return;
    }
    // The advice applies to whole pages: the huge-page-aligned part of the buffer.
    let start = v.as_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    if end > first {
        // SAFETY: [first, end) lies within the buffer's allocation; MADV_HUGEPAGE only
        // changes how its pages are backed, not their contents (zero until written).
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_v: &[f64]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_zero_of_any_size() {
        for len in [0, 1, 1000, (ADVISE_FROM / 8) + 3, 3 << 20] {
            let mut v = zeroed(len, "a test buffer", "").unwrap();
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|x| *x == 0.0));
            v.iter_mut().for_each(|x| *x = 1.0);
            assert!(v.iter().all(|x| *x == 1.0));
        }
    }

    #[test]
    fn impossible_sizes_are_refused() {
        for len in [usize::MAX, usize::MAX / 8, 1 << 60] {
            match zeroed(len, "the test's buffer", "ask for less") {
                Err(CoreError::OutOfMemory(msg)) => {
                    assert!(msg.starts_with("the test's buffer: ") && msg.ends_with("ask for less"))
                }
                other => panic!("{len}: {:?}", other.map(|v| v.len())),
            }
        }
    }
}
