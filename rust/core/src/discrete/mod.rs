//! Divergences between discrete distributions given as batches of logits.
//!
//! - `logits`: row-wise KL, reverse KL and Jensen-Shannon between two (B, V) batches of
//!   logits, fused with the log-softmax (no (B, V) temporaries).
//! - `half`: float16 and bfloat16 logits read from their bits (widened as they are read).
//! - `top_tokens`: each row's most probable token, for agreement statistics.

pub mod half;
pub mod logits;
pub mod top_tokens;
