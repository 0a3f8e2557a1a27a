//! Criterion benches of the reference workload: one extraction of a 60 x 15 window with the
//! default ensemble of three (cache off), a batch of 32, and generating a window.
//!
//! `cargo bench --bench extractor`. Figures from the project's machine are in docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use openpace::workload::{
    DataKind, FeatureExtractionConfig, FeatureExtractionDataGenerator, FeatureExtractor,
};

fn extractor(c: &mut Criterion) {
    let mut g = c.benchmark_group("extractor");
    let config = FeatureExtractionConfig {
        enable_caching: false,
        ..FeatureExtractionConfig::default()
    };
    let mut data = FeatureExtractionDataGenerator::new(1);
    let window = data.window(DataKind::Single, 60, 15);
    let batch = data.market().batch(32, 60, 15);
    let mut e = FeatureExtractor::new(config);
    g.bench_function("extract 60x15, ensemble of 3, cache off", |b| {
        b.iter(|| black_box(e.extract_features(window.view()).unwrap()))
    });
    let mut single = FeatureExtractor::new(FeatureExtractionConfig {
        use_ensemble: false,
        ..config
    });
    g.bench_function("extract 60x15, one member, cache off", |b| {
        b.iter(|| black_box(single.extract_features(window.view()).unwrap()))
    });
    g.bench_function("extract a batch of 32 x 60x15, ensemble of 3", |b| {
        b.iter(|| black_box(e.extract_batch(batch.view())))
    });
    let mut cached = FeatureExtractor::new(FeatureExtractionConfig::default());
    cached.extract_features(window.view()).unwrap();
    g.bench_function("extract 60x15, cache hit", |b| {
        b.iter(|| black_box(cached.extract_features(window.view()).unwrap()))
    });
    g.bench_function("generate a 60x15 market window", |b| {
        b.iter(|| black_box(data.window(DataKind::Single, 60, 15)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = extractor
}
criterion_main!(benches);
