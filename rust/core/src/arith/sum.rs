//! Compensated summation.
//!
//! Kernel sums over n * m ~ 10^12 pairs lose ~sqrt(nm) ulps with naive accumulation; the
//! engine keeps short vector partial sums and folds them into Neumaier accumulators, which
//! keeps the total within a few ulps of the exact sum of the partials.

/// Neumaier's improved Kahan-Babuska summation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    pub const fn new() -> Self {
        Self {
            sum: 0.0,
            comp: 0.0,
        }
    }

    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Element-wise sums of equal-length partial vectors, added in the order given (plain
/// additions: the same bits whatever produced the partials, e.g. on any thread count).
pub fn add_in_order<'a>(partials: impl IntoIterator<Item = &'a [f64]>, len: usize) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for p in partials {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

/// Compensated sum of an iterator, in iteration order (hence deterministic).
pub fn neumaier_sum<I: IntoIterator<Item = f64>>(values: I) -> f64 {
    let mut acc = Neumaier::new();
    for v in values {
        acc.add(v);
    }
    acc.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_cancelled_terms() {
        // Naive summation returns 0 here; the exact sum is 2.
        let v = [1.0, 1e100, 1.0, -1e100];
        assert_eq!(neumaier_sum(v), 2.0);
    }

    #[test]
    fn many_small_terms() {
        let n = 1_000_000;
        let s = neumaier_sum(std::iter::repeat_n(0.1, n));
        assert!((s - 100_000.0).abs() < 1e-9);
    }
}
