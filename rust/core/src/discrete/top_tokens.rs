//! The top tokens of a pair of logit rows: each row's most probable token and the
//! probabilities that top-1 agreement and the change in the top token's probability
//! are computed from.

use super::logits::{Logit, W};

/// The top tokens of a row pair: p's most probable token (the first of equal logits, as
/// NumPy's argmax), q's, p's probability of its own and q's probability of p's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopTokens {
    pub p_index: usize,
    pub q_index: usize,
    pub p_top: f64,
    pub q_at_p_top: f64,
}

/// The first index whose value is `v` (which the row holds), found a lane block at a time.
#[inline(always)]
pub(super) fn first_index_of<T: Logit>(row: &[T], v: f64) -> usize {
    let chunks = row.chunks_exact(W);
    let rest = chunks.remainder();
    for (c, chunk) in chunks.enumerate() {
        let chunk: &[T; W] = chunk.try_into().unwrap();
        let mut hit = false;
        for x in chunk {
            hit |= x.widen() == v;
        }
        if hit {
            for (j, x) in chunk.iter().enumerate() {
                if x.widen() == v {
                    return c * W + j;
                }
            }
        }
    }
    let start = row.len() - rest.len();
    for (j, x) in rest.iter().enumerate() {
        if x.widen() == v {
            return start + j;
        }
    }
    unreachable!("the maximum of a row is one of its values")
}
