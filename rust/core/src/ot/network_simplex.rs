//! Exact optimal transport between two histograms: the primal network simplex on the
//! bipartite transport network (Bonneel, van de Panne, Paris & Heidrich 2011, after
//! LEMON's `NetworkSimplex` by Kovacs), with block-search pivoting.
//!
//! Nodes 0..n are the sources (supply a_i), n..n+m the sinks (demand b_j); arc
//! e = i m + j goes from i to n + j with cost M_ij and no capacity. An artificial root
//! joins every node by an artificial arc (cost 0 from a source, a cost above any path
//! into a sink), so that the all-artificial tree is a feasible start. The spanning tree
//! is stored as parent, predecessor arc and its direction, the preorder thread (and its
//! reverse), subtree sizes and last successors; a pivot moves the subtree cut off by
//! the leaving arc and shifts its potentials by one constant. Flows are nonzero only on
//! tree arcs, so they are stored per node (the flow of its predecessor arc) and the
//! arcs need one flag each: O(n m) bytes beside the costs.
//!
//! Anti-cycling: the tree is kept strongly feasible (Cunningham 1976) by the choice of
//! the leaving arc (the last blocking arc on the cycle's second half, the first on its
//! first half), and an arc enters only if its reduced cost is below -10 ulp of the
//! magnitudes it is the difference of, so that round-off cannot make a tree arc or a
//! zero-reduced-cost arc enter. The algorithm is sequential and deterministic.

use crate::control::Control;
use crate::error::{invalid, CoreError, Result};

/// Relative round-off below which a negative reduced cost is taken for zero.
const EPSILON: f64 = 10.0 * f64::EPSILON;
/// Pivots between checks for cancellation.
const CHECK_EVERY: u64 = 1 << 12;

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmdStatus {
    Optimal,
    MaxIterReached,
}

/// The optimal plan (its basic entries with positive mass), the duals and the cost.
#[derive(Debug, Clone)]
pub struct EmdSolution {
    pub cost: f64,
    pub rows: Vec<usize>,
    pub cols: Vec<usize>,
    pub values: Vec<f64>,
    /// Dual potentials with M_ij - f_i - g_j >= 0 (up to round-off), equality on the plan.
    pub f: Vec<f64>,
    pub g: Vec<f64>,
    pub n_iter: u64,
    pub status: EmdStatus,
}

/// Direction of a node's predecessor arc: from the node up to its parent, or down.
const UP: i8 = 1;
const DOWN: i8 = -1;

struct Simplex<'a> {
    n: usize,
    m: usize,
    cost: &'a [f64],
    art_cost: f64,
    /// Whether real arc e is in the spanning tree.
    in_tree: Vec<bool>,
    parent: Vec<usize>,
    pred: Vec<usize>,
    dir: Vec<i8>,
    /// Flow on pred[u].
    flow: Vec<f64>,
    thread: Vec<usize>,
    rev_thread: Vec<usize>,
    succ_num: Vec<usize>,
    last_succ: Vec<usize>,
    pi: Vec<f64>,
    root: usize,
    dirty_revs: Vec<usize>,
    // Pivot state.
    block: usize,
    next_arc: usize,
    in_arc: usize,
    join: usize,
    u_in: usize,
    v_in: usize,
    u_out: usize,
    delta: f64,
}

/// No parent (the root's).
const NONE: usize = usize::MAX;

impl<'a> Simplex<'a> {
    fn new(a: &[f64], b: &[f64], cost: &'a [f64]) -> Result<Self> {
        let (n, m) = (a.len(), b.len());
        let arcs = n * m;
        let nodes = n + m;
        let mut in_tree = Vec::new();
        in_tree.try_reserve_exact(arcs).map_err(|_| {
            CoreError::OutOfMemory(format!(
                "the network simplex needs {arcs} bytes for the arcs' tree flags"
            ))
        })?;
        in_tree.resize(arcs, false);
        let max_cost = cost.iter().copied().fold(0.0f64, f64::max);
        let art_cost = (max_cost + 1.0) * nodes as f64;
        let root = nodes;
        let mut s = Simplex {
            n,
            m,
            cost,
            art_cost,
            in_tree,
            parent: vec![root; nodes + 1],
            pred: (0..=nodes).map(|u| arcs + u).collect(),
            dir: vec![UP; nodes + 1],
            flow: vec![0.0; nodes + 1],
            thread: (1..=nodes + 1).collect(),
            rev_thread: vec![0; nodes + 1],
            succ_num: vec![1; nodes + 1],
            last_succ: (0..=nodes).collect(),
            pi: vec![0.0; nodes + 1],
            root,
            dirty_revs: Vec::new(),
            block: ((arcs as f64).sqrt() as usize).max(10).min(arcs.max(1)),
            next_arc: 0,
            in_arc: 0,
            join: 0,
            u_in: 0,
            v_in: 0,
            u_out: 0,
            delta: 0.0,
        };
        s.parent[root] = NONE;
        s.pred[root] = NONE;
        s.thread[root] = 0;
        s.succ_num[root] = nodes + 1;
        s.last_succ[root] = root - 1;
        for u in 0..nodes {
            s.rev_thread[u + 1] = u;
        }
        s.rev_thread[0] = root;
        s.flow[..n].copy_from_slice(a);
        // Root -> sink, at the artificial cost.
        s.flow[n..n + m].copy_from_slice(b);
        s.dir[n..n + m].fill(DOWN);
        s.pi[n..n + m].fill(art_cost);
        Ok(s)
    }

    #[inline(always)]
    fn ends(&self, e: usize) -> (usize, usize) {
        let arcs = self.n * self.m;
        if e < arcs {
            (e / self.m, self.n + e % self.m)
        } else {
            let u = e - arcs;
            if u < self.n {
                (u, self.root)
            } else {
                (self.root, u)
            }
        }
    }

    #[inline(always)]
    fn arc_cost(&self, e: usize) -> f64 {
        let arcs = self.n * self.m;
        if e < arcs {
            self.cost[e]
        } else if e - arcs < self.n {
            0.0
        } else {
            self.art_cost
        }
    }

    /// Block search: the most negative reduced cost in the first block (from where the
    /// last search stopped, cyclically) that has one.
    fn find_entering_arc(&mut self) -> bool {
        let arcs = self.n * self.m;
        let mut min = 0.0;
        let mut found = false;
        let mut count = self.block;
        let mut e = self.next_arc;
        for _ in 0..arcs {
            if !self.in_tree[e] {
                let (i, j) = (e / self.m, self.n + e % self.m);
                let (c, pi, pj) = (self.cost[e], self.pi[i], self.pi[j]);
                let reduced = c + pi - pj;
                if reduced < min && reduced < -EPSILON * c.abs().max(pi.abs()).max(pj.abs()) {
                    min = reduced;
                    self.in_arc = e;
                    found = true;
                }
            }
            e += 1;
            if e == arcs {
                e = 0;
            }
            count -= 1;
            if count == 0 {
                if found {
                    break;
                }
                count = self.block;
            }
        }
        self.next_arc = e;
        found
    }

    fn find_join_node(&mut self) {
        let (mut u, mut v) = self.ends(self.in_arc);
        while u != v {
            if self.succ_num[u] < self.succ_num[v] {
                u = self.parent[u];
            } else {
                v = self.parent[v];
            }
        }
        self.join = u;
    }

    /// The leaving arc: the blocking arc of the cycle that keeps the tree strongly
    /// feasible. False if no arc blocks (an unbounded cycle, impossible here).
    fn find_leaving_arc(&mut self) -> bool {
        // The entering arc is at its lower bound: the cycle runs along it.
        let (first, second) = self.ends(self.in_arc);
        self.delta = f64::INFINITY;
        let mut result = 0;
        let mut u = first;
        while u != self.join {
            // On the first half the flow of an arc pointing up decreases.
            if self.dir[u] == UP && self.flow[u] < self.delta {
                self.delta = self.flow[u];
                self.u_out = u;
                result = 1;
            }
            u = self.parent[u];
        }
        let mut u = second;
        while u != self.join {
            if self.dir[u] == DOWN && self.flow[u] <= self.delta {
                self.delta = self.flow[u];
                self.u_out = u;
                result = 2;
            }
            u = self.parent[u];
        }
        if result == 1 {
            (self.u_in, self.v_in) = (first, second);
        } else {
            (self.u_in, self.v_in) = (second, first);
        }
        result != 0
    }

    fn change_flow(&mut self) {
        let (s, t) = self.ends(self.in_arc);
        let val = self.delta;
        if val > 0.0 {
            let mut u = s;
            while u != self.join {
                self.flow[u] -= f64::from(self.dir[u]) * val;
                u = self.parent[u];
            }
            let mut u = t;
            while u != self.join {
                self.flow[u] += f64::from(self.dir[u]) * val;
                u = self.parent[u];
            }
        }
        self.in_tree[self.in_arc] = true;
        let out = self.pred[self.u_out];
        if out < self.n * self.m {
            self.in_tree[out] = false;
        }
    }

    fn update_tree_structure(&mut self) {
        let (u_in, v_in, u_out, join) = (self.u_in, self.v_in, self.u_out, self.join);
        let old_rev_thread = self.rev_thread[u_out];
        let old_succ_num = self.succ_num[u_out];
        let old_last_succ = self.last_succ[u_out];
        let v_out = self.parent[u_out];
        let in_arc = self.in_arc;
        let in_dir = if u_in == self.ends(in_arc).0 {
            UP
        } else {
            DOWN
        };
        let in_flow = self.delta;

        if u_in == u_out {
            self.parent[u_in] = v_in;
            self.pred[u_in] = in_arc;
            self.dir[u_in] = in_dir;
            self.flow[u_in] = in_flow;
            if self.thread[v_in] != u_out {
                let after = self.thread[old_last_succ];
                self.thread[old_rev_thread] = after;
                self.rev_thread[after] = old_rev_thread;
                let after = self.thread[v_in];
                self.thread[v_in] = u_out;
                self.rev_thread[u_out] = v_in;
                self.thread[old_last_succ] = after;
                self.rev_thread[after] = old_last_succ;
            }
        } else {
            // Where the thread continues after the moved subtree.
            let thread_continue = if old_rev_thread == v_in {
                self.thread[old_last_succ]
            } else {
                self.thread[v_in]
            };
            // Re-hang the stem u_in .. u_out (the path whose parents reverse).
            let mut stem = u_in;
            let mut par_stem = v_in;
            let mut last = self.last_succ[u_in];
            let mut after = self.thread[last];
            self.thread[v_in] = u_in;
            self.dirty_revs.clear();
            self.dirty_revs.push(v_in);
            while stem != u_out {
                let next_stem = self.parent[stem];
                self.thread[last] = next_stem;
                self.dirty_revs.push(last);
                let before = self.rev_thread[stem];
                self.thread[before] = after;
                self.rev_thread[after] = before;
                self.parent[stem] = par_stem;
                par_stem = stem;
                stem = next_stem;
                last = if self.last_succ[stem] == self.last_succ[par_stem] {
                    self.rev_thread[par_stem]
                } else {
                    self.last_succ[stem]
                };
                after = self.thread[last];
            }
            self.parent[u_out] = par_stem;
            self.thread[last] = thread_continue;
            self.rev_thread[thread_continue] = last;
            self.last_succ[u_out] = last;
            if old_rev_thread != v_in {
                self.thread[old_rev_thread] = after;
                self.rev_thread[after] = old_rev_thread;
            }
            for k in 0..self.dirty_revs.len() {
                let u = self.dirty_revs[k];
                let t = self.thread[u];
                self.rev_thread[t] = u;
            }
            // Predecessor arcs (with their flows) shift down the stem.
            let mut tmp_sc = 0usize;
            let tmp_ls = self.last_succ[u_out];
            let mut u = u_out;
            while u != u_in {
                let p = self.parent[u];
                self.pred[u] = self.pred[p];
                self.dir[u] = -self.dir[p];
                self.flow[u] = self.flow[p];
                tmp_sc = tmp_sc + self.succ_num[u] - self.succ_num[p];
                self.succ_num[u] = tmp_sc;
                self.last_succ[p] = tmp_ls;
                u = p;
            }
            self.pred[u_in] = in_arc;
            self.dir[u_in] = in_dir;
            self.flow[u_in] = in_flow;
            self.succ_num[u_in] = old_succ_num;
        }

        let up_limit_out = if self.last_succ[join] == v_in {
            join
        } else {
            NONE
        };
        let last_succ_out = self.last_succ[u_out];
        let mut u = v_in;
        while u != NONE && self.last_succ[u] == v_in {
            self.last_succ[u] = last_succ_out;
            u = self.parent[u];
        }
        if join != old_rev_thread && v_in != old_rev_thread {
            let mut u = v_out;
            while u != up_limit_out && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = old_rev_thread;
                u = self.parent[u];
            }
        } else if last_succ_out != old_last_succ {
            let mut u = v_out;
            while u != up_limit_out && self.last_succ[u] == old_last_succ {
                self.last_succ[u] = last_succ_out;
                u = self.parent[u];
            }
        }
        let mut u = v_in;
        while u != join {
            self.succ_num[u] += old_succ_num;
            u = self.parent[u];
        }
        let mut u = v_out;
        while u != join {
            self.succ_num[u] -= old_succ_num;
            u = self.parent[u];
        }
    }

    /// Shift the potentials of the moved subtree so the entering arc's reduced cost is 0.
    fn update_potential(&mut self) {
        let (u_in, v_in) = (self.u_in, self.v_in);
        let sigma =
            self.pi[v_in] - self.pi[u_in] - f64::from(self.dir[u_in]) * self.arc_cost(self.in_arc);
        let end = self.thread[self.last_succ[u_in]];
        let mut u = u_in;
        while u != end {
            self.pi[u] += sigma;
            u = self.thread[u];
        }
    }
}

/// Solve min <P, M> over plans P >= 0 with row sums `a` and column sums `b` (equal
/// totals; `cost` is M, n x m row-major, finite and >= 0), in at most `max_iter` pivots.
pub fn network_simplex(
    a: &[f64],
    b: &[f64],
    cost: &[f64],
    max_iter: u64,
    ctl: &Control,
) -> Result<EmdSolution> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return invalid("the histograms must have at least one bin each");
    }
    if cost.len() != n * m {
        return invalid(format!(
            "the cost matrix has {} entries, expected {n} x {m}",
            cost.len()
        ));
    }
    let mut s = Simplex::new(a, b, cost)?;
    let mut n_iter = 0u64;
    let mut status = EmdStatus::Optimal;
    loop {
        if n_iter >= max_iter {
            status = EmdStatus::MaxIterReached;
            break;
        }
        if n_iter.is_multiple_of(CHECK_EVERY) {
            ctl.check()?;
        }
        if !s.find_entering_arc() {
            break;
        }
        s.find_join_node();
        if !s.find_leaving_arc() {
            return invalid("the transport problem is unbounded (a cost is -inf or NaN)");
        }
        s.change_flow();
        s.update_tree_structure();
        s.update_potential();
        n_iter += 1;
    }
    Ok(solution(&s, n_iter, status))
}

fn solution(s: &Simplex<'_>, n_iter: u64, status: EmdStatus) -> EmdSolution {
    let (n, m) = (s.n, s.m);
    let mut entries: Vec<(usize, f64)> = (0..n + m)
        .filter(|&u| s.pred[u] < n * m && s.flow[u] > 0.0)
        .map(|u| (s.pred[u], s.flow[u]))
        .collect();
    entries.sort_unstable_by_key(|&(e, _)| e);
    let mut cost = 0.0;
    let (mut rows, mut cols, mut values) = (vec![], vec![], vec![]);
    for &(e, v) in &entries {
        rows.push(e / m);
        cols.push(e % m);
        values.push(v);
        cost += v * s.cost[e];
    }
    // With reduced costs M_ij + pi_i - pi_j >= 0: f = -pi on the sources, g = pi on the
    // sinks.
    let f = (0..n).map(|i| -s.pi[i]).collect();
    let g = (0..m).map(|j| s.pi[n + j]).collect();
    EmdSolution {
        cost,
        rows,
        cols,
        values,
        f,
        g,
        n_iter,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The optimal assignment by trying every permutation: with uniform weights on
    /// n x n the polytope's vertices are the permutation matrices (Birkhoff).
    fn best_assignment(c: &[f64], n: usize) -> f64 {
        fn rec(c: &[f64], n: usize, row: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            if row == n {
                *best = best.min(acc);
                return;
            }
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    rec(c, n, row + 1, used, acc + c[row * n + j], best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        rec(c, n, 0, &mut vec![false; n], 0.0, &mut best);
        best
    }

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn assignment_problems_match_brute_force() {
        let ctl = Control::new();
        for (n, seed) in [(1, 1), (2, 2), (3, 3), (5, 4), (7, 5), (7, 6)] {
            let mut r = lcg(seed);
            let c: Vec<f64> = (0..n * n).map(|_| (r() * 10.0).round()).collect();
            let w = vec![1.0 / n as f64; n];
            let sol = network_simplex(&w, &w, &c, u64::MAX, &ctl).unwrap();
            let want = best_assignment(&c, n) / n as f64;
            assert!(
                (sol.cost - want).abs() < 1e-12,
                "n {n}: {} vs {want}",
                sol.cost
            );
            assert_eq!(sol.status, EmdStatus::Optimal);
        }
    }

    #[test]
    fn plan_is_feasible_and_duals_certify_it() {
        let ctl = Control::new();
        for (n, m, seed) in [(4, 9, 1), (30, 20, 2), (50, 50, 3)] {
            let mut r = lcg(seed);
            let mut a: Vec<f64> = (0..n).map(|_| r() + 0.01).collect();
            let mut b: Vec<f64> = (0..m).map(|_| r() + 0.01).collect();
            let (sa, sb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
            a.iter_mut().for_each(|v| *v /= sa);
            b.iter_mut().for_each(|v| *v *= 1.0 / sb);
            let c: Vec<f64> = (0..n * m).map(|_| r()).collect();
            let sol = network_simplex(&a, &b, &c, u64::MAX, &ctl).unwrap();
            assert!(sol.values.len() < n + m);
            let (mut rs, mut cs) = (vec![0.0; n], vec![0.0; m]);
            for k in 0..sol.values.len() {
                rs[sol.rows[k]] += sol.values[k];
                cs[sol.cols[k]] += sol.values[k];
                let e = sol.rows[k] * m + sol.cols[k];
                assert!((c[e] - sol.f[sol.rows[k]] - sol.g[sol.cols[k]]).abs() < 1e-12);
            }
            for i in 0..n {
                assert!((rs[i] - a[i]).abs() < 1e-14);
                for j in 0..m {
                    assert!(c[i * m + j] - sol.f[i] - sol.g[j] > -1e-12);
                }
            }
            for j in 0..m {
                assert!((cs[j] - b[j]).abs() < 1e-12);
            }
            let dual: f64 = a.iter().zip(&sol.f).map(|(x, y)| x * y).sum::<f64>()
                + b.iter().zip(&sol.g).map(|(x, y)| x * y).sum::<f64>();
            assert!((dual - sol.cost).abs() < 1e-12);
        }
    }

    #[test]
    fn max_iter_stops_early() {
        let ctl = Control::new();
        let w = vec![0.25; 4];
        let c: Vec<f64> = (0..16).map(|k| ((k * 7) % 5) as f64).collect();
        let sol = network_simplex(&w, &w, &c, 1, &ctl).unwrap();
        assert_eq!((sol.n_iter, sol.status), (1, EmdStatus::MaxIterReached));
    }
}
