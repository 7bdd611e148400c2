//! Checkpoints: named tensors plus string metadata in one safetensors file, written atomically.
//!
//! A crash while saving must never destroy the previous checkpoint, so the bytes go to a
//! temporary file beside the target, are flushed to disk, and only then renamed over it
//! (a rename within one folder is atomic on POSIX file systems).

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {action}: {source}")]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    #[error("{path}: not a valid safetensors checkpoint: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{path}: checkpoint does not fit this model: {msg}")]
    Architecture { path: PathBuf, msg: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The contents of a checkpoint file.
pub struct Checkpoint {
    pub path: PathBuf,
    pub tensors: HashMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
}

impl Checkpoint {
    /// A metadata entry, or an error naming the missing key.
    pub fn meta(&self, key: &str) -> Result<&str, CheckpointError> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| CheckpointError::Format {
            path: self.path.clone(),
            msg: format!("metadata has no '{key}' entry"),
        })
    }

    /// A metadata entry parsed from JSON.
    pub fn meta_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T, CheckpointError> {
        serde_json::from_str(self.meta(key)?).map_err(|e| CheckpointError::Format {
            path: self.path.clone(),
            msg: format!("metadata '{key}' is not valid: {e}"),
        })
    }

    /// Copies the checkpoint's tensors into every variable of `varmap`, after checking that each
    /// variable exists in the file with the same shape. Nothing is changed if any check fails.
    pub fn load_into(&self, varmap: &VarMap) -> Result<(), CheckpointError> {
        let vars = varmap.data().lock().map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?;
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        let mut problems = Vec::new();
        for name in &names {
            match self.tensors.get(*name) {
                None => problems.push(format!("{name} is missing")),
                Some(t) if t.dims() != vars[*name].dims() => problems.push(format!(
                    "{name} has shape {:?} in the file, the model expects {:?}",
                    t.dims(),
                    vars[*name].dims()
                )),
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            return Err(CheckpointError::Architecture { path: self.path.clone(), msg: problems.join("; ") });
        }
        for name in names {
            let var = &vars[name];
            var.set(&self.tensors[name].to_device(var.device())?.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }
}

/// Writes `tensors` and `metadata` to `path` atomically (temporary file, fsync, rename).
pub fn save_atomic(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<(), CheckpointError> {
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
        .map_err(|e| CheckpointError::Format { path: path.into(), msg: e.to_string() })?;
    write_atomic(path, &bytes)
}

/// Writes bytes to `path` through a temporary file and a rename, so readers see the old file or
/// the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |action, source| CheckpointError::Io { path: path.into(), action, source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create its folder", e))?;
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("cannot create the temporary file", e))?;
    file.write_all(bytes).map_err(|e| io("cannot write the temporary file", e))?;
    file.sync_all().map_err(|e| io("cannot flush the temporary file", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io("cannot rename the temporary file over it", e))
}

/// Reads a checkpoint written by [`save_atomic`].
pub fn load(path: &Path, dev: &Device) -> Result<Checkpoint, CheckpointError> {
    if path.exists() && !path.is_file() {
        let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
        return Err(CheckpointError::Io { path: path.into(), action: "cannot read the checkpoint", source });
    }
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.into(),
        action: "cannot read the checkpoint",
        source,
    })?;
    from_bytes(&bytes, path, dev)
}

/// Reads a checkpoint from its bytes; errors name `path`.
pub fn from_bytes(bytes: &[u8], path: &Path, dev: &Device) -> Result<Checkpoint, CheckpointError> {
    let format = |msg: String| CheckpointError::Format { path: path.into(), msg };
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| format(e.to_string()))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(bytes, dev).map_err(|e| format(e.to_string()))?;
    Ok(Checkpoint { path: path.into(), tensors, metadata })
}
