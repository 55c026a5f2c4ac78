//! Criterion benchmarks of the Sinkhorn soft-min: pairs per second of one hinted pass.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use divergent_core::{CloudCost, Control, Side, Softmin};
mod common;
use common::points;

fn bench(c: &mut Criterion) {
    let ctl = Control::new();
    let mut g = c.benchmark_group("softmin");
    g.sample_size(10);
    let (n, d) = (4000, 3);
    let cost = CloudCost::new(points(n, d, 1).view(), points(n, d, 2).view(), 2.0).unwrap();
    let w = vec![-(n as f64).ln(); n];
    for eps in [1e-2, 1e-3] {
        // Hinted with the exact result, as in a Sinkhorn iteration near convergence.
        let none = vec![f64::NAN; n];
        let (hint, _) = cost.lse(Side::X, &w, eps, &none, false, &ctl).unwrap();
        g.throughput(Throughput::Elements((n * n) as u64));
        g.bench_function(format!("hinted/n={n}/d={d}/eps={eps}"), |b| {
            b.iter(|| cost.lse(Side::X, &w, eps, &hint, false, &ctl).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
