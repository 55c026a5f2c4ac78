//! Radial kernels k(x, y) = phi(|x - y|^2) of the public contract.

use crate::arith::exp::{exp, fma};
use crate::error::{invalid, Result};

/// A kernel of the contract with its bandwidth h.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kernel {
    /// exp(-|x - y|^2 / (2 h^2))
    Gaussian { bandwidth: f64 },
    /// exp(-|x - y| / h)
    Laplace { bandwidth: f64 },
    /// (1 + |x - y|^2 / h^2)^(-1/2)
    Imq { bandwidth: f64 },
    /// -|x - y| (conditionally negative definite distance kernel; no bandwidth)
    Energy,
}

impl Kernel {
    /// Build a kernel from its contract name; `bandwidth` is required exactly when the
    /// kernel has one.
    pub fn from_name(name: &str, bandwidth: Option<f64>) -> Result<Self> {
        let k = match (name, bandwidth) {
            ("energy", None) => Kernel::Energy,
            ("energy", Some(_)) => {
                return invalid("the energy kernel has no bandwidth; do not pass one");
            }
            (_, None) if ["gaussian", "laplace", "imq"].contains(&name) => {
                return invalid(format!("the {name} kernel needs a bandwidth"));
            }
            ("gaussian", Some(h)) => Kernel::Gaussian { bandwidth: h },
            ("laplace", Some(h)) => Kernel::Laplace { bandwidth: h },
            ("imq", Some(h)) => Kernel::Imq { bandwidth: h },
            _ => {
                return invalid(format!(
                    "unknown kernel {name:?}; expected one of \"gaussian\", \"laplace\", \"imq\", \"energy\""
                ));
            }
        };
        k.validate()?;
        Ok(k)
    }

    /// Bandwidths must be finite and positive.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Kernel::Gaussian { bandwidth: h }
            | Kernel::Laplace { bandwidth: h }
            | Kernel::Imq { bandwidth: h } => {
                if !(h.is_finite() && h > 0.0) {
                    return invalid(format!("bandwidth must be finite and positive, got {h}"));
                }
                Ok(())
            }
            Kernel::Energy => Ok(()),
        }
    }

    /// k(x, x), the value on the diagonal.
    pub fn at_zero(&self) -> f64 {
        match self {
            Kernel::Energy => 0.0,
            _ => 1.0,
        }
    }

    /// Scalar evaluation from a squared distance (same arithmetic as the SIMD path
    /// compiled without FMA).
    pub fn eval_sq(&self, d2: f64) -> f64 {
        match *self {
            Kernel::Gaussian { bandwidth } => Gaussian::new(bandwidth).eval::<false>(d2),
            Kernel::Laplace { bandwidth } => Laplace::new(bandwidth).eval::<false>(d2),
            Kernel::Imq { bandwidth } => Imq::new(bandwidth).eval::<false>(d2),
            Kernel::Energy => Energy.eval::<false>(d2),
        }
    }
}

/// A kernel as a function of the squared distance, monomorphised into the pair loops.
pub trait Radial: Copy + Send + Sync {
    fn eval<const FMA: bool>(&self, d2: f64) -> f64;
}

#[derive(Clone, Copy)]
pub struct Gaussian {
    neg_inv_2h2: f64,
}
impl Gaussian {
    pub fn new(h: f64) -> Self {
        Self {
            neg_inv_2h2: -1.0 / (2.0 * h * h),
        }
    }
}
impl Radial for Gaussian {
    #[inline(always)]
    fn eval<const FMA: bool>(&self, d2: f64) -> f64 {
        exp::<FMA>(d2 * self.neg_inv_2h2)
    }
}

#[derive(Clone, Copy)]
pub struct Laplace {
    neg_inv_h: f64,
}
impl Laplace {
    pub fn new(h: f64) -> Self {
        Self {
            neg_inv_h: -1.0 / h,
        }
    }
}
impl Radial for Laplace {
    #[inline(always)]
    fn eval<const FMA: bool>(&self, d2: f64) -> f64 {
        exp::<FMA>(d2.sqrt() * self.neg_inv_h)
    }
}

#[derive(Clone, Copy)]
pub struct Imq {
    inv_h2: f64,
}
impl Imq {
    pub fn new(h: f64) -> Self {
        Self {
            inv_h2: 1.0 / (h * h),
        }
    }
}
impl Radial for Imq {
    #[inline(always)]
    fn eval<const FMA: bool>(&self, d2: f64) -> f64 {
        1.0 / fma::<FMA>(d2, self.inv_h2, 1.0).sqrt()
    }
}

#[derive(Clone, Copy)]
pub struct Energy;
impl Radial for Energy {
    #[inline(always)]
    fn eval<const FMA: bool>(&self, d2: f64) -> f64 {
        -d2.sqrt()
    }
}

/// Run `$body` with `$k` bound to the monomorphic form of `$kernel`.
macro_rules! with_radial {
    ($kernel:expr, |$k:ident| $body:expr) => {
        match $kernel {
            $crate::pairwise::kernels::Kernel::Gaussian { bandwidth } => {
                let $k = $crate::pairwise::kernels::Gaussian::new(bandwidth);
                $body
            }
            $crate::pairwise::kernels::Kernel::Laplace { bandwidth } => {
                let $k = $crate::pairwise::kernels::Laplace::new(bandwidth);
                $body
            }
            $crate::pairwise::kernels::Kernel::Imq { bandwidth } => {
                let $k = $crate::pairwise::kernels::Imq::new(bandwidth);
                $body
            }
            $crate::pairwise::kernels::Kernel::Energy => {
                let $k = $crate::pairwise::kernels::Energy;
                $body
            }
        }
    };
}
pub(crate) use with_radial;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        let d2 = 2.25; // |x - y| = 1.5
        let h = 0.7;
        let g = Kernel::Gaussian { bandwidth: h }.eval_sq(d2);
        assert!((g - (-d2 / (2.0 * h * h)).exp()).abs() < 1e-15);
        let l = Kernel::Laplace { bandwidth: h }.eval_sq(d2);
        assert!((l - (-1.5f64 / h).exp()).abs() < 1e-15);
        let i = Kernel::Imq { bandwidth: h }.eval_sq(d2);
        assert!((i - 1.0 / (1.0 + d2 / (h * h)).sqrt()).abs() < 1e-15);
        assert_eq!(Kernel::Energy.eval_sq(d2), -1.5);
    }

    #[test]
    fn names_and_bandwidths() {
        assert!(Kernel::from_name("gaussian", Some(1.0)).is_ok());
        assert!(Kernel::from_name("energy", None).is_ok());
        assert!(Kernel::from_name("energy", Some(1.0)).is_err());
        assert!(Kernel::from_name("imq", None).is_err());
        assert!(Kernel::from_name("rbf", Some(1.0)).is_err());
        assert!(Kernel::from_name("laplace", Some(0.0)).is_err());
        assert!(Kernel::from_name("laplace", Some(f64::NAN)).is_err());
    }
}
