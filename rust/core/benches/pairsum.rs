//! Criterion benchmarks of the pair engine: kernel evaluations per second, and the two
//! paths (coordinate differences, Gram expansion) side by side across dimensions, in
//! f64 and f32, which is where `pairwise::use_gram`'s switch points come from:
//!
//!     cargo bench -p divergent-core --bench pairsum -- paths

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use divergent_core::{cross_sum, cross_sum_on, self_sum_offdiag, Control, Isa, Kernel, PairPath};
mod common;
use common::points;

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

fn paths(c: &mut Criterion) {
    let ctl = Control::new();
    let isa = Isa::current();
    let mut g = c.benchmark_group("paths");
    g.sample_size(10);
    let n = 2000;
    for &d in &[4usize, 8, 12, 16, 24, 32, 64, 128, 512] {
        let x = points(n, d, 1);
        let y = points(n, d, 2);
        let (x32, y32) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
        let kernel = Kernel::Gaussian {
            bandwidth: (d as f64 / 6.0).sqrt(),
        };
        g.throughput(Throughput::Elements((n * n) as u64));
        for (name, path) in [
            ("differences", PairPath::Differences),
            ("gram", PairPath::Gram),
        ] {
            g.bench_function(format!("f64/{name}/d={d}"), |b| {
                b.iter(|| {
                    cross_sum_on(path, isa, x.view(), None, y.view(), None, kernel, &ctl).unwrap()
                })
            });
            g.bench_function(format!("f32/{name}/d={d}"), |b| {
                b.iter(|| {
                    cross_sum_on(path, isa, x32.view(), None, y32.view(), None, kernel, &ctl)
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, paths);
criterion_main!(benches);
