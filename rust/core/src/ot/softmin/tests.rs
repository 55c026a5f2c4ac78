use std::sync::atomic::Ordering;

use super::block_tree::Truncation;
use super::cloud::SortedSide;
use super::cost::{CloudBlocks, CostBlocks, Squared};
use super::*;
use crate::test_util::{cost_matrix, random_points};
use ndarray::{Array2, ArrayView1};

#[test]
fn cloud_and_matrix_match_naive_for_every_power_and_hint() {
    let ctl = Control::new();
    let x = random_points(70, 3, 1);
    let mut y = random_points(45, 3, 2);
    y.row_mut(3).assign(&x.row(5)); // a zero distance
    let w: Vec<f64> = random_points(45, 1, 3).iter().map(|v| v * 3.0).collect();
    for p in [1.0, 2.0, 1.5, 0.5] {
        let c = cost_matrix(&x, &y, p);
        for eps in [1.0, 1e-3] {
            let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
            let cloud = CloudCost::new(x.view(), y.view(), p).unwrap();
            let mat = MatrixCost::new(c.view()).unwrap();
            // No hint, a good hint, and a hint far too low (forces the exact redo).
            let far: Vec<f64> = want.iter().map(|v| v - 2000.0).collect();
            let high: Vec<f64> = want.iter().map(|v| v + 30.0).collect();
            for hint in [vec![f64::NAN; 70], want.clone(), far, high] {
                for op in [&cloud as &dyn Softmin, &mat] {
                    let (got, mean) = op.lse(Side::X, &w, eps, &hint, true, &ctl).unwrap();
                    for i in 0..70 {
                        let tol = 1e-12 * want[i].abs().max(1.0);
                        assert!((got[i] - want[i]).abs() <= tol, "p={p} eps={eps} {i}");
                        let pm: f64 = (0..45)
                            .map(|j| (w[j] - c[[i, j]] / eps - want[i]).exp() * c[[i, j]])
                            .sum();
                        assert!(
                            (mean[i] - pm).abs() <= 1e-11 * pm + 1e-290,
                            "p={p} eps={eps} {i}: {} vs {pm}",
                            mean[i]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn block_tree_nodes_are_the_spatial_clusters() {
    let x = random_points(1000, 3, 7);
    let side = SortedSide::new(x.view());
    let (t, d) = (&side.tree, 3);
    let n_blocks = 1000usize.div_ceil(LANES);
    let leaves: Vec<usize> = (0..t.n_nodes())
        .filter(|&k| t.len[k] == 1)
        .map(|k| t.first[k])
        .collect();
    assert_eq!(leaves, (0..n_blocks).collect::<Vec<_>>());
    let values: Vec<f64> = (0..n_blocks).map(|b| ((b * 37) % 101) as f64).collect();
    let maxima = t.node_maxima(&values);
    for (k, &max) in maxima.iter().enumerate() {
        let blocks = t.first[k]..t.first[k] + t.len[k];
        let want = blocks.clone().map(|b| values[b]).fold(f64::MIN, f64::max);
        assert_eq!(max, want);
        let bx = &t.boxes[2 * d * k..2 * d * (k + 1)];
        for i in blocks.start * LANES..(blocks.end * LANES).min(1000) {
            for c in 0..d {
                let v = side.rows[i * d + c];
                assert!(bx[c] <= v && v <= bx[d + c], "node {k} point {i}");
            }
        }
        if t.len[k] > 1 {
            // Two children that split the node's blocks, the right one where the
            // left subtree ends.
            let (l, r) = (k + 1, t.next[k + 1]);
            assert_eq!(t.first[l], t.first[k]);
            assert_eq!(t.first[r], t.first[k] + t.len[l]);
            assert_eq!(t.len[l] + t.len[r], t.len[k]);
            assert_eq!(t.next[r], t.next[k]);
        }
    }
}

#[test]
fn truncated_sums_match_naive_and_prune_only_negligible_blocks() {
    // In d = 1 the blocks are small against sqrt(eps), so the bounds are tight and a
    // block pruned a little too eagerly would show; d = 3 has the loose boxes.
    let ctl = Control::new();
    for (d, n, m) in [(1, 2000, 1500), (3, 700, 600)] {
        let x = random_points(n, d, 11);
        let y = random_points(m, d, 12);
        let w: Vec<f64> = random_points(m, 1, 13).iter().map(|v| v * 2.0).collect();
        for p in [2.0, 1.0] {
            let c = cost_matrix(&x, &y, p);
            let cloud = CloudCost::new(x.view(), y.view(), p).unwrap();
            for eps in [1e-2, 1e-3] {
                let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
                // Mean costs, which the weighted pass truncates with its own margin.
                let means: Vec<f64> = (0..n)
                    .map(|i| {
                        (0..m)
                            .map(|j| (w[j] - c[[i, j]] / eps - want[i]).exp() * c[[i, j]])
                            .sum()
                    })
                    .collect();
                for offset in [0.0, 30.0, -30.0] {
                    let hint: Vec<f64> = want.iter().map(|v| v + offset).collect();
                    for weighted in [false, true] {
                        let (got, mean) =
                            cloud.lse(Side::X, &w, eps, &hint, weighted, &ctl).unwrap();
                        for i in 0..n {
                            let tol = 1e-12 * want[i].abs().max(1.0);
                            assert!((got[i] - want[i]).abs() <= tol, "d={d} p={p} eps={eps}");
                            if weighted {
                                let err = (mean[i] - means[i]).abs();
                                assert!(err <= 1e-11 * means[i], "d={d} p={p} eps={eps}");
                            }
                        }
                    }
                }
            }
        }
        // At eps = 1e-3 (p = 2) pruning happens, and only to blocks whose every term
        // is below e^-margin of every row of the group.
        let eps = 1e-3;
        let c = cost_matrix(&x, &y, 2.0);
        let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
        let cloud = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        let (rows, cols) = (&cloud.x, &cloud.y);
        let wp = padded_weights(&cols.gather(&w));
        let block_max_w: Vec<f64> = wp
            .chunks_exact(LANES)
            .map(|b| b.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect();
        let node_max_w = cols.tree.node_maxima(&block_max_w);
        let trunc = Truncation {
            tree: &cols.tree,
            node_max_w: &node_max_w,
            block_max_w: &block_max_w,
            row_boxes: &rows.boxes,
            col_boxes: &cols.boxes,
            dim: d,
            skip: Truncation::skip_for(cloud.cost_scale(rows, cols), 1.0 / eps, 0.0),
        };
        let group_margin = trunc.group_margin();
        let src = CloudBlocks {
            rows: &rows.rows,
            cols: &cols.packed,
            power: Squared,
        };
        let sorted_want = rows.gather(&want);
        let (mut pruned, mut row_pruned, mut closest) = (0, 0, f64::NEG_INFINITY);
        // The largest exponent of a block's terms for row r, above a cut `margin`
        // below the row's shift.
        let above_cut = |r: usize, b: usize, margin: f64| {
            let costs = src.costs::<false>(r, b);
            (0..LANES)
                .map(|j| wp[b * LANES + j] - costs[j] / eps - sorted_want[r] + margin)
                .fold(f64::NEG_INFINITY, f64::max)
        };
        for g in 0..n.div_ceil(LANES) {
            let group = g * LANES..((g + 1) * LANES).min(n);
            let s_min = sorted_want[group.clone()]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let row_box = &rows.boxes[2 * d * g..2 * d * (g + 1)];
            let kept = trunc.surviving_blocks(&src, row_box, s_min, 1.0 / eps, group_margin, None);
            let row_margin = trunc.row_margin(kept.len());
            let rows: Vec<usize> = group.clone().collect();
            let mut shifts = [f64::INFINITY; LANES];
            shifts[..rows.len()].copy_from_slice(&sorted_want[group.clone()]);
            let by_axis = src.rows_by_axis(&rows);
            for b in 0..cols.packed.n_blocks() {
                if !kept.contains(&b) {
                    pruned += 1;
                    for r in group.clone() {
                        closest = closest.max(above_cut(r, b, group_margin));
                    }
                    continue;
                }
                // Then each row drops the kept blocks that its own test rules out.
                let mask =
                    trunc.keep_mask::<_, false>(&src, &by_axis, &shifts, b, 1.0 / eps, row_margin);
                for (k, r) in group.clone().enumerate() {
                    if mask >> k & 1 == 0 {
                        row_pruned += 1;
                        closest = closest.max(above_cut(r, b, row_margin));
                    }
                }
            }
        }
        assert!(pruned > 0 && row_pruned > 0, "d={d}: {pruned} {row_pruned}");
        assert!(
            closest < 0.0,
            "d={d}: a pruned term is e^{closest} above the cut"
        );
    }
}

/// A sorted side's points back in their original order.
fn original_points(side: &SortedSide) -> Array2<f64> {
    let d = side.rows.len() / side.order.len();
    let mut out = Array2::zeros((side.order.len(), d));
    for (k, &i) in side.order.iter().enumerate() {
        for t in 0..d {
            out[[i, t]] = side.rows[k * d + t];
        }
    }
    out
}

#[test]
fn coarsening_partitions_each_side_into_weighted_clusters() {
    let x = random_points(1000, 3, 21);
    let y = random_points(333, 3, 22);
    let a: Vec<f64> = random_points(1000, 1, 23).iter().map(|v| v + 2.0).collect();
    let mut b: Vec<f64> = random_points(333, 1, 24).iter().map(|v| v + 2.0).collect();
    b[..40].iter_mut().for_each(|v| *v = 0.0); // clusters of zero weight may occur
    let cloud = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
    for cluster_points in [1, 16, 50, 5000] {
        let coarse = cloud.coarsen(&a, &b, cluster_points).unwrap();
        for (pts, w, cw, side, coarse_side) in [
            (&x, &a, &coarse.a, Side::X, &coarse.cost.x),
            (&y, &b, &coarse.b, Side::Y, &coarse.cost.y),
        ] {
            let k = cw.len();
            let ids: Vec<f64> = (0..k).map(|c| c as f64).collect();
            let member = coarse.spread(side, &ids);
            let (mut total, mut count) = (vec![0.0; k], vec![0usize; k]);
            let mut sum = Array2::<f64>::zeros((k, 3));
            for (i, &c) in member.iter().enumerate() {
                let c = c as usize;
                total[c] += w[i];
                count[c] += 1;
                for t in 0..3 {
                    sum[[c, t]] += w[i] * pts[[i, t]];
                }
            }
            // Each cluster: at most cluster_points members (one block at least), its
            // members' total weight, and their weighted mean.
            let means = original_points(coarse_side);
            for c in 0..k {
                assert!(count[c] >= 1 && count[c] <= cluster_points.max(LANES));
                assert!((total[c] - cw[c]).abs() <= 1e-12 * total[c].max(1.0));
                for t in (0..3).filter(|_| total[c] > 0.0) {
                    assert!((means[[c, t]] - sum[[c, t]] / total[c]).abs() <= 1e-12);
                }
            }
            assert_eq!(k == 1, cluster_points >= pts.nrows());
        }
    }
}

#[test]
fn soft_min_against_a_coarse_side_matches_naive() {
    let ctl = Control::new();
    let x = random_points(500, 2, 31);
    let y = random_points(400, 2, 32);
    let (a, b) = (vec![1.0 / 500.0; 500], vec![1.0 / 400.0; 400]);
    for p in [2.0, 1.0] {
        let cloud = CloudCost::new(x.view(), y.view(), p).unwrap();
        let coarse = cloud.coarsen(&a, &b, 32).unwrap();
        for (side, rows, cols) in [(Side::X, &x, &coarse.cost.y), (Side::Y, &y, &coarse.cost.x)] {
            let pts = original_points(cols);
            let w: Vec<f64> = (0..pts.nrows()).map(|c| (c % 7) as f64 * 0.3).collect();
            let eps = 0.01;
            let c = cost_matrix(rows, &pts, p);
            let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
            for hint in [vec![f64::NAN; rows.nrows()], want.clone()] {
                let got = cloud
                    .lse_against(side, &coarse, &w, eps, &hint, &ctl)
                    .unwrap();
                for i in 0..rows.nrows() {
                    assert!((got[i] - want[i]).abs() <= 1e-12 * want[i].abs().max(1.0));
                }
            }
        }
        // A coarse problem of another cost is refused.
        let other = CloudCost::new(x.view(), y.view(), 3.0).unwrap();
        let w = vec![0.0; coarse.b.len()];
        let hint = vec![f64::NAN; 500];
        assert!(other
            .lse_against(Side::X, &coarse, &w, 0.1, &hint, &ctl)
            .is_err());
    }
}

#[test]
fn column_side_uses_the_transpose() {
    let ctl = Control::new();
    let x = random_points(20, 2, 4);
    let y = random_points(33, 2, 5);
    let c = cost_matrix(&x, &y, 2.0);
    let w = vec![0.0; 20];
    let want = lse_naive(c.t(), ArrayView1::from(&w), 0.1);
    let cloud = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
    let mat = MatrixCost::new(c.view()).unwrap();
    for op in [&cloud as &dyn Softmin, &mat] {
        let (got, _) = op
            .lse(Side::Y, &w, 0.1, &[f64::NAN; 33], false, &ctl)
            .unwrap();
        for j in 0..33 {
            assert!((got[j] - want[j]).abs() <= 1e-12 * want[j].abs().max(1.0));
        }
    }
}

/// `f` run in a pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(f)
}

/// A truncated sum misses at most `frac` of itself: its lse is low by at most
/// ln(1 + frac), up to round-off.
fn assert_low_by_at_most(want: &[f64], got: &[f64], frac: f64, what: &str) {
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        let low = w - g;
        let round = 1e-13 * w.abs().max(1.0);
        assert!(
            low >= -round && low <= frac.ln_1p() + round,
            "{what} {i}: low by {low}, bound {frac}"
        );
    }
}

#[test]
fn a_skipped_fraction_bounds_each_row_and_is_reported() {
    // Kernel radius about sqrt(eps ln(1 / skip)) = 0.4-0.8 in [-2, 2)^3: most blocks
    // are pruned, so a larger allowance has terms to leave out.
    let ctl = Control::new();
    let (n, m, eps) = (3000, 2500, 0.02);
    let x = random_points(n, 3, 21);
    let y = random_points(m, 3, 22);
    let w: Vec<f64> = random_points(m, 1, 23).iter().map(|v| 0.5 * v).collect();
    let want = lse_naive(cost_matrix(&x, &y, 2.0).view(), ArrayView1::from(&w), eps);
    let mut reported = Vec::new();
    for skip in [0.0, 1e-8, 1e-4] {
        let op = CloudCost::new(x.view(), y.view(), 2.0)
            .unwrap()
            .with_skipped_fraction(skip)
            .unwrap();
        let (got, _) = op.lse(Side::X, &w, eps, &want, false, &ctl).unwrap();
        let frac = op.skipped_fraction();
        assert!(frac <= skip.max(1e-12), "skip={skip}: {frac}");
        assert_low_by_at_most(&want, &got, frac, &format!("skip={skip}"));
        reported.push(frac);
    }
    // The allowance is used: the bound on what was skipped grew with it.
    assert!(reported[2] > 1e3 * reported[0], "{reported:?}");
    assert_eq!(
        MatrixCost::new(cost_matrix(&x, &y, 2.0).view())
            .unwrap()
            .skipped_fraction(),
        0.0
    );
    for bad in [-1e-3, 1.5, f64::NAN] {
        assert!(CloudCost::new(x.view(), y.view(), 2.0)
            .unwrap()
            .with_skipped_fraction(bad)
            .is_err());
    }
}

#[test]
fn one_pass_gives_the_next_soft_min_within_its_reported_bound() {
    // As `a_skipped_fraction_bounds_each_row_and_is_reported`, for the Y side's soft-min
    // taken from the X side's terms, on the exponents of a few Sinkhorn iterations
    // (uniform weights): w_j = ln b_j + g_j / eps, next(i, lse_i) = ln a_i - lse_i.
    let ctl = Control::new();
    let (n, m, eps) = (3000, 2500, 0.02);
    let x = random_points(n, 3, 41);
    let y = random_points(m, 3, 42);
    let c = cost_matrix(&x, &y, 2.0);
    let (la, lb) = (-(n as f64).ln(), -(m as f64).ln());
    let mut w = vec![lb; m];
    for _ in 0..4 {
        let lse_x = lse_naive(c.view(), ArrayView1::from(&w), eps);
        let u: Vec<f64> = lse_x.iter().map(|l| la - l).collect();
        let lse_y = lse_naive(c.t(), ArrayView1::from(&u), eps);
        w = lse_y.iter().map(|l| lb - l).collect();
    }
    let want_x = lse_naive(c.view(), ArrayView1::from(&w), eps);
    let next = |_: usize, l: f64| la - l;
    let mut reported = Vec::new();
    for skip in [0.0, 1e-8, 1e-4] {
        let op = CloudCost::new(x.view(), y.view(), 2.0)
            .unwrap()
            .with_skipped_fraction(skip)
            .unwrap();
        let run = |threads| {
            on_threads(threads, || {
                op.lse_then_next(&w, eps, &want_x, &next, &ctl).unwrap()
            })
        };
        let (got_x, got_y) = run(2);
        let got_y = got_y.expect("every column's sum is within its bound");
        // The same numbers on one thread (fixed stripes, added in a fixed order).
        let (one_x, one_y) = run(1);
        assert_eq!(one_x, got_x);
        assert_eq!(one_y.unwrap(), got_y);
        let frac_x = f64::from_bits(op.last_skipped[0].load(Ordering::Relaxed));
        let frac_y = f64::from_bits(op.last_skipped[1].load(Ordering::Relaxed));
        assert!(frac_y <= skip.max(1e-12), "skip={skip}: {frac_y}");
        // Against the exact soft-min of the exponents `next` made of the X side's lse:
        // low by at most what the Y side reports it left out.
        let exps: Vec<f64> = (0..n).map(|i| next(i, got_x[i])).collect();
        let want_y = lse_naive(c.t(), ArrayView1::from(&exps), eps);
        assert_low_by_at_most(&want_y, &got_y, frac_y, &format!("Y, skip={skip}"));
        // And the X side as `lse` gives it.
        assert_low_by_at_most(&want_x, &got_x, frac_x, &format!("X, skip={skip}"));
        reported.push(frac_y);
    }
    // Truncation left terms out of the columns' sums, more with a larger allowance.
    assert!(reported[2] > 1e3 * reported[0], "{reported:?}");

    // A cost matrix: nothing truncated, so the Y side's lse is the exact one up to
    // round-off; the same bits on one thread.
    let mat = MatrixCost::new(c.view()).unwrap();
    let run = |threads| {
        on_threads(threads, || {
            mat.lse_then_next(&w, eps, &want_x, &next, &ctl).unwrap()
        })
    };
    let (got_x, got_y) = run(2);
    let got_y = got_y.expect("a matrix's column sums miss nothing");
    assert_eq!(run(1), (got_x.clone(), Some(got_y.clone())));
    let exps: Vec<f64> = (0..n).map(|i| next(i, got_x[i])).collect();
    let want_y = lse_naive(c.t(), ArrayView1::from(&exps), eps);
    assert_low_by_at_most(&want_y, &got_y, 0.0, "matrix, Y");
    assert_low_by_at_most(&want_x, &got_x, 0.0, "matrix, X");
    assert!(mat.cols.get().is_none(), "the transpose was made");

    // A column without mass (w = -inf) has no terms to take: the Y side is left to
    // its own pass.
    let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
    let mut w0 = w.clone();
    w0[7] = f64::NEG_INFINITY;
    let want0 = lse_naive(c.view(), ArrayView1::from(&w0), eps);
    let (got_x, got_y) = op.lse_then_next(&w0, eps, &want0, &next, &ctl).unwrap();
    assert!(got_y.is_none());
    for i in 0..n {
        assert!((got_x[i] - want0[i]).abs() <= 1e-12 * want0[i].abs().max(1.0));
    }
}

#[test]
fn missing_or_far_hints_are_summed_truncated_all_the_same() {
    // No hint, or one far off the row's lse either way: the row is summed again,
    // truncated, shifted by a lower bound of its lse; none needs every column.
    let ctl = Control::new();
    let (n, m, eps) = (1500, 1200, 1e-3);
    let x = random_points(n, 3, 31);
    let y = random_points(m, 3, 32);
    let w: Vec<f64> = random_points(m, 1, 33).iter().map(|v| 2.0 * v).collect();
    let want = lse_naive(cost_matrix(&x, &y, 2.0).view(), ArrayView1::from(&w), eps);
    let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
    for offset in [f64::NAN, 6.0, 30.0, -30.0, 2000.0, -2000.0] {
        // Half the rows off by `offset`, the others hinted well.
        let hint: Vec<f64> = (0..n)
            .map(|i| want[i] + if i % 2 == 0 { offset } else { 0.0 })
            .collect();
        for weighted in [false, true] {
            let (out, _) = op
                .lse_between(&op.x, &op.y, &w, eps, &hint, weighted, None, &ctl)
                .unwrap();
            assert_eq!(out.exact, 0, "offset {offset}");
            for (i, (got, want)) in out.lse.iter().zip(&want).enumerate() {
                let tol = 1e-12 * want.abs().max(1.0);
                assert!((got - want).abs() <= tol, "offset {offset}: {i}");
            }
        }
    }
    // Without truncation (a cost matrix), a row without a hint is summed exactly.
    let mat = MatrixCost::new(cost_matrix(&x, &y, 2.0).view()).unwrap();
    let (got, _) = mat
        .lse(Side::X, &w, eps, &vec![f64::NAN; n], false, &ctl)
        .unwrap();
    for i in 0..n {
        assert!((got[i] - want[i]).abs() <= 1e-12 * want[i].abs().max(1.0));
    }
}

#[test]
fn bad_arguments_are_errors() {
    let ctl = Control::new();
    let x = random_points(5, 2, 1);
    assert!(CloudCost::new(x.view(), random_points(5, 3, 1).view(), 2.0).is_err());
    assert!(CloudCost::new(x.view(), x.view(), 0.0).is_err());
    let cloud = CloudCost::new(x.view(), x.view(), 2.0).unwrap();
    let none = [f64::NAN; 5];
    assert!(cloud
        .lse(Side::X, &[0.0; 4], 1.0, &none, false, &ctl)
        .is_err());
    assert!(cloud
        .lse(Side::X, &[0.0; 5], 0.0, &none, false, &ctl)
        .is_err());
    let zero = [f64::NEG_INFINITY; 5];
    assert!(cloud.lse(Side::X, &zero, 1.0, &none, false, &ctl).is_err());
    let mut c = Array2::<f64>::zeros((3, 3));
    c[[1, 1]] = f64::NAN;
    assert!(MatrixCost::new(c.view()).is_err());
}
