//! Run-time selection of the instruction set the hot loops are compiled for.
//!
//! Wheels target baseline x86-64 (SSE2), which leaves 2-4x of AVX2/AVX-512 throughput
//! unused. Hot loops are written once as an [`IsaJob`] whose `run` is `#[inline(always)]`;
//! [`dispatch`] calls it from a function compiled with `#[target_feature]`, so LLVM
//! vectorises the inlined body for the CPU's best level.

/// Instruction-set level, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Baseline,
    Avx2Fma,
    Avx512,
}

impl Isa {
    /// The best level this CPU supports.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            if fma && is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if fma {
                return Isa::Avx2Fma;
            }
        }
        Isa::Baseline
    }

    /// The level the hot loops run with, cached: the detected one, or a lower one named
    /// by the environment variable `DIVERGENT_SIMD` (`baseline`, `avx2` or `avx512`;
    /// capped at what the CPU supports), read once. Lowering it lets one time or
    /// reproduce another machine's code path.
    pub fn current() -> Isa {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            let requested = std::env::var("DIVERGENT_SIMD").ok();
            Isa::detect().min(
                requested
                    .as_deref()
                    .and_then(Isa::parse)
                    .unwrap_or(Isa::Avx512),
            )
        })
    }

    /// The level named `name` (`baseline`, `avx2` or `avx512`, any case).
    pub fn parse(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "baseline" => Some(Isa::Baseline),
            "avx2" => Some(Isa::Avx2Fma),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU can run code compiled for `self` ([`Isa::detect`], cached): the
    /// check that keeps safe code that names a level from running instructions the CPU
    /// lacks.
    #[inline]
    pub fn supported(self) -> bool {
        static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        self <= *BEST.get_or_init(Isa::detect)
    }

    /// Every level this CPU can run (for tests that compare them).
    pub fn available() -> Vec<Isa> {
        let best = Isa::detect();
        [Isa::Baseline, Isa::Avx2Fma, Isa::Avx512]
            .into_iter()
            .filter(|&i| i <= best)
            .collect()
    }
}

/// A hot loop to be compiled per instruction set. `FMA` says whether fused multiply-add
/// is available (use [`crate::arith::exp::fma`]); implementations must be `#[inline(always)]`.
///
/// Write the hot code as plain loops, not closures passed to iterator adapters: a
/// closure is a function of its own that does not inherit the wrapper's target
/// features, and with `FMA = true` its `mul_add` would become a slow software call.
pub trait IsaJob {
    type Output;
    fn run<const FMA: bool>(self) -> Self::Output;
}

/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<J: IsaJob>(job: J) -> J::Output {
    job.run::<true>()
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<J: IsaJob>(job: J) -> J::Output {
    job.run::<true>()
}

/// Run `job` compiled for `isa`, which must be one of [`Isa::available`].
#[inline]
pub fn dispatch<J: IsaJob>(isa: Isa, job: J) -> J::Output {
    assert!(
        isa <= Isa::current(),
        "{isa:?} is not supported by this CPU"
    );
    match isa {
        // SAFETY: the assertion above checked that the CPU supports these features.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { run_avx512(job) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { run_avx2(job) },
        _ => job.run::<false>(),
    }
}
