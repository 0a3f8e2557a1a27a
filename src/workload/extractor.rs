//! The reference system under test: a CNN + LSTM feature extractor with a real forward pass.
//!
//! Per ensemble member, on a window of `T` timesteps x 15 features (columns normalised per
//! window): two 1-D convolutions over time (kernel 3, 15 -> 32 -> 64 channels, ReLU, no
//! padding), an LSTM with 128 hidden units over the remaining `T - 4` steps, a projection of
//! the last 10 hidden states to `fused_feature_dim` (tanh), a 3-class softmax head and a
//! softplus uncertainty head on the last hidden state. Members (3 by default) have their own
//! seeded weights and their outputs are averaged. Convolutions and the LSTM's input weights
//! run as matrix products (ndarray's `dot`, on matrixmultiply); the recurrence is one
//! matrix-vector product per step. Arithmetic is `f32`.
//!
//! Multiply-accumulates per extraction of a 60 x 15 window, per member: conv 58x45x32 =
//! 83,520 and 56x96x64 = 344,064; LSTM input 56x64x512 = 1,835,008 and recurrence
//! 56x128x512 = 3,670,016; projection 10x128x256 = 327,680; heads 128x4 = 512. That is
//! 6,260,800 per member and **18,782,400 for the default ensemble of three**.
//!
//! Around the model, [`FeatureExtractor`] keeps the design's behaviour: an LRU cache keyed by a
//! hash of the window's bytes, and a fallback to cheap statistics when the model cannot take
//! the window (wrong shape, values that forward filling cannot repair, non-finite output).

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis, s};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::lru::LruCache;
use super::market::FEATURES;

const KERNEL: usize = 3;
const CONV1_CHANNELS: usize = 32;
const CONV2_CHANNELS: usize = 64;
const HIDDEN: usize = 128;
/// Timesteps of fused features the extractor returns (the design's 1 x 10 x 256).
pub const OUTPUT_STEPS: usize = 10;
const CLASSES: usize = 3;
/// The shortest window the model takes: two convolutions eat 4 steps, 10 must remain.
pub const MIN_TIMESTEPS: usize = 2 * (KERNEL - 1) + OUTPUT_STEPS;
/// The longest window the model takes.
pub const MAX_TIMESTEPS: usize = 1024;

/// The design's extractor settings, plus the ensemble and seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureExtractionConfig {
    /// Width of the fused features (default 256).
    pub fused_feature_dim: usize,
    /// Keep results in an LRU cache keyed by the window's bytes (default on).
    pub enable_caching: bool,
    /// Entries of the cache (default 1000).
    pub cache_size: usize,
    /// Answer with statistical features when the model cannot (default on).
    pub enable_fallback: bool,
    /// Average all ensemble members; off: the first only (default on).
    pub use_ensemble: bool,
    /// Members of the ensemble (default 3).
    pub ensemble_members: usize,
    /// Seed of the weights.
    pub seed: u64,
}

impl Default for FeatureExtractionConfig {
    fn default() -> Self {
        FeatureExtractionConfig {
            fused_feature_dim: 256,
            enable_caching: true,
            cache_size: 1000,
            enable_fallback: true,
            use_ensemble: true,
            ensemble_members: 3,
            seed: 0x0bad_5eed,
        }
    }
}

/// Why the model could not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackCause {
    /// The window is not `MIN_TIMESTEPS..=MAX_TIMESTEPS` x 15.
    UnsupportedShape {
        /// Rows of the window.
        timesteps: usize,
        /// Columns of the window.
        features: usize,
    },
    /// A column has no finite value to fill the others from.
    NonFinite,
    /// The forward pass produced non-finite values.
    ModelError,
}

impl fmt::Display for FallbackCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FallbackCause::UnsupportedShape {
                timesteps,
                features,
            } => write!(
                f,
                "window {timesteps} x {features}: the model takes {MIN_TIMESTEPS}..={MAX_TIMESTEPS} x {FEATURES}"
            ),
            FallbackCause::NonFinite => f.write_str("a column has no finite value"),
            FallbackCause::ModelError => f.write_str("the model produced non-finite values"),
        }
    }
}

/// The extraction failed and fallback is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractError(pub FallbackCause);

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "feature extraction failed: {}", self.0)
    }
}

impl std::error::Error for ExtractError {}

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A forward pass.
    Model,
    /// The cache (an earlier forward pass on the same bytes).
    Cache,
    /// Statistical features, because of the cause given.
    Fallback(FallbackCause),
}

/// The extractor's answer, in the design's shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Extraction {
    /// 1 x 10 x fused_feature_dim.
    pub fused_features: Array3<f32>,
    /// 1 x 3, summing to 1.
    pub classification_probs: Array2<f32>,
    /// 1 x 1, positive.
    pub regression_uncertainty: Array2<f32>,
    /// Model, cache or fallback.
    pub source: Source,
}

/// A dense layer: `outputs x inputs` weights and a bias.
struct Dense {
    w: Array2<f32>,
    b: Array1<f32>,
}

impl Dense {
    /// Xavier-uniform weights, zero bias.
    fn new(rng: &mut Xoshiro256PlusPlus, inputs: usize, outputs: usize) -> Dense {
        let bound = (6.0 / (inputs + outputs) as f32).sqrt();
        Dense {
            w: Array2::from_shape_fn((outputs, inputs), |_| rng.random_range(-bound..bound)),
            b: Array1::zeros(outputs),
        }
    }

    /// One input vector.
    fn apply(&self, x: ArrayView1<f32>) -> Array1<f32> {
        self.w.dot(&x) + &self.b
    }

    /// One input per row: a matrix product.
    fn apply_rows(&self, xs: ArrayView2<f32>) -> Array2<f32> {
        xs.dot(&self.w.t()) + &self.b
    }
}

/// A 1-D convolution over time without padding, as a dense layer over stacked rows.
fn conv1d(layer: &Dense, x: ArrayView2<f32>) -> Array2<f32> {
    let (steps, channels) = x.dim();
    let rows = steps + 1 - KERNEL;
    let stacked = Array2::from_shape_fn((rows, KERNEL * channels), |(t, j)| {
        x[[t + j / channels, j % channels]]
    });
    layer.apply_rows(stacked.view()).mapv_into(|v| v.max(0.0))
}

struct Lstm {
    input: Dense,
    /// 4H x H, gates in the order input, forget, cell, output.
    recurrent: Array2<f32>,
}

impl Lstm {
    fn new(rng: &mut Xoshiro256PlusPlus, inputs: usize) -> Lstm {
        let mut input = Dense::new(rng, inputs, 4 * HIDDEN);
        // A forget-gate bias of 1 keeps early memory, the usual initialisation.
        input.b.slice_mut(s![HIDDEN..2 * HIDDEN]).fill(1.0);
        Lstm {
            input,
            recurrent: Dense::new(rng, HIDDEN, 4 * HIDDEN).w,
        }
    }

    /// Hidden states for every step: steps x H.
    fn run(&self, xs: ArrayView2<f32>) -> Array2<f32> {
        let gates_in = self.input.apply_rows(xs);
        let mut hidden = Array2::zeros((xs.nrows(), HIDDEN));
        let mut h = Array1::<f32>::zeros(HIDDEN);
        let mut c = Array1::<f32>::zeros(HIDDEN);
        for (t, gates_x) in gates_in.axis_iter(Axis(0)).enumerate() {
            let z = &gates_x + &self.recurrent.dot(&h);
            for k in 0..HIDDEN {
                let i = sigmoid(z[k]);
                let f = sigmoid(z[HIDDEN + k]);
                let g = z[2 * HIDDEN + k].tanh();
                let o = sigmoid(z[3 * HIDDEN + k]);
                c[k] = f * c[k] + i * g;
                h[k] = o * c[k].tanh();
            }
            hidden.row_mut(t).assign(&h);
        }
        hidden
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

struct Member {
    conv1: Dense,
    conv2: Dense,
    lstm: Lstm,
    project: Dense,
    classify: Dense,
    uncertainty: Dense,
}

impl Member {
    fn new(seed: u64, fused_dim: usize) -> Member {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        Member {
            conv1: Dense::new(&mut rng, KERNEL * FEATURES, CONV1_CHANNELS),
            conv2: Dense::new(&mut rng, KERNEL * CONV1_CHANNELS, CONV2_CHANNELS),
            lstm: Lstm::new(&mut rng, CONV2_CHANNELS),
            project: Dense::new(&mut rng, HIDDEN, fused_dim),
            classify: Dense::new(&mut rng, HIDDEN, CLASSES),
            uncertainty: Dense::new(&mut rng, HIDDEN, 1),
        }
    }

    /// (fused features: 10 x D, class logits, uncertainty) for a normalised window.
    fn forward(&self, x: ArrayView2<f32>) -> (Array2<f32>, Array1<f32>, f32) {
        let a = conv1d(&self.conv1, x);
        let b = conv1d(&self.conv2, a.view());
        let hidden = self.lstm.run(b.view());
        let last_steps = hidden.slice(s![hidden.nrows() - OUTPUT_STEPS.., ..]);
        let fused = self.project.apply_rows(last_steps).mapv_into(f32::tanh);
        let last = hidden.row(hidden.nrows() - 1);
        let logits = self.classify.apply(last);
        let raw = self.uncertainty.apply(last)[0];
        let softplus = raw.max(0.0) + (-raw.abs()).exp().ln_1p();
        (fused, logits, softplus + 1e-6)
    }
}

/// The ensemble's weights: built once from a seed and shared read-only between workers.
pub struct FeatureModel {
    members: Vec<Member>,
    fused_dim: usize,
}

impl FeatureModel {
    /// An ensemble of `members` (at least 1) with weights drawn from `seed`.
    pub fn new(seed: u64, members: usize, fused_dim: usize) -> FeatureModel {
        FeatureModel {
            members: (0..members.max(1) as u64)
                .map(|m| Member::new(seed ^ m.wrapping_mul(0x9e37_79b9_7f4a_7c15), fused_dim))
                .collect(),
            fused_dim: fused_dim.max(1),
        }
    }

    /// Width of the fused features.
    pub fn fused_dim(&self) -> usize {
        self.fused_dim
    }

    /// The averaged forward pass of the first `members` members on a normalised window.
    fn forward(&self, x: ArrayView2<f32>, members: usize) -> Extraction {
        let used = &self.members[..members.clamp(1, self.members.len())];
        let mut fused = Array2::<f32>::zeros((OUTPUT_STEPS, self.fused_dim));
        let mut probs = Array1::<f32>::zeros(CLASSES);
        let mut uncertainty = 0.0;
        for member in used {
            let (f, logits, u) = member.forward(x);
            fused += &f;
            probs += &softmax(logits.view());
            uncertainty += u;
        }
        let n = used.len() as f32;
        Extraction {
            fused_features: (fused / n).insert_axis(Axis(0)),
            classification_probs: (probs / n).insert_axis(Axis(0)),
            regression_uncertainty: Array2::from_elem((1, 1), uncertainty / n),
            source: Source::Model,
        }
    }
}

fn softmax(logits: ArrayView1<f32>) -> Array1<f32> {
    let max = logits.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let exp = logits.mapv(|v| (v - max).exp());
    let sum = exp.sum();
    exp / sum
}

/// The design's extractor: model, cache and fallback around one [`FeatureModel`].
pub struct FeatureExtractor {
    model: Arc<FeatureModel>,
    config: FeatureExtractionConfig,
    cache: Option<LruCache<Extraction>>,
}

impl FeatureExtractor {
    /// An extractor with a model of its own.
    pub fn new(config: FeatureExtractionConfig) -> FeatureExtractor {
        let model = FeatureModel::new(
            config.seed,
            config.ensemble_members,
            config.fused_feature_dim,
        );
        FeatureExtractor::with_model(Arc::new(model), config)
    }

    /// An extractor sharing `model` (read-only) with others; its cache is its own.
    pub fn with_model(
        model: Arc<FeatureModel>,
        config: FeatureExtractionConfig,
    ) -> FeatureExtractor {
        FeatureExtractor {
            model,
            cache: config
                .enable_caching
                .then(|| LruCache::new(config.cache_size)),
            config,
        }
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<FeatureModel> {
        &self.model
    }

    /// Extracts features from a `timesteps x 15` window; see the module doc.
    pub fn extract_features(
        &mut self,
        window: ArrayView2<f64>,
    ) -> Result<Extraction, ExtractError> {
        let key = window_hash(window);
        if let Some(hit) = self.cache.as_mut().and_then(|c| c.get(key)) {
            return Ok(Extraction {
                source: Source::Cache,
                ..hit.clone()
            });
        }
        let outcome = self.run_model(window);
        match outcome {
            Ok(extraction) => {
                if let Some(cache) = self.cache.as_mut() {
                    cache.put(key, extraction.clone());
                }
                Ok(extraction)
            }
            Err(cause) if self.config.enable_fallback => {
                Ok(fallback(window, cause, self.model.fused_dim))
            }
            Err(cause) => Err(ExtractError(cause)),
        }
    }

    /// Extracts features from every window of a `batch x timesteps x 15` array.
    pub fn extract_batch(
        &mut self,
        batch: ArrayView3<f64>,
    ) -> Vec<Result<Extraction, ExtractError>> {
        batch
            .axis_iter(Axis(0))
            .map(|window| self.extract_features(window))
            .collect()
    }

    fn run_model(&self, window: ArrayView2<f64>) -> Result<Extraction, FallbackCause> {
        let (timesteps, features) = window.dim();
        if features != FEATURES || !(MIN_TIMESTEPS..=MAX_TIMESTEPS).contains(&timesteps) {
            return Err(FallbackCause::UnsupportedShape {
                timesteps,
                features,
            });
        }
        let x = normalise(&forward_fill(window)?);
        let members = if self.config.use_ensemble {
            self.model.members.len()
        } else {
            1
        };
        let extraction = self.model.forward(x.view(), members);
        let finite = extraction.fused_features.iter().all(|v| v.is_finite())
            && extraction
                .classification_probs
                .iter()
                .all(|v| v.is_finite())
            && extraction.regression_uncertainty[[0, 0]].is_finite();
        if finite {
            Ok(extraction)
        } else {
            Err(FallbackCause::ModelError)
        }
    }
}

/// A hash of the window's shape and bytes: the cache key.
fn window_hash(window: ArrayView2<f64>) -> u64 {
    let mut hasher = DefaultHasher::new();
    window.dim().hash(&mut hasher);
    for v in window.iter() {
        v.to_bits().hash(&mut hasher);
    }
    hasher.finish()
}

/// Replaces non-finite values by the last finite value above them (or, at the top of a
/// column, the first finite value below). Fails if a column has none.
fn forward_fill(window: ArrayView2<f64>) -> Result<Array2<f64>, FallbackCause> {
    let mut filled = window.to_owned();
    for mut column in filled.columns_mut() {
        let first = column
            .iter()
            .copied()
            .find(|v| v.is_finite())
            .ok_or(FallbackCause::NonFinite)?;
        let mut last = first;
        for v in column.iter_mut() {
            if v.is_finite() {
                last = *v;
            } else {
                *v = last;
            }
        }
    }
    Ok(filled)
}

/// Each column to zero mean and unit standard deviation (a constant column to zeros).
fn normalise(window: &Array2<f64>) -> Array2<f32> {
    let mut out = Array2::zeros(window.dim());
    for (j, column) in window.columns().into_iter().enumerate() {
        let mean = column.mean().unwrap_or(0.0);
        let sd = column.std(0.0);
        let scale = if sd > 0.0 { 1.0 / sd } else { 0.0 };
        for (i, v) in column.iter().enumerate() {
            out[[i, j]] = ((v - mean) * scale) as f32;
        }
    }
    out
}

/// Statistical features: per column mean, std, min, max and last finite value, padded with
/// zeros (or folded) to `dim`, the same for each of the 10 steps; uniform class
/// probabilities and an uncertainty of 1.
fn fallback(window: ArrayView2<f64>, cause: FallbackCause, dim: usize) -> Extraction {
    let mut stats = Vec::with_capacity(5 * window.ncols());
    for column in window.columns() {
        let finite: Vec<f64> = column.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            stats.extend([0.0; 5]);
            continue;
        }
        let n = finite.len() as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let sd = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        stats.extend([mean, sd, min, max, finite[finite.len() - 1]]);
    }
    let mut row = vec![0.0f32; dim];
    for (i, v) in stats.iter().enumerate() {
        row[i % dim] += *v as f32;
    }
    let fused = Array3::from_shape_fn((1, OUTPUT_STEPS, dim), |(_, _, k)| row[k]);
    Extraction {
        fused_features: fused,
        classification_probs: Array2::from_elem((1, CLASSES), 1.0 / CLASSES as f32),
        regression_uncertainty: Array2::from_elem((1, 1), 1.0),
        source: Source::Fallback(cause),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::market::{DataKind, FeatureExtractionDataGenerator};

    fn window(seed: u64) -> Array2<f64> {
        FeatureExtractionDataGenerator::new(seed).window(DataKind::Single, 60, 15)
    }

    fn extractor(config: FeatureExtractionConfig) -> FeatureExtractor {
        FeatureExtractor::new(config)
    }

    #[test]
    fn outputs_have_the_designs_shapes_and_ranges() {
        let mut e = extractor(FeatureExtractionConfig::default());
        let out = e.extract_features(window(1).view()).unwrap();
        assert_eq!(out.source, Source::Model);
        assert_eq!(out.fused_features.dim(), (1, 10, 256));
        assert_eq!(out.classification_probs.dim(), (1, 3));
        assert!((out.classification_probs.sum() - 1.0).abs() < 1e-5);
        assert!(out.classification_probs.iter().all(|&p| p > 0.0));
        assert!(out.regression_uncertainty[[0, 0]] > 0.0);
        assert!(out.fused_features.iter().all(|v| v.abs() <= 1.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_answer() {
        let config = FeatureExtractionConfig {
            enable_caching: false,
            ..FeatureExtractionConfig::default()
        };
        let a = extractor(config)
            .extract_features(window(2).view())
            .unwrap();
        let b = extractor(config)
            .extract_features(window(2).view())
            .unwrap();
        let c = extractor(FeatureExtractionConfig { seed: 9, ..config })
            .extract_features(window(2).view())
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a.fused_features, c.fused_features);
    }

    #[test]
    fn the_ensemble_averages_its_members() {
        let single = FeatureExtractionConfig {
            use_ensemble: false,
            enable_caching: false,
            ..FeatureExtractionConfig::default()
        };
        let one = extractor(single)
            .extract_features(window(3).view())
            .unwrap();
        let three = extractor(FeatureExtractionConfig {
            use_ensemble: true,
            ..single
        })
        .extract_features(window(3).view())
        .unwrap();
        assert_ne!(one.classification_probs, three.classification_probs);
    }

    #[test]
    fn a_repeated_window_hits_the_cache_and_the_oldest_is_evicted() {
        let mut e = extractor(FeatureExtractionConfig {
            cache_size: 2,
            ..FeatureExtractionConfig::default()
        });
        let (w1, w2, w3) = (window(10), window(11), window(12));
        let first = e.extract_features(w1.view()).unwrap();
        let again = e.extract_features(w1.view()).unwrap();
        assert_eq!(again.source, Source::Cache);
        assert_eq!(again.fused_features, first.fused_features);
        e.extract_features(w2.view()).unwrap();
        e.extract_features(w3.view()).unwrap();
        // w1 was least recently used when w3 came in.
        assert_eq!(e.extract_features(w1.view()).unwrap().source, Source::Model);
        assert_eq!(e.extract_features(w3.view()).unwrap().source, Source::Cache);
    }

    #[test]
    fn each_fallback_cause() {
        let mut e = extractor(FeatureExtractionConfig::default());
        let mut data = FeatureExtractionDataGenerator::new(4);
        let small = data.window(DataKind::EdgeCaseSmall, 60, 15);
        let out = e.extract_features(small.view()).unwrap();
        assert_eq!(
            out.source,
            Source::Fallback(FallbackCause::UnsupportedShape {
                timesteps: 10,
                features: 5
            })
        );
        assert_eq!(out.fused_features.dim(), (1, 10, 256));
        assert!((out.classification_probs.sum() - 1.0).abs() < 1e-6);
        let large = data.window(DataKind::EdgeCaseLarge, 60, 15);
        assert!(matches!(
            e.extract_features(large.view()).unwrap().source,
            Source::Fallback(FallbackCause::UnsupportedShape { .. })
        ));
        // The design's NaN case is repaired by forward filling: the model answers.
        let nan = data.window(DataKind::EdgeCaseNan, 60, 15);
        assert_eq!(
            e.extract_features(nan.view()).unwrap().source,
            Source::Model
        );
        // A column with no finite value cannot be filled.
        let mut hopeless = window(5);
        hopeless.column_mut(7).fill(f64::NAN);
        assert_eq!(
            e.extract_features(hopeless.view()).unwrap().source,
            Source::Fallback(FallbackCause::NonFinite)
        );
        // A model whose weights went bad (say, loaded from a corrupt file) answers NaN.
        let config = FeatureExtractionConfig::default();
        let mut poisoned = FeatureModel::new(config.seed, 3, 256);
        poisoned.members[1].project.w[[0, 0]] = f32::NAN;
        let mut e = FeatureExtractor::with_model(Arc::new(poisoned), config);
        assert_eq!(
            e.extract_features(window(6).view()).unwrap().source,
            Source::Fallback(FallbackCause::ModelError)
        );
    }

    #[test]
    fn without_fallback_the_cause_is_an_error() {
        let mut e = extractor(FeatureExtractionConfig {
            enable_fallback: false,
            ..FeatureExtractionConfig::default()
        });
        let small = FeatureExtractionDataGenerator::new(1).window(DataKind::EdgeCaseSmall, 60, 15);
        let err = e.extract_features(small.view()).unwrap_err();
        assert!(matches!(err.0, FallbackCause::UnsupportedShape { .. }));
        assert!(err.to_string().contains("10 x 5"));
    }

    #[test]
    fn forward_fill_repairs_gaps_and_leading_values() {
        let mut w = Array2::from_shape_vec((4, 1), vec![f64::NAN, 2.0, f64::NAN, 5.0]).unwrap();
        assert_eq!(
            forward_fill(w.view()).unwrap().column(0).to_vec(),
            vec![2.0, 2.0, 2.0, 5.0]
        );
        w.fill(f64::INFINITY);
        assert_eq!(forward_fill(w.view()), Err(FallbackCause::NonFinite));
    }

    #[test]
    fn batches_extract_every_window() {
        let batch = FeatureExtractionDataGenerator::new(8)
            .market()
            .batch(4, 60, 15);
        let out = extractor(FeatureExtractionConfig::default()).extract_batch(batch.view());
        assert_eq!(out.len(), 4);
        assert!(
            out.iter()
                .all(|r| r.as_ref().unwrap().source == Source::Model)
        );
    }
}
