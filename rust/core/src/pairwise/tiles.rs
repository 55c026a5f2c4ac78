//! Tiles of a radial kernel matrix for the streamed products of `kernel_product`: of a
//! sample with itself (zero diagonal) or of one sample against another, squared
//! distances by coordinate differences or, from d = `GRAM_FROM_D`, on the Gram path.

use std::ops::Range;

use ndarray::ArrayView2;

use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::pairwise::differences::PackedPoints;
use crate::pairwise::gram::{chunk_dots, finish_sqdist, GramPoints, GramRows, Originals};
use crate::pairwise::kernel_product::{
    blocks_of, store_block, zero_diagonal, TileSource, GRAM_ROWS, ROWS,
};
use crate::pairwise::kernels::{with_radial, Kernel, Radial};
use crate::pairwise::{use_gram, with_group_rows, LANES};

/// A kernel matrix, tile by tile: of z with itself with a zero diagonal (`new`), or of
/// the rows of x against the points of y (`cross`). Squared distances by coordinate
/// differences, or from d = `GRAM_FROM_D` on the Gram path.
pub(crate) struct RadialTiles {
    kernel: Kernel,
    /// The row points, row-major.
    rows: Vec<f64>,
    /// The column points, row-major, when they are not the row points.
    cols: Option<Vec<f64>>,
    d: usize,
    n: usize,
    n_cols: usize,
    /// The column points packed for the difference path.
    packed: PackedPoints,
    /// The column points packed for the Gram path, from d = `GRAM_FROM_D`.
    gram: Option<GramPoints<f64>>,
}

fn row_major(z: ArrayView2<'_, f64>) -> Vec<f64> {
    z.rows().into_iter().flatten().copied().collect()
}

impl RadialTiles {
    pub(crate) fn new(z: ArrayView2<'_, f64>, kernel: Kernel) -> Self {
        let (n, d) = z.dim();
        let gram = use_gram::<f64>(d).then(|| GramPoints::pack(z.view(), None, None));
        Self {
            kernel,
            rows: row_major(z),
            cols: None,
            d,
            n,
            n_cols: n,
            packed: PackedPoints::pack(z, None),
            gram,
        }
    }

    /// k(x_i, y_j) for every pair, the diagonal included (x and y are different
    /// samples, or different blocks of one); on the Gram path centred on their pooled
    /// mean.
    pub(crate) fn cross(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, kernel: Kernel) -> Self {
        let (n, d) = x.dim();
        let gram = use_gram::<f64>(d).then(|| GramPoints::pack(y.view(), None, Some(x.view())));
        Self {
            kernel,
            rows: row_major(x),
            cols: Some(row_major(y)),
            d,
            n,
            n_cols: y.nrows(),
            packed: PackedPoints::pack(y, None),
            gram,
        }
    }

    fn symmetric(&self) -> bool {
        self.cols.is_none()
    }

    fn col_points(&self) -> &[f64] {
        self.cols.as_deref().unwrap_or(&self.rows)
    }

    /// Fill `out` with the squared distances of a tile, as [`TileSource::fill`] does
    /// the kernel values (the diagonal of a symmetric source is zero either way), for
    /// callers that evaluate several kernels on one tile.
    pub(crate) fn fill_sqdist(&self, rows: Range<usize>, cols: Range<usize>, out: &mut [f64]) {
        self.fill_with(&SquaredDistance, rows, cols, out)
    }

    fn fill_with<K: Radial>(&self, k: &K, rows: Range<usize>, cols: Range<usize>, out: &mut [f64]) {
        let isa = Isa::current();
        match &self.gram {
            Some(gram) => dispatch(
                isa,
                FillGram {
                    isa,
                    k,
                    src: self,
                    gram,
                    rows,
                    cols,
                    out,
                },
            ),
            None => dispatch(
                isa,
                FillRadial {
                    k,
                    src: self,
                    rows,
                    cols,
                    out,
                },
            ),
        }
    }
}

/// The squared distance itself, as a "kernel" of the tile fills.
#[derive(Clone, Copy)]
struct SquaredDistance;

impl Radial for SquaredDistance {
    #[inline(always)]
    fn eval<const FMA: bool>(&self, d2: f64) -> f64 {
        d2
    }
}

/// One tile on the Gram path as a job for [`dispatch`].
struct FillGram<'a, K> {
    isa: Isa,
    k: &'a K,
    src: &'a RadialTiles,
    gram: &'a GramPoints<f64>,
    rows: Range<usize>,
    cols: Range<usize>,
    out: &'a mut [f64],
}

impl<K: Radial> IsaJob for FillGram<'_, K> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        with_group_rows!(self.isa, f64, |G| fill_gram::<K, G, FMA>(self))
    }
}

#[inline(always)]
fn fill_gram<K: Radial, const G: usize, const FMA: bool>(job: FillGram<'_, K>) {
    let FillGram {
        isa,
        k,
        src,
        gram,
        rows,
        cols,
        out,
    } = job;
    let z = ArrayView2::from_shape((src.n, src.d), &src.rows[..]).expect("n x d rows");
    let y = ArrayView2::from_shape((src.n_cols, src.d), src.col_points()).expect("columns x d");
    let packed = GramRows::pack(&z, rows.clone(), G, gram);
    let blocks = blocks_of(&cols);
    let nb = blocks.len();
    let mut dots = vec![[[0.0f64; LANES]; G]; packed.n_groups() * nb];
    chunk_dots::<f64, G, FMA>(isa, &packed, gram, blocks.clone(), &mut dots);
    let orig = Originals { x: &z, y: &y };
    let width = cols.len();
    let mut d2 = [[0.0f64; LANES]; G];
    for q in 0..packed.n_groups() {
        let (_, gn) = packed.group(q);
        let row0 = rows.start + q * G;
        for b in blocks.clone() {
            let dot = &dots[q * nb + b - blocks.start];
            finish_sqdist(dot, gn, gram, b, row0, &orig, |_, _| true, &mut d2);
            for (r, d2r) in d2
                .iter()
                .enumerate()
                .take(rows.end.saturating_sub(row0).min(G))
            {
                let a = row0 + r - rows.start;
                let mut vals = [0.0f64; LANES];
                for j in 0..LANES {
                    vals[j] = k.eval::<FMA>(d2r[j]);
                }
                store_block(&mut out[a * width..(a + 1) * width], &cols, b, &vals);
            }
        }
    }
    if src.symmetric() {
        for (a, i) in rows.enumerate() {
            zero_diagonal(&mut out[a * width..(a + 1) * width], &cols, i);
        }
    }
}

struct FillRadial<'a, K> {
    k: &'a K,
    src: &'a RadialTiles,
    rows: Range<usize>,
    cols: Range<usize>,
    out: &'a mut [f64],
}

impl<K: Radial> IsaJob for FillRadial<'_, K> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        let FillRadial {
            k,
            src,
            rows,
            cols,
            out,
        } = self;
        let (d, width) = (src.d, cols.len());
        for (a, i) in rows.enumerate() {
            let xrow = &src.rows[i * d..(i + 1) * d];
            let out_row = &mut out[a * width..(a + 1) * width];
            for b in blocks_of(&cols) {
                let d2 = src.packed.block_sqdist::<FMA>(xrow, b);
                let mut vals = [0.0f64; LANES];
                for j in 0..LANES {
                    vals[j] = k.eval::<FMA>(d2[j]);
                }
                store_block(out_row, &cols, b, &vals);
            }
            if src.symmetric() {
                zero_diagonal(out_row, &cols, i);
            }
        }
    }
}

impl TileSource for RadialTiles {
    fn row_tile(&self) -> usize {
        if self.gram.is_some() {
            GRAM_ROWS
        } else {
            ROWS
        }
    }
    fn n_rows(&self) -> usize {
        self.n
    }
    fn n_cols(&self) -> usize {
        self.n_cols
    }
    fn fill(&self, rows: Range<usize>, cols: Range<usize>, out: &mut [f64]) {
        with_radial!(self.kernel, |k| self.fill_with(&k, rows, cols, out))
    }
}
