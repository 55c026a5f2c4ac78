use super::*;
use crate::test_util::random_points;
use ndarray::Array2;

fn naive_dist(a: &[f64], b: &[f64], metric: Metric) -> f64 {
    let mut acc = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let t = x - y;
        match metric {
            Metric::Euclidean => acc += t * t,
            Metric::Chebyshev => acc = acc.max(t.abs()),
        }
    }
    match metric {
        Metric::Euclidean => acc.sqrt(),
        Metric::Chebyshev => acc,
    }
}

fn brute(
    data: &Array2<f64>,
    queries: &Array2<f64>,
    own: bool,
    metric: Metric,
) -> Vec<Vec<(f64, u32)>> {
    (0..queries.nrows())
        .map(|i| {
            let q = queries.row(i).to_vec();
            let mut all: Vec<(f64, u32)> = (0..data.nrows())
                .filter(|&j| !(own && j == i))
                .map(|j| (naive_dist(&q, &data.row(j).to_vec(), metric), j as u32))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            all
        })
        .collect()
}

fn integer_points(n: usize, d: usize, seed: u64) -> Array2<f64> {
    random_points(n, d, seed).mapv(|v| (v * 2.0).floor())
}

#[test]
fn knn_matches_brute_force_exactly() {
    let ctl = Control::new();
    for (n, d, seed) in [(1, 2, 1), (7, 1, 2), (300, 3, 3), (1500, 2, 4), (500, 6, 5)] {
        for data in [random_points(n, d, seed), integer_points(n, d, seed)] {
            for metric in [Metric::Euclidean, Metric::Chebyshev] {
                let expect = brute(&data, &data, true, metric);
                for k in [1, 2, 5, n.saturating_sub(1)] {
                    if k == 0 || k > n - 1 {
                        continue;
                    }
                    let got = knn_self(data.view(), k, metric, true, &ctl).unwrap();
                    let idx = got.indices.unwrap();
                    for i in 0..n {
                        for j in 0..k {
                            assert_eq!(
                                got.distances[i * k + j],
                                expect[i][j].0,
                                "n={n} d={d} k={k}"
                            );
                            assert_eq!(idx[i * k + j], expect[i][j].1);
                        }
                    }
                    let kth = knn_self(data.view(), k, metric, false, &ctl).unwrap();
                    for (got, want) in kth.distances.iter().zip(&expect) {
                        assert_eq!(*got, want[k - 1].0);
                    }
                }
                let queries = random_points(1200, d, seed + 100);
                let expect = brute(&data, &queries, false, metric);
                let k = n.min(3);
                let got = knn_cross(data.view(), queries.view(), k, metric, true, &ctl).unwrap();
                let idx = got.indices.unwrap();
                for i in 0..queries.nrows() {
                    for j in 0..k {
                        assert_eq!(got.distances[i * k + j], expect[i][j].0);
                        assert_eq!(idx[i * k + j], expect[i][j].1);
                    }
                }
            }
        }
    }
}

#[test]
fn counts_match_brute_force_exactly() {
    let ctl = Control::new();
    for (n, d, seed) in [(5, 1, 1), (400, 2, 2), (1300, 3, 3)] {
        for data in [random_points(n, d, seed), integer_points(n, d, seed)] {
            for metric in [Metric::Euclidean, Metric::Chebyshev] {
                // Radii at exact neighbour distances exercise the strict/non-strict edge.
                let kth = knn_self(data.view(), (n - 1).min(4), metric, false, &ctl).unwrap();
                let mut radii = kth.distances.clone();
                radii[0] = 0.0;
                for strict in [true, false] {
                    let got = count_self(data.view(), &radii, metric, strict, &ctl).unwrap();
                    for i in 0..n {
                        let q = data.row(i).to_vec();
                        let want = (0..n)
                            .filter(|&j| j != i)
                            .filter(|&j| {
                                let dd = naive_dist(&q, &data.row(j).to_vec(), metric);
                                if strict {
                                    dd < radii[i]
                                } else {
                                    dd <= radii[i]
                                }
                            })
                            .count() as u64;
                        assert_eq!(got[i], want, "n={n} i={i} strict={strict}");
                    }
                }
            }
        }
    }
}

#[test]
fn invalid_k_is_an_error() {
    let ctl = Control::new();
    let x = random_points(5, 2, 1);
    assert!(knn_self(x.view(), 5, Metric::Euclidean, false, &ctl).is_err());
    assert!(knn_self(x.view(), 0, Metric::Euclidean, false, &ctl).is_err());
    assert!(knn_cross(x.view(), x.view(), 6, Metric::Euclidean, false, &ctl).is_err());
    assert!(knn_cross(x.view(), x.view(), 5, Metric::Euclidean, false, &ctl).is_ok());
}
