//! Divergences between discrete distributions given as batches of logits.
//!
//! - `logits`: row-wise divergences between two (B, V) batches of logits, fused with the
//!   log-softmax (no (B, V) temporaries); the two KLs from the sums of its passes.
//! - `row_terms`: the pass that the other divergences (JS, generalised JS, TV,
//!   Hellinger, cross-entropy, Renyi) add over each row pair.
//! - `half`: float16 and bfloat16 logits read from their bits (widened as they are read).
//! - `top_tokens`: each row's most probable token, for agreement statistics.

pub mod half;
pub mod logits;
mod row_terms;
pub mod top_tokens;
