//! Divergences between discrete distributions given as batches of logits.
//!
//! - `logits`: row-wise KL, reverse KL and Jensen-Shannon between two (B, V) batches of
//!   logits, fused with the log-softmax (no (B, V) temporaries).

pub mod logits;
