//! The reference workload: the system the design sketch was written to test.
//!
//! [`market`] generates seeded market-data windows whose indicators are computed from the
//! generated prices ([`indicators`]); [`extractor`] is a CNN + LSTM feature extractor with a
//! real forward pass, an LRU cache ([`lru`]) and a statistical fallback. The `features` target
//! (`crate::targets::features`) puts them under load. Nothing here knows about the engine.

pub mod extractor;
pub mod indicators;
pub mod lru;
pub mod market;

pub use extractor::{
    Extraction, FallbackCause, FeatureExtractionConfig, FeatureExtractor, FeatureModel, Source,
};
pub use market::{DataKind, FeatureExtractionDataGenerator, MarketDataGenerator};
