//! The pairwise kernel-sum engine.
//!
//! Computes, without forming any n x m matrix,
//!
//! * `cross_sum`:       sum_ij  w_i v_j k(x_i, y_j)
//! * `self_sum_offdiag`: sum_{i != j} w_i w_j k(x_i, x_j), each pair evaluated once
//! * `row_sums`:        (K v)_i = sum_j v_j k(x_i, y_j)
//!
//! Two paths (`crate::pairwise`), chosen from the dimension: below
//! `pairwise::GRAM_FROM_D`, squared distances from coordinate differences; from it on,
//! from the Gram expansion with its exact recheck (`GramJob`), where a pair costs one
//! FMA per coordinate instead of a subtract and an FMA, and float32 input is multiplied
//! in float32. Both give sums within 1e-10 of the exact ones for float64 input.
//!
//! Layout (difference path). The column points are packed once into blocks of `LANES`
//! points stored coordinate-major (block b, coordinate k holds `LANES` contiguous
//! values), so the distance loop over a block is a straight run of SIMD subtract/FMA and
//! the kernel (`exp`, `sqrt`) is evaluated on all lanes at once. Differences never
//! cancel, which keeps near-duplicate points exact for the energy and Laplace kernels
//! (sqrt amplifies cancellation error); the Gram path gets the same by recomputing the
//! pairs its rounding bound cannot vouch for.
//!
//! Tiling. Rows are processed in tiles of `ROW_TILE` (`GRAM_ROW_TILE` on the Gram
//! path), one Rayon task each; within a tile, columns are visited in chunks of blocks
//! sized to stay in L1 (L2 on the Gram path) while every row of the tile streams over
//! them.
//!
//! Determinism and accuracy. Tile boundaries depend only on the shapes, each row keeps
//! `LANES` partial sums per chunk that are folded (fixed tree order) into a per-row
//! Neumaier accumulator, and tile totals are combined in tile order after the parallel
//! map. The result is therefore bitwise identical for any number of threads, and the
//! relative error stays ~1e-14 even for 10^12 pairs.

use std::ops::Range;

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::arith::exp::fma;
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::{neumaier_sum, Neumaier};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::gram::{chunk_dots, finish_sqdist, GramPoints, GramRows, Originals};
use crate::pairwise::kernels::{with_radial, Kernel, Radial};
use crate::pairwise::{with_group_rows, PairPath, Real};

use crate::pairwise::differences::{block_sqdist_into, hsum, PackedPoints};
use crate::pairwise::LANES;
/// Rows per parallel task; a multiple of `LANES` so diagonal tiles align with blocks.
const ROW_TILE: usize = 4 * LANES;
/// Bytes of packed column coordinates visited per chunk (fits L1 with room for rows).
const CHUNK_BYTES: usize = 24 * 1024;

/// Which pairs a tile sums over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pairs {
    /// Every column.
    All,
    /// Columns j > i (rows and columns are the same points).
    Upper,
}

/// acc_j += w_j k(x, y_j) for the `LANES` points of one block.
#[inline(always)]
fn block_acc<K: Radial, const FMA: bool>(
    k: &K,
    xrow: &[f64],
    coords: &[f64],
    w: &[f64; LANES],
    acc: &mut [f64; LANES],
) {
    let mut d2 = [0.0f64; LANES];
    block_sqdist_into::<FMA>(xrow, coords, &mut d2);
    for j in 0..LANES {
        acc[j] = fma::<FMA>(w[j], k.eval::<FMA>(d2[j]), acc[j]);
    }
}

/// Add, for each row of the tile, its sum over the column blocks in `blocks`.
#[inline(always)]
fn rows_vs_blocks<K: Radial, const FMA: bool>(
    k: &K,
    rows: &[f64],
    cols: &PackedPoints,
    blocks: Range<usize>,
    row_acc: &mut [Neumaier],
) {
    let d = cols.dim();
    let chunk = (CHUNK_BYTES / (d * LANES * 8)).max(1);
    let mut b0 = blocks.start;
    while b0 < blocks.end {
        let b1 = (b0 + chunk).min(blocks.end);
        for (xrow, ra) in rows.chunks_exact(d).zip(row_acc.iter_mut()) {
            let mut acc = [0.0f64; LANES];
            for b in b0..b1 {
                let (c, w) = cols.block(b);
                block_acc::<K, FMA>(k, xrow, c, w, &mut acc);
            }
            ra.add(hsum(&acc));
        }
        b0 = b1;
    }
}

/// Row sums for rows `r0..r1` of `x` against `cols`.
#[inline(always)]
fn tile_rows<T: Real, K: Radial, const FMA: bool>(
    k: &K,
    x: &ArrayView2<'_, T>,
    r0: usize,
    r1: usize,
    cols: &PackedPoints,
    pairs: Pairs,
) -> Vec<f64> {
    let d = cols.dim();
    let mut rows = Vec::with_capacity((r1 - r0) * d);
    for i in r0..r1 {
        rows.extend(x.row(i).iter().map(|v| v.to_f64()));
    }
    let mut row_acc = vec![Neumaier::new(); r1 - r0];
    match pairs {
        Pairs::All => rows_vs_blocks::<K, FMA>(k, &rows, cols, 0..cols.n_blocks(), &mut row_acc),
        Pairs::Upper => {
            // Blocks overlapping the tile: keep only columns j > i, by zeroing weights.
            let bd0 = r0 / LANES;
            let bd1 = r1.div_ceil(LANES);
            for (li, (xrow, ra)) in rows.chunks_exact(d).zip(row_acc.iter_mut()).enumerate() {
                let i = r0 + li;
                let mut acc = [0.0f64; LANES];
                for b in bd0..bd1 {
                    let start = b * LANES;
                    if start + LANES <= i + 1 {
                        continue;
                    }
                    let (c, w) = cols.block(b);
                    let mut wm = *w;
                    for (j, wj) in wm.iter_mut().enumerate() {
                        if start + j <= i {
                            *wj = 0.0;
                        }
                    }
                    block_acc::<K, FMA>(k, xrow, c, &wm, &mut acc);
                }
                ra.add(hsum(&acc));
            }
            rows_vs_blocks::<K, FMA>(k, &rows, cols, bd1..cols.n_blocks(), &mut row_acc);
        }
    }
    row_acc.iter().map(Neumaier::value).collect()
}

/// One row tile as a job for [`dispatch`].
struct TileJob<'a, 'x, T, K> {
    k: &'a K,
    x: &'a ArrayView2<'x, T>,
    rows: Range<usize>,
    cols: &'a PackedPoints,
    pairs: Pairs,
}

impl<T: Real, K: Radial> IsaJob for TileJob<'_, '_, T, K> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> Vec<f64> {
        tile_rows::<T, K, FMA>(
            self.k,
            self.x,
            self.rows.start,
            self.rows.end,
            self.cols,
            self.pairs,
        )
    }
}

/// Row sums of every tile of `x` against `cols` by coordinate differences, in row order.
fn difference_row_sums<T: Real>(
    isa: Isa,
    kernel: Kernel,
    x: ArrayView2<'_, T>,
    cols: &PackedPoints,
    pairs: Pairs,
    ctl: &Control,
) -> Result<Vec<Vec<f64>>> {
    tiles_in_parallel(x.nrows(), ROW_TILE, ctl, |rows| {
        with_radial!(kernel, |k| dispatch(
            isa,
            TileJob {
                k: &k,
                x: &x,
                rows,
                cols,
                pairs
            }
        ))
    })
}

/// `tile(rows)` for consecutive ranges of `tile_rows` rows out of `n`, in parallel,
/// collected in row order; an error if cancelled.
fn tiles_in_parallel(
    n: usize,
    tile_rows: usize,
    ctl: &Control,
    tile: impl Fn(Range<usize>) -> Vec<f64> + Sync,
) -> Result<Vec<Vec<f64>>> {
    let tiles: Vec<Vec<f64>> = (0..n.div_ceil(tile_rows))
        .into_par_iter()
        .map(|t| {
            if ctl.is_cancelled() {
                return Vec::new();
            }
            let r0 = t * tile_rows;
            tile(r0..(r0 + tile_rows).min(n))
        })
        .collect();
    ctl.check()?;
    Ok(tiles)
}

/// Rows per parallel task of the Gram path: every column coordinate brought from memory
/// serves this many rows (at d = 2048 with 64 rows per task, refetching the columns from
/// memory bounded the run at about half of the FMA rate).
const GRAM_ROW_TILE: usize = 256;
/// Column blocks per chunk of the Gram path: a k-chunk of the chunk's columns (128 KiB)
/// and of the tile's rows (256 KiB in f64), and the chunk's inner products with the
/// tile (256 KiB), stay in L2 while the k-chunks pass.
const GRAM_CHUNK_BLOCKS: usize = 8;

/// Row sums for rows `rows` of `x` against `cols` on the Gram path, `G` rows at a time.
///
/// Blocked as a GEMM: for each chunk of column blocks, the inner products of every row
/// group with every block are accumulated k-chunk by k-chunk (a block's k-chunk stays
/// in L1 while the tile's row groups pass over it), then turned into squared distances,
/// rechecked, and summed through the kernel.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gram_tile_rows<T: Real, K: Radial, const G: usize, const FMA: bool>(
    isa: Isa,
    k: &K,
    x: &ArrayView2<'_, T>,
    rows: Range<usize>,
    cols: &GramPoints<T>,
    src: &Originals<'_, '_, T>,
    pairs: Pairs,
) -> Vec<f64> {
    let (r0, r1) = (rows.start, rows.end);
    let packed = GramRows::pack(x, r0..r1, G, cols);
    let n_groups = packed.n_groups();
    let mut row_acc = vec![Neumaier::new(); r1 - r0];
    let nb = cols.n_blocks();
    let first = match pairs {
        Pairs::All => 0,
        Pairs::Upper => r0 / LANES,
    };
    let mut dots = vec![[[T::default(); LANES]; G]; n_groups * GRAM_CHUNK_BLOCKS];
    let mut d2 = [[0.0f64; LANES]; G];
    let mut b0 = first;
    while b0 < nb {
        let b1 = (b0 + GRAM_CHUNK_BLOCKS).min(nb);
        let width = b1 - b0;
        chunk_dots::<T, G, FMA>(isa, &packed, cols, b0..b1, &mut dots);
        for q in 0..n_groups {
            let (_, gn) = packed.group(q);
            let row0 = r0 + q * G;
            let mut acc = [[0.0f64; LANES]; G];
            for b in b0..b1 {
                let (_, _, w) = cols.block(b);
                let dot = &dots[q * width + b - b0];
                let c0 = b * LANES;
                // A self sum keeps columns j > i only: each pair once, no diagonal.
                if pairs == Pairs::Upper && c0 < row0 + G {
                    finish_sqdist(
                        dot,
                        gn,
                        cols,
                        b,
                        row0,
                        src,
                        |r, j| c0 + j > row0 + r,
                        &mut d2,
                    );
                    for r in 0..G {
                        for j in 0..LANES {
                            let wj = if c0 + j > row0 + r { w[j] } else { 0.0 };
                            acc[r][j] = fma::<FMA>(wj, k.eval::<FMA>(d2[r][j]), acc[r][j]);
                        }
                    }
                } else {
                    finish_sqdist(dot, gn, cols, b, row0, src, |_, _| true, &mut d2);
                    for r in 0..G {
                        for j in 0..LANES {
                            acc[r][j] = fma::<FMA>(w[j], k.eval::<FMA>(d2[r][j]), acc[r][j]);
                        }
                    }
                }
            }
            for (r, a) in acc.iter().enumerate().take(r1.saturating_sub(row0).min(G)) {
                row_acc[q * G + r].add(hsum(a));
            }
        }
        b0 = b1;
    }
    row_acc.iter().map(Neumaier::value).collect()
}

/// One row tile of the Gram path as a job for [`dispatch`].
struct GramJob<'a, 'x, T, K> {
    k: &'a K,
    x: &'a ArrayView2<'x, T>,
    rows: Range<usize>,
    cols: &'a GramPoints<T>,
    src: &'a Originals<'a, 'x, T>,
    pairs: Pairs,
    isa: Isa,
}

impl<T: Real, K: Radial> IsaJob for GramJob<'_, '_, T, K> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> Vec<f64> {
        let Self {
            k,
            x,
            rows,
            cols,
            src,
            pairs,
            isa,
        } = self;
        with_group_rows!(isa, T, |G| gram_tile_rows::<T, K, G, FMA>(
            isa, k, x, rows, cols, src, pairs
        ))
    }
}

/// Row sums of every tile of `x` against `y` (weights `wy`) on the Gram path.
fn gram_row_sums<T: Real>(
    isa: Isa,
    kernel: Kernel,
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    wy: Option<ArrayView1<'_, f64>>,
    pairs: Pairs,
    ctl: &Control,
) -> Result<Vec<Vec<f64>>> {
    let rows_too = match pairs {
        Pairs::Upper => None,
        Pairs::All => Some(x.view()),
    };
    let cols = GramPoints::pack(y.view(), wy, rows_too);
    let src = Originals { x: &x, y: &y };
    tiles_in_parallel(x.nrows(), GRAM_ROW_TILE, ctl, |rows| {
        with_radial!(kernel, |k| dispatch(
            isa,
            GramJob {
                k: &k,
                x: &x,
                rows,
                cols: &cols,
                src: &src,
                pairs,
                isa
            }
        ))
    })
}

/// Row sums of every tile of `x` against `y` (weights `wy`; `y` is `x` for `Upper`),
/// on the path the dimension and the element type call for.
#[allow(clippy::too_many_arguments)]
fn tiled_row_sums<T: Real>(
    path: PairPath,
    isa: Isa,
    kernel: Kernel,
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    wy: Option<ArrayView1<'_, f64>>,
    pairs: Pairs,
    ctl: &Control,
) -> Result<Vec<Vec<f64>>> {
    if path.gram::<T>(x.ncols()) {
        gram_row_sums(isa, kernel, x, y, wy, pairs, ctl)
    } else {
        let packed = PackedPoints::pack(y, wy);
        difference_row_sums(isa, kernel, x, &packed, pairs, ctl)
    }
}

/// sum_i w_i r_i over tiles of row sums, compensated, in row order.
fn weighted_total(tiles: &[Vec<f64>], w: Option<ArrayView1<'_, f64>>) -> f64 {
    let mut offset = 0;
    neumaier_sum(tiles.iter().map(|rows| {
        let s = neumaier_sum(rows.iter().enumerate().map(|(li, &r)| match w {
            Some(w) => w[offset + li] * r,
            None => r,
        }));
        offset += rows.len();
        s
    }))
}

pub(crate) fn check_points<T>(
    name: &str,
    x: &ArrayView2<'_, T>,
    w: Option<ArrayView1<'_, f64>>,
) -> Result<()> {
    if x.ncols() == 0 {
        return invalid(format!("{name} has zero features (columns)"));
    }
    if let Some(w) = w {
        if w.len() != x.nrows() {
            return invalid(format!(
                "weights of {name} have length {} but {name} has {} points",
                w.len(),
                x.nrows()
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_same_dim<T>(x: &ArrayView2<'_, T>, y: &ArrayView2<'_, T>) -> Result<()> {
    if x.ncols() != y.ncols() {
        return invalid(format!(
            "x and y must have the same number of features, got {} and {}",
            x.ncols(),
            y.ncols()
        ));
    }
    Ok(())
}

/// [`cross_sum`] on a given path and instruction set (for tests and benchmarks).
#[allow(clippy::too_many_arguments)]
pub fn cross_sum_on<T: Real>(
    path: PairPath,
    isa: Isa,
    x: ArrayView2<'_, T>,
    wx: Option<ArrayView1<'_, f64>>,
    y: ArrayView2<'_, T>,
    wy: Option<ArrayView1<'_, f64>>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<f64> {
    check_points("x", &x, wx)?;
    check_points("y", &y, wy)?;
    check_same_dim(&x, &y)?;
    kernel.validate()?;
    // The kernel is symmetric: tile over the larger side so that small-by-large
    // problems still split into many tasks. The choice depends on shapes only.
    let (rows, wr, cols, wc) = if x.nrows() >= y.nrows() {
        (x, wx, y, wy)
    } else {
        (y, wy, x, wx)
    };
    let tiles = tiled_row_sums(path, isa, kernel, rows, cols, wc, Pairs::All, ctl)?;
    Ok(weighted_total(&tiles, wr))
}

/// [`self_sum_offdiag`] on a given path and instruction set (for tests and benchmarks).
pub fn self_sum_offdiag_on<T: Real>(
    path: PairPath,
    isa: Isa,
    x: ArrayView2<'_, T>,
    w: Option<ArrayView1<'_, f64>>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<f64> {
    check_points("x", &x, w)?;
    kernel.validate()?;
    let tiles = tiled_row_sums(path, isa, kernel, x.view(), x, w, Pairs::Upper, ctl)?;
    Ok(2.0 * weighted_total(&tiles, w))
}

/// sum_ij wx_i wy_j k(x_i, y_j) over all pairs (weights default to 1).
pub fn cross_sum<T: Real>(
    x: ArrayView2<'_, T>,
    wx: Option<ArrayView1<'_, f64>>,
    y: ArrayView2<'_, T>,
    wy: Option<ArrayView1<'_, f64>>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<f64> {
    cross_sum_on(PairPath::Auto, Isa::current(), x, wx, y, wy, kernel, ctl)
}

/// sum_{i != j} w_i w_j k(x_i, x_j): the diagonal excluded, each unordered pair evaluated
/// once (weights default to 1).
pub fn self_sum_offdiag<T: Real>(
    x: ArrayView2<'_, T>,
    w: Option<ArrayView1<'_, f64>>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<f64> {
    self_sum_offdiag_on(PairPath::Auto, Isa::current(), x, w, kernel, ctl)
}

/// (K v)_i = sum_j v_j k(x_i, y_j) for every row i of x (v defaults to 1).
pub fn row_sums<T: Real>(
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    v: Option<ArrayView1<'_, f64>>,
    kernel: Kernel,
    ctl: &Control,
) -> Result<Vec<f64>> {
    check_points("x", &x, None)?;
    check_points("y", &y, v)?;
    check_same_dim(&x, &y)?;
    kernel.validate()?;
    let tiles = tiled_row_sums(
        PairPath::Auto,
        Isa::current(),
        kernel,
        x,
        y,
        v,
        Pairs::All,
        ctl,
    )?;
    Ok(tiles.concat())
}

#[cfg(test)]
mod tests;
