//! Criterion benchmarks of the pair engine: Gaussian kernel evaluations per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use divergent_core::{cross_sum, self_sum_offdiag, Control, Kernel};
use ndarray::Array2;

fn points(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut s = seed;
    Array2::from_shape_fn((n, d), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    })
}

fn bench(c: &mut Criterion) {
    let ctl = Control::new();
    let mut g = c.benchmark_group("pairsum");
    g.sample_size(10);
    for &d in &[3usize, 10] {
        let n = 4000;
        let x = points(n, d, 1);
        let y = points(n, d, 2);
        for kernel in [Kernel::Gaussian { bandwidth: 0.5 }, Kernel::Energy] {
            g.throughput(Throughput::Elements((n * n) as u64));
            g.bench_function(format!("cross/{kernel:?}/n={n}/d={d}"), |b| {
                b.iter(|| cross_sum(x.view(), None, y.view(), None, kernel, &ctl).unwrap())
            });
            g.throughput(Throughput::Elements((n * (n - 1) / 2) as u64));
            g.bench_function(format!("self/{kernel:?}/n={n}/d={d}"), |b| {
                b.iter(|| self_sum_offdiag(x.view(), None, kernel, &ctl).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
