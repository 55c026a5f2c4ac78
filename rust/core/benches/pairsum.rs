//! Criterion benchmarks of the pair engine: Gaussian kernel evaluations per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use divergent_core::{cross_sum, self_sum_offdiag, Control, Kernel};
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

criterion_group!(benches, bench);
criterion_main!(benches);
