//! The soft-min of Sinkhorn from a stored Gibbs kernel with absorbed potentials: the
//! kernel-domain iterations of Schmitzer (2019), for problems where n x m doubles fit in
//! memory: point clouds where epsilon is large enough that truncation prunes little, and
//! given cost matrices (where nothing is truncated).
//!
//! The kernel is stored as E_ij = exp(alpha_i + beta_j - C_ij / eps), with the absorbed
//! exponents alpha (rows) and beta (columns) chosen at build time so that every row (or
//! every column) has its largest entry equal to 1. A soft-min with column exponents w
//! is then a matrix-vector product and one logarithm per row,
//!
//!   ln sum_j exp(w_j - C_ij / eps) = -alpha_i + ln sum_j E_ij exp(w_j - beta_j),
//!
//! (and the transposed product for the other side), which reads 8 bytes per pair instead
//! of computing an exponential: memory-bound, two to three times faster than the
//! streamed log-domain soft-min when nearly every pair matters (eps = 0.01 in the unit
//! cube). A Sinkhorn iteration's two products (rows, then columns with the potentials
//! the rows gave) read the kernel once: part by part, the column sums are taken while
//! the part is still in cache (`lse_then_next`). Exactness: a rebuild (one
//! exponential per pair) absorbs w into the kernel whenever some |w_j - beta_j| exceeds
//! `DRIFT`, or a sum falls below `TINY`, so an entry that underflowed (< 2.3e-308) can
//! only stand for a term below e^DRIFT 2.3e-308 against a sum of at least 1e-240:
//! results equal the full log-sum-exp up to round-off, as in the streamed path. Weighted
//! passes (mean costs, once per solve) are delegated to the streamed path.

use std::sync::Mutex;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::exp::exp;
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::add_in_order;
use crate::big_buffer;
use crate::control::Control;
use crate::error::{invalid, CoreError, Result};
use crate::ot::sinkhorn::OnPoints;
use crate::ot::softmin::{CloudCost, MatrixCost, Power, Side, Softmin};
use crate::pairwise::gram::squared_distances;
use crate::pairwise::Real;

/// Largest |w_j - beta_j| (or |u_i - alpha_i|) served by a stored kernel.
const DRIFT: f64 = 100.0;
/// A kernel sum below this may have lost terms to underflow: rebuild for that side.
const TINY: f64 = 1e-240;
/// Rows per parallel task of a build or a row product.
const ROWS_PER_TASK: usize = 16;
/// Partial sums of a dot product: four AVX-512 registers (or eight AVX2 ones) of
/// independent additions, enough to hide their latency.
const DOT_LANES: usize = 32;
/// Rows per partial column sum of a transposed product.
const ROWS_PER_PARTIAL: usize = 128;
/// Bytes of the kernel a fused pass reads from memory for its row products and then
/// again, from cache, for its column sums (`apply_then_next`).
const PART_BYTES: usize = 128 << 10;

/// The stored kernel and the exponents absorbed into it.
struct Kernel {
    eps: f64,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    /// Row-major n x m.
    e: Vec<f64>,
}

/// An operator whose soft-mins a stored kernel can take over: it computes whatever the
/// kernel does not (weighted passes, sums the kernel cannot give exactly), and, if it
/// holds its cost matrix, lends its rows to the kernel's builds.
pub trait KernelFallback: Softmin {
    /// Row i of the cost matrix (m values), if this operator stores one.
    fn stored_row(&self, i: usize) -> Option<&[f64]> {
        let _ = i;
        None
    }
}

impl KernelFallback for CloudCost {}

impl KernelFallback for MatrixCost {
    fn stored_row(&self, i: usize) -> Option<&[f64]> {
        Some(self.row(i))
    }
}

/// Where a kernel's costs come from.
enum Costs {
    /// x row-major (n x d) and y coordinate-major (d x m), so a row's costs vectorise.
    Points {
        x: Vec<f64>,
        y_t: Vec<f64>,
        d: usize,
        power: Power,
    },
    /// The fallback's stored matrix (`KernelFallback::stored_row`).
    Stored,
}

/// A transport problem with its Gibbs kernel stored between soft-mins (see the module
/// docs): point clouds (`new`) or a given cost matrix (`from_matrix`).
pub struct GibbsKernel<F = CloudCost> {
    fallback: F,
    costs: Costs,
    n: usize,
    m: usize,
    kernel: Mutex<Option<Kernel>>,
}

/// What needs less memory than a stored kernel.
pub(crate) const DENSE_ADVICE: &str = "use backend=\"online\", which needs O(n + m) memory";

fn check_kernel_size(n: usize, m: usize) -> Result<()> {
    if n.checked_mul(m).and_then(|nm| nm.checked_mul(8)).is_none() {
        return invalid("the n x m kernel does not fit in memory");
    }
    Ok(())
}

impl GibbsKernel<CloudCost> {
    /// A stored kernel for the point clouds x (n x d) and y (m x d) with cost |x - y|^p,
    /// the costs computed by coordinate differences at each build (see `from_points` for
    /// high dimension).
    pub fn new(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, p: f64) -> Result<Self> {
        let cloud = CloudCost::new(x, y, p)?;
        let (n, m, d) = (x.nrows(), y.nrows(), x.ncols());
        check_kernel_size(n, m)?;
        let costs = Costs::Points {
            x: x.iter().copied().collect(),
            y_t: y.t().iter().copied().collect(),
            d,
            power: cloud.power,
        };
        Ok(GibbsKernel {
            costs,
            fallback: cloud,
            n,
            m,
            kernel: Mutex::new(None),
        })
    }
}

impl GibbsKernel<MatrixCost> {
    /// A stored kernel for the point clouds x (n x d) and y (m x d) with cost |x - y|^p,
    /// from their cost matrix computed once on the pair engine's Gram path (exact to its
    /// recheck's bound): the choice in high dimension, where the kernel's rebuilds and
    /// the weighted passes (the transport cost) then read costs instead of computing
    /// 2 d flops per pair again, and where multiscale clusters prune little.
    pub fn from_points<T: Real>(
        x: ArrayView2<'_, T>,
        y: ArrayView2<'_, T>,
        p: f64,
        ctl: &Control,
    ) -> Result<Self> {
        let power = Power::new(p)?;
        let (n, m) = (x.nrows(), y.nrows());
        if n == 0 || m == 0 || x.ncols() == 0 {
            return invalid("the point clouds must be non-empty, with at least one feature");
        }
        check_kernel_size(n, m)?;
        let mut c = squared_distances(x, y, DENSE_ADVICE, ctl)?;
        if power != Power::Two {
            c.par_chunks_mut(ROWS_PER_TASK * m)
                .for_each(|rows| rows.iter_mut().for_each(|v| *v = power.scalar::<false>(*v)));
        }
        let c = ArrayView2::from_shape((n, m), &c)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        Self::from_matrix(c)
    }

    /// A stored kernel for the cost matrix `c` (n x m).
    pub fn from_matrix(c: ArrayView2<'_, f64>) -> Result<Self> {
        let matrix = MatrixCost::new(c)?;
        let (n, m) = c.dim();
        check_kernel_size(n, m)?;
        Ok(GibbsKernel {
            fallback: matrix,
            costs: Costs::Stored,
            n,
            m,
            kernel: Mutex::new(None),
        })
    }
}

impl<F: KernelFallback> GibbsKernel<F> {
    /// exp(alpha_i + beta_j - C_ij / eps) for all pairs, with `fixed` (w when `side` is
    /// X, u when Y) absorbed as given and the other side's exponents chosen to make each
    /// of its lines' largest entry 1.
    ///
    /// Every entry is written: the buffer of a kernel being replaced (`old`) is reused.
    fn build(
        &self,
        side: Side,
        fixed: &[f64],
        eps: f64,
        old: Option<Kernel>,
        ctl: &Control,
    ) -> Result<Kernel> {
        let (n, m) = (self.n, self.m);
        let mut e = match old {
            Some(k) if k.e.len() == n * m => k.e,
            _ => big_buffer::zeroed(n * m, "the stored n x m Gibbs kernel", DENSE_ADVICE)?,
        };
        let (alpha, beta) = match side {
            Side::X => {
                // Rows: t_ij = beta_j - C_ij / eps, alpha_i = -max_j t_ij.
                let beta = fixed.to_vec();
                let mut alpha = vec![0.0; n];
                e.par_chunks_mut(ROWS_PER_TASK * m)
                    .zip(alpha.par_chunks_mut(ROWS_PER_TASK))
                    .enumerate()
                    .for_each(|(t, (rows, al))| {
                        if ctl.is_cancelled() {
                            return;
                        }
                        for (k, row) in rows.chunks_mut(m).enumerate() {
                            let i = t * ROWS_PER_TASK + k;
                            al[k] = -self.exponents_of_row(i, &beta, eps, row, true);
                        }
                    });
                (alpha, beta)
            }
            Side::Y => {
                // beta_j = -max_i (alpha_i - C_ij / eps), by per-task column maxima.
                let alpha = fixed.to_vec();
                let zero = vec![0.0; m];
                let maxima = e
                    .par_chunks_mut(ROWS_PER_TASK * m)
                    .enumerate()
                    .map(|(t, rows)| {
                        let mut mx = vec![f64::NEG_INFINITY; m];
                        for (k, row) in rows.chunks_mut(m).enumerate() {
                            let i = t * ROWS_PER_TASK + k;
                            self.exponents_of_row(i, &zero, eps, row, false);
                            for (mx, v) in mx.iter_mut().zip(row.iter()) {
                                let v = v + alpha[i];
                                *mx = if v > *mx { v } else { *mx };
                            }
                        }
                        mx
                    })
                    .reduce(
                        || vec![f64::NEG_INFINITY; m],
                        |a, b| a.iter().zip(&b).map(|(a, b)| a.max(*b)).collect(),
                    );
                let beta: Vec<f64> = maxima.iter().map(|v| -v).collect();
                e.par_chunks_mut(ROWS_PER_TASK * m)
                    .enumerate()
                    .for_each(|(t, rows)| {
                        for (k, row) in rows.chunks_mut(m).enumerate() {
                            let job = AbsorbColumns {
                                row,
                                alpha: alpha[t * ROWS_PER_TASK + k],
                                beta: &beta,
                            };
                            dispatch(Isa::current(), job);
                        }
                    });
                (alpha, beta)
            }
        };
        ctl.check()?;
        Ok(Kernel {
            eps,
            alpha,
            beta,
            e,
        })
    }

    /// Writes w_j - C_ij / eps into `row` and returns its largest value (-inf weights
    /// stay -inf); with `absorb`, then e^(that - largest) (the row's kernel entries,
    /// computed while the row is in cache).
    fn exponents_of_row(
        &self,
        i: usize,
        w: &[f64],
        eps: f64,
        row: &mut [f64],
        absorb: bool,
    ) -> f64 {
        let costs = match &self.costs {
            Costs::Points { x, y_t, d, power } => CostRow::Points {
                xi: &x[i * d..(i + 1) * d],
                y_t,
                power: *power,
            },
            Costs::Stored => CostRow::Given(self.fallback.stored_row(i).expect("a stored row")),
        };
        let job = RowExponents {
            costs,
            w,
            inv_eps: 1.0 / eps,
            row: &mut row[..self.m],
            absorb,
        };
        dispatch(Isa::current(), job)
    }

    /// The soft-min from a kernel whose absorbed exponents on the summed side are within
    /// DRIFT of `w`; None if some sum is too small to be exact.
    fn apply(&self, k: &Kernel, side: Side, w: &[f64]) -> Option<Vec<f64>> {
        let (n, m) = (self.n, self.m);
        let sums: Vec<f64> = match side {
            Side::X => {
                let (v, isa) = (scaled_all(w, &k.beta), Isa::current());
                let per_task: Vec<Vec<f64>> =
                    k.e.par_chunks(ROWS_PER_TASK * m)
                        .map(|rows| dispatch(isa, RowDots { rows, b: &v, m }))
                        .collect();
                per_task.concat()
            }
            Side::Y => {
                // Partial column sums over fixed blocks of rows (each streams whole rows),
                // added in block order: the same sums for any thread count.
                let (v, isa) = (scaled_all(w, &k.alpha), Isa::current());
                let partial: Vec<Vec<f64>> =
                    k.e.par_chunks(ROWS_PER_PARTIAL * m)
                        .zip(v.par_chunks(ROWS_PER_PARTIAL))
                        .map(|(rows, v)| {
                            let mut acc = vec![0.0; m];
                            dispatch(
                                isa,
                                ColumnSums {
                                    rows,
                                    v,
                                    m,
                                    acc: &mut acc,
                                },
                            );
                            acc
                        })
                        .collect();
                add_in_order(partial.iter().map(Vec::as_slice), m)
            }
        };
        let absorbed = match side {
            Side::X => &k.alpha,
            Side::Y => &k.beta,
        };
        debug_assert_eq!(sums.len(), if side == Side::X { n } else { m });
        lse_of_sums(&sums, absorbed)
    }

    /// The X-side soft-min from `w` and, in the same pass over the kernel, the Y-side
    /// one from the exponents `next` makes of the first (`Softmin::lse_then_next`).
    ///
    /// The kernel is read once instead of twice: each task takes a block of
    /// ROWS_PER_PARTIAL rows, part by part (`rows_per_part`), and while a part is in
    /// cache, its row products give those rows' lse, `next` their exponents on the Y
    /// side, and the part's terms of the column sums follow. The sums are those of
    /// `apply` on each side, added in the same order. None if the X side's sums are not
    /// exact (as `apply`); the Y side's result is None if some exponent is not served
    /// by the kernel (a rebuild is due) or its sums are not exact.
    fn apply_then_next(
        &self,
        k: &Kernel,
        w: &[f64],
        next: &(dyn Fn(usize, f64) -> f64 + Sync),
    ) -> Option<(Vec<f64>, Option<Vec<f64>>)> {
        let m = self.m;
        let isa = Isa::current();
        let v = scaled_all(w, &k.beta);
        let part = rows_per_part(m);
        struct Block {
            lse: Vec<f64>,
            acc: Vec<f64>,
            rows_exact: bool,
            next_served: bool,
        }
        let blocks: Vec<Block> =
            k.e.par_chunks(ROWS_PER_PARTIAL * m)
                .enumerate()
                .map(|(b, rows)| {
                    let first = b * ROWS_PER_PARTIAL;
                    let mut block = Block {
                        lse: Vec::with_capacity(rows.len() / m),
                        acc: vec![0.0; m],
                        rows_exact: true,
                        next_served: true,
                    };
                    let mut u = vec![0.0; part];
                    for part_rows in rows.chunks(part * m) {
                        let sums = dispatch(
                            isa,
                            RowDots {
                                rows: part_rows,
                                b: &v,
                                m,
                            },
                        );
                        let u = &mut u[..sums.len()];
                        for (s, u) in sums.iter().zip(u.iter_mut()) {
                            let i = first + block.lse.len();
                            let (alpha, lse) = (k.alpha[i], s.ln() - k.alpha[i]);
                            block.rows_exact &= is_exact(*s);
                            let w = next(i, lse);
                            block.next_served &= serves(w, alpha);
                            *u = scaled(w, alpha);
                            block.lse.push(lse);
                        }
                        if !block.rows_exact {
                            break;
                        }
                        if block.next_served {
                            let acc = &mut block.acc;
                            dispatch(
                                isa,
                                ColumnSums {
                                    rows: part_rows,
                                    v: u,
                                    m,
                                    acc,
                                },
                            );
                        }
                    }
                    block
                })
                .collect();
        if !blocks.iter().all(|b| b.rows_exact) {
            return None;
        }
        let lse: Vec<f64> = blocks.iter().flat_map(|b| b.lse.iter().copied()).collect();
        if !blocks.iter().all(|b| b.next_served) {
            return Some((lse, None));
        }
        let partial: Vec<Vec<f64>> = blocks.into_iter().map(|b| b.acc).collect();
        let next_lse = lse_of_sums(&add_in_order(partial.iter().map(Vec::as_slice), m), &k.beta);
        Some((lse, next_lse))
    }
}

/// e^(w - absorbed): a term's factor in a product with the kernel (0 for w = -inf).
#[inline]
fn scaled(w: f64, absorbed: f64) -> f64 {
    if w == f64::NEG_INFINITY {
        0.0
    } else {
        (w - absorbed).exp()
    }
}

/// `scaled` of each w_j against its absorbed exponent.
fn scaled_all(w: &[f64], absorbed: &[f64]) -> Vec<f64> {
    w.iter()
        .zip(absorbed)
        .map(|(w, a)| scaled(*w, *a))
        .collect()
}

/// Whether a kernel sum is exact: terms lost to underflow would be below TINY's share.
#[inline]
fn is_exact(sum: f64) -> bool {
    sum >= TINY && sum.is_finite()
}

/// ln sum_i - absorbed_i, the soft-mins from a product's sums; None unless every sum is
/// exact.
fn lse_of_sums(sums: &[f64], absorbed: &[f64]) -> Option<Vec<f64>> {
    if !sums.iter().all(|s| is_exact(*s)) {
        return None;
    }
    Some(sums.iter().zip(absorbed).map(|(s, a)| s.ln() - a).collect())
}

/// Rows of a part in `apply_then_next`: about PART_BYTES of the kernel, a multiple of
/// the four rows that a row product reads per sweep.
fn rows_per_part(m: usize) -> usize {
    (PART_BYTES / (8 * m.max(1))).clamp(4, ROWS_PER_PARTIAL) / 4 * 4
}

/// The costs of one row of a kernel.
enum CostRow<'a> {
    /// |x_i - y_j|^p: the squared distance sums the coordinates in order, and |.|^p is
    /// computed without FMA whatever the instruction set.
    Points {
        xi: &'a [f64],
        /// Coordinate-major: coordinate k of all points is y_t[k * m..(k + 1) * m].
        y_t: &'a [f64],
        power: Power,
    },
    Given(&'a [f64]),
}

/// One row of exponents w_j - C_ij / eps and their largest value, then, with `absorb`,
/// e^(exponent - largest) in their place.
struct RowExponents<'a> {
    costs: CostRow<'a>,
    w: &'a [f64],
    inv_eps: f64,
    row: &'a mut [f64],
    absorb: bool,
}

impl IsaJob for RowExponents<'_> {
    type Output = f64;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> f64 {
        let (m, inv_eps) = (self.row.len(), self.inv_eps);
        let row = self.row;
        let w = &self.w[..m];
        match self.costs {
            CostRow::Points { xi, y_t, power } => {
                row.fill(0.0);
                // Coordinate by coordinate over the whole row (in cache): loops that
                // vectorise.
                for (k, &xk) in xi.iter().enumerate() {
                    for (v, &yk) in row.iter_mut().zip(&y_t[k * m..(k + 1) * m]) {
                        let diff = xk - yk;
                        *v += diff * diff;
                    }
                }
                match power {
                    Power::Two => row
                        .iter_mut()
                        .zip(w)
                        .for_each(|(v, wj)| *v = wj - *v * inv_eps),
                    Power::One => row
                        .iter_mut()
                        .zip(w)
                        .for_each(|(v, wj)| *v = wj - v.sqrt() * inv_eps),
                    power => row
                        .iter_mut()
                        .zip(w)
                        .for_each(|(v, wj)| *v = wj - power.scalar::<false>(*v) * inv_eps),
                }
            }
            CostRow::Given(c) => {
                for ((v, wj), c) in row.iter_mut().zip(w).zip(&c[..m]) {
                    *v = wj - c * inv_eps;
                }
            }
        }
        let mut mx = f64::NEG_INFINITY;
        for v in row.iter() {
            mx = if *v > mx { *v } else { mx };
        }
        if self.absorb {
            let shift = -mx;
            for v in row.iter_mut() {
                *v = exp::<FMA>(*v + shift);
            }
        }
        mx
    }
}

/// e^((v_j + alpha) + beta_j) over a row, in place: a kernel row built for the Y side.
struct AbsorbColumns<'a> {
    row: &'a mut [f64],
    alpha: f64,
    beta: &'a [f64],
}

impl IsaJob for AbsorbColumns<'_> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        // alpha, then beta, added in the order the maxima were taken, so that each
        // column's largest entry is exactly e^0.
        for (v, b) in self.row.iter_mut().zip(self.beta) {
            *v = exp::<FMA>((*v + self.alpha) + b);
        }
    }
}

/// sum_j e_ij b_j for each row i of `rows` (each of length m), in DOT_LANES interleaved
/// partial sums per row (a fixed order, and vectorised). Plain multiplies and adds, no
/// FMA: the same result on every instruction set. Compiled per instruction set: the
/// products are memory-bound, and at SSE2 width they reached about half of the bandwidth
/// that AVX2/AVX-512 code reaches. Four rows per sweep of `b`, each with its own partial
/// sums (the same additions as one row at a time): four streams from memory instead of
/// one, as the column sums read them, which reached 1.5x the bandwidth of one row at a
/// time (n = 4,000: 7.9 -> 6.2 ms per Sinkhorn iteration; eight rows gained nothing).
struct RowDots<'a> {
    rows: &'a [f64],
    b: &'a [f64],
    m: usize,
}

impl IsaJob for RowDots<'_> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> Vec<f64> {
        let (m, b) = (self.m, self.b);
        let body = m / DOT_LANES * DOT_LANES;
        let mut out = Vec::with_capacity(self.rows.len() / m);
        let quads = self.rows.chunks_exact(4 * m);
        let single = quads.remainder();
        // Fixed-size chunks and named accumulators: an array of arrays indexed by row
        // was not vectorised.
        #[inline(always)]
        fn chunk(v: &[f64], c: usize) -> &[f64; DOT_LANES] {
            v[c..c + DOT_LANES].try_into().unwrap()
        }
        for rows in quads {
            let (r0, rest) = rows.split_at(m);
            let (r1, rest) = rest.split_at(m);
            let (r2, r3) = rest.split_at(m);
            let mut l0 = [0.0f64; DOT_LANES];
            let mut l1 = [0.0f64; DOT_LANES];
            let mut l2 = [0.0f64; DOT_LANES];
            let mut l3 = [0.0f64; DOT_LANES];
            for c in (0..body).step_by(DOT_LANES) {
                let y = chunk(b, c);
                let (x0, x1, x2, x3) = (chunk(r0, c), chunk(r1, c), chunk(r2, c), chunk(r3, c));
                for k in 0..DOT_LANES {
                    l0[k] += x0[k] * y[k];
                    l1[k] += x1[k] * y[k];
                    l2[k] += x2[k] * y[k];
                    l3[k] += x3[k] * y[k];
                }
            }
            for (acc, row) in [(&l0, r0), (&l1, r1), (&l2, r2), (&l3, r3)] {
                out.push(finish_dot(acc, &row[body..], &b[body..]));
            }
        }
        for row in single.chunks_exact(m) {
            let mut acc = [0.0f64; DOT_LANES];
            for c in (0..body).step_by(DOT_LANES) {
                let (x, y) = (chunk(row, c), chunk(b, c));
                for k in 0..DOT_LANES {
                    acc[k] += x[k] * y[k];
                }
            }
            out.push(finish_dot(&acc, &row[body..], &b[body..]));
        }
        out
    }
}

/// A dot product's partial sums added in lane order, plus its tail (the last m mod
/// DOT_LANES terms) summed one by one.
#[inline(always)]
fn finish_dot(lanes: &[f64; DOT_LANES], a: &[f64], b: &[f64]) -> f64 {
    let mut tail = 0.0;
    for (a, b) in a.iter().zip(b) {
        tail += a * b;
    }
    let mut total = 0.0;
    for l in lanes {
        total += l;
    }
    total + tail
}

/// acc_j += sum_i v_i e_ij over a block of rows of `rows` (each of length m), added in
/// row order: a block's sums taken part by part into the same `acc` are the same.
struct ColumnSums<'a> {
    rows: &'a [f64],
    v: &'a [f64],
    m: usize,
    acc: &'a mut [f64],
}

impl IsaJob for ColumnSums<'_> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let m = self.m;
        let acc = self.acc;
        // Four rows per sweep of `acc`: a quarter of its loads and stores, and the same
        // additions in the same order as one row at a time (a zero v_i adds zeros).
        let quads = self.rows.chunks_exact(4 * m).zip(self.v.chunks_exact(4));
        let tail_rows = self.v.len() / 4 * 4;
        for (rows, v) in quads {
            let (r0, rest) = rows.split_at(m);
            let (r1, rest) = rest.split_at(m);
            let (r2, r3) = rest.split_at(m);
            for j in 0..m {
                let mut a = acc[j];
                a += v[0] * r0[j];
                a += v[1] * r1[j];
                a += v[2] * r2[j];
                a += v[3] * r3[j];
                acc[j] = a;
            }
        }
        for (row, &vi) in self.rows[tail_rows * m..]
            .chunks_exact(m)
            .zip(&self.v[tail_rows..])
        {
            for (a, e) in acc.iter_mut().zip(row) {
                *a += vi * e;
            }
        }
    }
}

/// Whether the stored kernel serves exponents `w` on a side with `absorbed`: each
/// finite w_j within DRIFT of a finite beta_j (a -inf w_j is a zero term whatever
/// the kernel holds).
fn within_drift(w: &[f64], absorbed: &[f64]) -> bool {
    w.iter().zip(absorbed).all(|(w, a)| serves(*w, *a))
}

/// Whether one exponent w is served by a line of the kernel that absorbed `absorbed`.
#[inline]
fn serves(w: f64, absorbed: f64) -> bool {
    w == f64::NEG_INFINITY || (absorbed.is_finite() && (w - absorbed).abs() <= DRIFT)
}

impl OnPoints for GibbsKernel<CloudCost> {
    fn cloud(&self) -> &CloudCost {
        &self.fallback
    }
}

impl<F: KernelFallback> Softmin for GibbsKernel<F> {
    fn len(&self, side: Side) -> usize {
        self.fallback.len(side)
    }

    fn lse(
        &self,
        side: Side,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        weighted: bool,
        ctl: &Control,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        if weighted {
            return self.fallback.lse(side, w, eps, hint, true, ctl);
        }
        let (rows, cols) = (self.fallback.len(side), self.fallback.len(other(side)));
        crate::ot::softmin::check_lse_args(rows, cols, w, eps, hint)?;
        let mut slot = self.kernel.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = slot.as_ref() {
            let absorbed = match side {
                Side::X => &k.beta,
                Side::Y => &k.alpha,
            };
            if k.eps == eps && within_drift(w, absorbed) {
                if let Some(lse) = self.apply(k, side, w) {
                    return Ok((lse, Vec::new()));
                }
            }
        }
        // Absorb w: the kernel's largest entry per line is now exactly 1, so every sum
        // is >= 1 (the streamed path is the fallback should that ever fail).
        let k = self.build(side, w, eps, slot.take(), ctl)?;
        let Some(lse) = self.apply(&k, side, w) else {
            *slot = None;
            return self.fallback.lse(side, w, eps, hint, false, ctl);
        };
        *slot = Some(k);
        Ok((lse, Vec::new()))
    }

    fn lse_then_next(
        &self,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        next: &(dyn Fn(usize, f64) -> f64 + Sync),
        ctl: &Control,
    ) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        crate::ot::softmin::check_lse_args(self.n, self.m, w, eps, hint)?;
        {
            let mut slot = self.kernel.lock().unwrap_or_else(|e| e.into_inner());
            let served = |k: &Kernel| k.eps == eps && within_drift(w, &k.beta);
            if !slot.as_ref().is_some_and(served) {
                *slot = Some(self.build(Side::X, w, eps, slot.take(), ctl)?);
            }
            if let Some(both) = self.apply_then_next(slot.as_ref().unwrap(), w, next) {
                return Ok(both);
            }
        }
        // Some row's sum was not exact: as `lse` does.
        Ok((self.lse(Side::X, w, eps, hint, false, ctl)?.0, None))
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::X => Side::Y,
        Side::Y => Side::X,
    }
}

#[cfg(test)]
mod tests;
