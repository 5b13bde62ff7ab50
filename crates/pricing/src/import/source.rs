//! Reading a source catalog file, with its provenance (path, version, SHA-256).

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::merge::ImportInput;
use crate::catalog::SourceInfo;

/// A parsed source catalog file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The parsed JSON.
    pub json: Value,
    /// Provenance.
    pub info: SourceInfo,
}

/// Errors reading a source catalog.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("parse {path}: {source}")]
    Json {
        /// The path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl SourceFile {
    /// Read and parse `path`; `name` is "litellm" or "genai-prices".
    pub fn read(path: &Path, name: &str, version: Option<String>) -> Result<Self, SourceError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
            path: shown.clone(),
            source,
        })?;
        let json = serde_json::from_slice(&bytes).map_err(|source| SourceError::Json {
            path: shown.clone(),
            source,
        })?;
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let info = SourceInfo {
            name: name.to_owned(),
            file: Some(shown),
            version,
            sha256: Some(sha),
        };
        Ok(SourceFile { json, info })
    }

    /// Borrow as an importer input.
    pub fn input(&self) -> ImportInput<'_> {
        ImportInput {
            json: &self.json,
            source: &self.info,
        }
    }
}
