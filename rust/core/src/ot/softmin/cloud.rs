use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{Array2, ArrayView2};

use crate::arith::sum::{neumaier_sum, Neumaier};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::differences::PackedPoints;
use crate::pairwise::LANES;

use super::block_tree::{BlockTree, Truncation};
use super::cost::{CloudBlocks, Distance, Ground, Power, PowerOf, Squared};
use super::stripes::{run_stripes, stripe_count, NextLse, NextSums};
use super::tiles::{run_tiles, NextExponent, Pass};
use super::{check_lse_args, padded_weights, whole_blocks, Side, Softmin};

/// Indices of `x`'s rows in a spatial order: recursive median splits along the widest
/// axis, with every left part a multiple of `LANES` points, so that consecutive blocks
/// of `LANES` are compact clusters. Deterministic (no dependence on threads).
pub(super) fn spatial_order(x: ArrayView2<'_, f64>) -> Vec<usize> {
    fn split(x: &ArrayView2<'_, f64>, idx: &mut [usize]) {
        if idx.len() <= LANES {
            return;
        }
        let widest = (0..x.ncols())
            .map(|k| {
                let (lo, hi) = idx
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                        (lo.min(x[[i, k]]), hi.max(x[[i, k]]))
                    });
                (hi - lo, k)
            })
            .fold(
                (f64::NEG_INFINITY, 0),
                |best, e| if e.0 > best.0 { e } else { best },
            )
            .1;
        let half = whole_blocks(idx.len() / 2);
        idx.select_nth_unstable_by(half, |&a, &b| x[[a, widest]].total_cmp(&x[[b, widest]]));
        let (left, right) = idx.split_at_mut(half);
        if left.len() > 4096 {
            rayon::join(|| split(x, left), || split(x, right));
        } else {
            split(x, left);
            split(x, right);
        }
    }
    let mut idx: Vec<usize> = (0..x.nrows()).collect();
    split(&x, &mut idx);
    idx
}

/// One side of a point-cloud problem in spatial order.
pub(super) struct SortedSide {
    /// `order[k]` is the original index of sorted point k.
    pub(super) order: Vec<usize>,
    /// Coordinates, row-major, in sorted order.
    pub(super) rows: Vec<f64>,
    pub(super) packed: PackedPoints,
    /// Per block of `LANES` sorted points: lo (d values) then hi (d values).
    pub(super) boxes: Vec<f64>,
    pub(super) tree: BlockTree,
}

impl SortedSide {
    pub(super) fn new(x: ArrayView2<'_, f64>) -> SortedSide {
        let order = spatial_order(x);
        let sorted = x.select(ndarray::Axis(0), &order);
        let d = x.ncols();
        let mut boxes = Vec::with_capacity(2 * d * order.len().div_ceil(LANES));
        for block in sorted.axis_chunks_iter(ndarray::Axis(0), LANES) {
            for f in [f64::min, f64::max] {
                for k in 0..d {
                    boxes.push(block.column(k).iter().copied().reduce(f).unwrap());
                }
            }
        }
        SortedSide {
            packed: PackedPoints::pack(sorted.view(), None),
            rows: sorted.iter().copied().collect(),
            tree: BlockTree::new(order.len(), d, &boxes),
            order,
            boxes,
        }
    }

    /// The tree's nodes of at most `max_points` points (at least one block) that are not
    /// inside another such node: a partition of the side into compact clusters. Returns
    /// their weighted means (plain means for clusters of zero weight), total weights
    /// (`w` in original order, output in cluster order), each point's cluster
    /// (original order), and the weighted mean squared distance of the points to their
    /// cluster's mean.
    pub(super) fn clusters(
        &self,
        w: &[f64],
        max_points: usize,
    ) -> (Array2<f64>, Vec<f64>, Vec<usize>, f64) {
        let (t, n) = (&self.tree, self.order.len());
        let d = self.rows.len() / n;
        let max_blocks = (max_points / LANES).max(1);
        let w = self.gather(w);
        let (mut means, mut weights) = (Vec::new(), Vec::new());
        let mut member = vec![0; n];
        let mut spread = Neumaier::new();
        let mut k = 0;
        while k < t.n_nodes() {
            if t.len[k] > max_blocks {
                k += 1;
                continue;
            }
            let range = t.first[k] * LANES..((t.first[k] + t.len[k]) * LANES).min(n);
            let total = neumaier_sum(w[range.clone()].iter().copied());
            let mut mean = vec![0.0; d];
            for i in range.clone() {
                let wi = if total > 0.0 {
                    w[i] / total
                } else {
                    1.0 / range.len() as f64
                };
                for (m, x) in mean.iter_mut().zip(&self.rows[i * d..(i + 1) * d]) {
                    *m += wi * x;
                }
                member[self.order[i]] = weights.len();
            }
            for i in range.clone() {
                let r2: f64 = (self.rows[i * d..(i + 1) * d].iter().zip(&mean))
                    .map(|(x, m)| (x - m) * (x - m))
                    .sum();
                spread.add(w[i] * r2);
            }
            means.extend(mean);
            weights.push(total);
            k = t.next[k];
        }
        let means = Array2::from_shape_vec((weights.len(), d), means).expect("k x d means");
        let spread = spread.value() / neumaier_sum(weights.iter().copied());
        (means, weights, member, spread)
    }

    pub(super) fn gather(&self, v: &[f64]) -> Vec<f64> {
        self.order.iter().map(|&i| v[i]).collect()
    }

    pub(super) fn scatter(&self, v: Vec<f64>) -> Vec<f64> {
        let mut out = vec![0.0; v.len()];
        for (&i, x) in self.order.iter().zip(v) {
            out[i] = x;
        }
        out
    }
}

/// |x_i - y_j|^p between two point clouds, computed on the fly (never stored), with
/// block truncation on spatially sorted points.
pub struct CloudCost {
    pub(super) x: SortedSide,
    pub(super) y: SortedSide,
    pub(crate) power: Power,
    /// The fraction of a row's sum that truncation may skip beyond round-off (0: none).
    pub(super) skipped: f64,
    /// Per side (X, Y), the bound on the fraction skipped from any row's sum by the
    /// latest soft-min (f64 bits).
    pub(super) last_skipped: [AtomicU64; 2],
}

impl CloudCost {
    /// The power p of the cost |x - y|^p.
    pub fn exponent(&self) -> f64 {
        match self.power {
            Power::One => 1.0,
            Power::Two => 2.0,
            Power::General(p) => p,
        }
    }

    pub fn new(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, p: f64) -> Result<CloudCost> {
        let power = Power::new(p)?;
        let d = x.ncols();
        if y.ncols() != d {
            return invalid(format!("x has {d} features but y has {}", y.ncols()));
        }
        if d == 0 || x.nrows() == 0 || y.nrows() == 0 {
            return invalid("x and y must hold at least one point of dimension >= 1");
        }
        if x.iter().chain(y.iter()).any(|v| !v.is_finite()) {
            return invalid("x and y must be finite");
        }
        Ok(CloudCost {
            x: SortedSide::new(x),
            y: SortedSide::new(y),
            power,
            skipped: 0.0,
            last_skipped: Default::default(),
        })
    }

    /// Lets truncation skip terms adding up to a fraction `skipped` of each soft-min
    /// row's sum (not just round-off): each lse is then low by at most ln(1 + skipped),
    /// each marginal of the coupling it implies by at most `skipped` of its mass. A
    /// solver that stops on an L1 marginal error `tol` can afford a small fraction of
    /// `tol` here ([`crate::ot::sinkhorn::skip_allowance`]): at eps = 1e-3 in the unit cube
    /// it prunes pairs out to a radius about sqrt(eps ln(1 / skipped)) instead of
    /// sqrt(eps ln(1e12)). Capped at `MAX_SKIPPED`, where the radius has stopped
    /// shrinking.
    pub fn with_skipped_fraction(mut self, skipped: f64) -> Result<CloudCost> {
        if !(0.0..=1.0).contains(&skipped) {
            return invalid(format!(
                "the skipped fraction must be in [0, 1], got {skipped}"
            ));
        }
        self.skipped = skipped.min(MAX_SKIPPED);
        Ok(self)
    }
}

/// The largest fraction of a row's sum that `with_skipped_fraction` lets truncation skip:
/// ln(1 / 1e-4) is already small next to the margins' other terms (ln m + HEADROOM).
pub(super) const MAX_SKIPPED: f64 = 1e-4;

/// One soft-min over a point cloud, run with the pair loop specialised for its power.
pub(super) struct CloudPass<'a> {
    pub(super) rows: &'a SortedSide,
    pub(super) cols: &'a SortedSide,
    pub(super) w: &'a [f64],
    pub(super) hint: &'a [f64],
    pub(super) inv_eps: f64,
    pub(super) weighted: bool,
    pub(super) trunc: Truncation<'a>,
    /// The next soft-min's exponents (`Softmin::lse_then_next`), rows in sorted order.
    pub(super) next: Option<NextExponent<'a>>,
    pub(super) ctl: &'a Control,
}

impl CloudPass<'_> {
    pub(super) fn run<G: Ground>(&self, power: G) -> Result<(Pass, Option<NextSums>)> {
        let src = CloudBlocks {
            rows: &self.rows.rows,
            cols: &self.cols.packed,
            power,
        };
        let stripes = stripe_count(&src);
        match self.next {
            Some(next) if stripes > 0 && !self.weighted => run_stripes(
                &src,
                self.w,
                self.hint,
                self.inv_eps,
                Some(&self.trunc),
                next,
                stripes,
                self.ctl,
            ),
            _ => Ok((
                run_tiles(
                    &src,
                    self.w,
                    self.hint,
                    self.inv_eps,
                    self.weighted,
                    Some(&self.trunc),
                    self.ctl,
                )?,
                None,
            )),
        }
    }
}

impl CloudCost {
    /// lse of `rows`' points against `cols`' (w, hint in their original orders); with
    /// `next`, also the lse of `cols`' points against `rows`' with the exponents `next`
    /// makes of the first (`Softmin::lse_then_next`) where they could be taken from the
    /// same terms, and the bound on the fraction of their sums left out.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn lse_between(
        &self,
        rows: &SortedSide,
        cols: &SortedSide,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        weighted: bool,
        next: Option<NextExponent<'_>>,
        ctl: &Control,
    ) -> Result<(Pass, Option<NextLse>)> {
        check_lse_args(rows.order.len(), cols.order.len(), w, eps, hint)?;
        let w = padded_weights(&cols.gather(w));
        let block_max_w: Vec<f64> = w
            .chunks_exact(LANES)
            .map(|b| b.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect();
        let node_max_w = cols.tree.node_maxima(&block_max_w);
        let hint = rows.gather(hint);
        let d = rows.rows.len() / rows.order.len();
        let skip = Truncation::skip_for(self.cost_scale(rows, cols), 1.0 / eps, self.skipped);
        let sorted_next = next.map(|next| move |r: usize, l: f64| next(rows.order[r], l));
        let pass = CloudPass {
            rows,
            cols,
            w: &w,
            hint: &hint,
            inv_eps: 1.0 / eps,
            weighted,
            trunc: Truncation {
                tree: &cols.tree,
                node_max_w: &node_max_w,
                block_max_w: &block_max_w,
                row_boxes: &rows.boxes,
                col_boxes: &cols.boxes,
                dim: d,
                skip,
            },
            next: sorted_next
                .as_ref()
                .map(|f| f as &(dyn Fn(usize, f64) -> f64 + Sync)),
            ctl,
        };
        let (out, next_sums) = match self.power {
            Power::Two => pass.run(Squared),
            Power::One => pass.run(Distance),
            Power::General(p) => pass.run(PowerOf(p)),
        }?;
        let next_lse = next_sums
            .and_then(|ns| ns.lse(&w, cols.order.len(), skip))
            .map(|(lse, worst)| (cols.scatter(lse), worst));
        let pass = Pass {
            lse: rows.scatter(out.lse),
            mean: if weighted {
                rows.scatter(out.mean)
            } else {
                out.mean
            },
            skipped: out.skipped,
            exact: out.exact,
        };
        Ok((pass, next_lse))
    }

    /// The squared diameter of the box around both sides' points.
    pub fn diameter2(&self) -> f64 {
        Self::box_diameter2(&self.x, &self.y)
    }

    pub(super) fn box_diameter2(rows: &SortedSide, cols: &SortedSide) -> f64 {
        let d = rows.rows.len() / rows.order.len();
        let (a, b) = (&rows.tree.boxes[..2 * d], &cols.tree.boxes[..2 * d]);
        (0..d)
            .map(|k| (a[d + k].max(b[d + k]) - a[k].min(b[k])).powi(2))
            .sum()
    }

    /// The largest cost between the two sides' bounding boxes: the scale of the costs,
    /// and so of the potentials.
    pub(super) fn cost_scale(&self, rows: &SortedSide, cols: &SortedSide) -> f64 {
        self.power.scalar::<false>(Self::box_diameter2(rows, cols))
    }

    /// The same transport problem between clusters of each side (see [`Coarse`]): the
    /// leaves of each side's spatial tree once split down to at most `cluster_points`
    /// points, each replaced by its weighted mean and carrying its total weight.
    pub fn coarsen(&self, a: &[f64], b: &[f64], cluster_points: usize) -> Result<Coarse> {
        if a.len() != self.x.order.len() || b.len() != self.y.order.len() {
            return invalid("coarsen: one weight per point is needed on each side");
        }
        let (cx, a, x_member, x_spread) = self.x.clusters(a, cluster_points);
        let (cy, b, y_member, y_spread) = self.y.clusters(b, cluster_points);
        Ok(Coarse {
            cost: CloudCost {
                x: SortedSide::new(cx.view()),
                y: SortedSide::new(cy.view()),
                power: self.power,
                skipped: self.skipped,
                last_skipped: Default::default(),
            },
            a,
            b,
            x_member,
            y_member,
            spread: x_spread.max(y_spread),
        })
    }

    /// lse for this problem's points on `side` against the points of the other side of
    /// `coarse` (w, hint and the result as in [`Softmin::lse`]): the potentials of a
    /// coarse solution carried over to the fine points.
    pub fn lse_against(
        &self,
        side: Side,
        coarse: &Coarse,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        ctl: &Control,
    ) -> Result<Vec<f64>> {
        let (rows, cols) = match side {
            Side::X => (&self.x, &coarse.cost.y),
            Side::Y => (&self.y, &coarse.cost.x),
        };
        if coarse.cost.power != self.power
            || rows.rows.len() / rows.order.len() != cols.rows.len() / cols.order.len()
        {
            return invalid("lse_against: the coarse problem is not one of this problem's");
        }
        Ok(self
            .lse_between(rows, cols, w, eps, hint, false, None, ctl)?
            .0
            .lse)
    }
}

/// A transport problem between clusters of a point-cloud problem's two sides.
///
/// Moving each point to its cluster's mean moves the cost by at most about the cluster
/// diameter (times the cost's slope), so at epsilons well above diameter^p the coarse
/// problem's potentials are the fine ones' up to that: what annealing needs, at a
/// fraction of the pairs (the multiscale scheme of Schmitzer 2019 and GeomLoss).
pub struct Coarse {
    /// The cost between the clusters' means.
    pub cost: CloudCost,
    /// The clusters' total weights on each side.
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// Each fine point's cluster.
    pub(super) x_member: Vec<usize>,
    pub(super) y_member: Vec<usize>,
    /// The larger side's weighted mean squared distance of a point to its cluster's mean.
    pub spread: f64,
}

impl Coarse {
    /// Each fine point of `side` gets its cluster's value of `v`.
    pub fn spread(&self, side: Side, v: &[f64]) -> Vec<f64> {
        let member = match side {
            Side::X => &self.x_member,
            Side::Y => &self.y_member,
        };
        member.iter().map(|&c| v[c]).collect()
    }
}

impl Softmin for CloudCost {
    fn len(&self, side: Side) -> usize {
        match side {
            Side::X => self.x.order.len(),
            Side::Y => self.y.order.len(),
        }
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
        let (rows, cols) = match side {
            Side::X => (&self.x, &self.y),
            Side::Y => (&self.y, &self.x),
        };
        let out = self
            .lse_between(rows, cols, w, eps, hint, weighted, None, ctl)?
            .0;
        let k = usize::from(side == Side::Y);
        self.last_skipped[k].store(out.skipped.to_bits(), Ordering::Relaxed);
        Ok((out.lse, out.mean))
    }

    /// One pass over the pairs: each row's terms, once its sum is accepted, are also
    /// added to the Y side's column sums, times e^(u_i + s_i) (u_i = `next(i, lse_i)`,
    /// s_i the row's shift); the pair's Y-side term is that times e^-w_j. Rows that
    /// truncation pruned contribute nothing to a column beyond a bound, which must be
    /// within the fraction of a sum that a Y-side soft-min may leave out. None (the
    /// caller runs the Y side's own pass) where that fails for some column (far from
    /// convergence) or some row had to be summed exactly, and, without trying, where a
    /// column has no mass (w_j = -inf).
    fn lse_then_next(
        &self,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        next: &(dyn Fn(usize, f64) -> f64 + Sync),
        ctl: &Control,
    ) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        // A column without mass gets no terms from the rows: its soft-min would fail the
        // check at every iteration, after the cost of keeping the terms.
        let next = (!w.contains(&f64::NEG_INFINITY)).then_some(next);
        let (out, next_lse) = self.lse_between(&self.x, &self.y, w, eps, hint, false, next, ctl)?;
        self.last_skipped[0].store(out.skipped.to_bits(), Ordering::Relaxed);
        Ok((
            out.lse,
            next_lse.map(|(lse, skipped)| {
                self.last_skipped[1].store(skipped.to_bits(), Ordering::Relaxed);
                lse
            }),
        ))
    }

    fn skipped_fraction(&self) -> f64 {
        let last = |k: usize| f64::from_bits(self.last_skipped[k].load(Ordering::Relaxed));
        last(0).max(last(1))
    }
}
