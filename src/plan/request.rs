//! A placement request from what a user asks for: the engine, its settings and the checks that
//! refuse a combination the engine does not run, with the flag to change in each message.

use crate::estimate::{Engine, EngineOptions, KvType, PlaceRequest, WeightFormat};

/// What a user asks for, parsed but not yet checked.
#[derive(Debug, Clone)]
pub struct Ask {
    pub engine: Engine,
    pub format: WeightFormat,
    /// The format as the user spelled it (`--quant`), for messages.
    pub quant: String,
    pub imatrix: bool,
    pub ctx: u64,
    pub kv_type: KvType,
    pub parallel: u64,
    pub options: EngineOptions,
}

/// An ask the engines cannot run.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RequestError {
    /// The engine refuses the format or cache type (the message says why and what to give).
    #[error("{0}")]
    Engine(String),
    #[error("--parallel must be 1..4096, got {0}")]
    Parallel(u64),
    #[error("--ubatch must be 16..65536, got {0}")]
    Ubatch(u64),
    #[error("--gpu-util must be in (0.05, 1], got {0}")]
    GpuUtil(f64),
}

/// The request for `ask`, or why the engine cannot run it.
pub fn build(ask: &Ask) -> Result<PlaceRequest, RequestError> {
    if let Some(why) = ask.engine.refuse(ask.format, &ask.quant, ask.kv_type) {
        return Err(RequestError::Engine(why));
    }
    if ask.parallel == 0 || ask.parallel > 4096 {
        return Err(RequestError::Parallel(ask.parallel));
    }
    let o = &ask.options;
    if !(16..=65536).contains(&o.n_ubatch) {
        return Err(RequestError::Ubatch(o.n_ubatch));
    }
    if !(o.gpu_memory_utilization > 0.05 && o.gpu_memory_utilization <= 1.0) {
        return Err(RequestError::GpuUtil(o.gpu_memory_utilization));
    }
    let mut req = PlaceRequest::new(ask.format, ask.ctx);
    req.imatrix = ask.imatrix;
    req.kv_type = ask.kv_type;
    req.parallel = ask.parallel;
    req.engine = ask.engine.config(o);
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ggml::FileType;

    fn ask(engine: Engine, format: WeightFormat, kv_type: KvType) -> Ask {
        Ask {
            engine,
            format,
            quant: format.name(),
            imatrix: false,
            ctx: 8192,
            kv_type,
            parallel: 1,
            options: EngineOptions::default(),
        }
    }

    #[test]
    fn engines_refuse_what_they_do_not_load() {
        let q4 = WeightFormat::Gguf(FileType::Q4_K_M);
        assert!(build(&ask(Engine::LlamaCpp, q4, KvType::Q8_0)).is_ok());
        assert!(build(&ask(Engine::LlamaCpp, q4, KvType::Fp8)).is_err());
        assert!(build(&ask(Engine::LlamaCpp, WeightFormat::AwqInt4, KvType::F16)).is_err());
        assert!(build(&ask(Engine::Reference, WeightFormat::Fp8, KvType::F16)).is_err());
        assert!(build(&ask(Engine::Vllm, q4, KvType::F16)).is_err());
        assert!(build(&ask(Engine::Vllm, WeightFormat::Bf16, KvType::Q4_0)).is_err());
        let bf16 = build(&ask(Engine::Vllm, WeightFormat::Bf16, KvType::Fp8)).unwrap();
        assert_eq!(bf16.engine(), Engine::Vllm);
    }

    #[test]
    fn bounds_are_checked() {
        let mut a = ask(
            Engine::LlamaCpp,
            WeightFormat::Gguf(FileType::Q8_0),
            KvType::F16,
        );
        a.parallel = 0;
        assert_eq!(build(&a).unwrap_err(), RequestError::Parallel(0));
        a.parallel = 1;
        a.options.n_ubatch = 8;
        assert_eq!(build(&a).unwrap_err(), RequestError::Ubatch(8));
        a.options.n_ubatch = 512;
        a.options.gpu_memory_utilization = 1.5;
        assert_eq!(build(&a).unwrap_err(), RequestError::GpuUtil(1.5));
    }
}
