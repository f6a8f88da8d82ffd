//! Command-line types (clap). No domain logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vramplan::estimate::Engine;

#[derive(Debug, Parser)]
#[command(
    name = "vramplan",
    version,
    about = "Which GPUs run this LLM, at which quantization and context, how fast, at what cost."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory of extra catalogue files (*.toml) that add or override entries by id.
    #[arg(long, global = true, value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Print one JSON report object instead of a table (same as `--format json`).
    #[arg(long, global = true)]
    pub json: bool,
    /// Output format: a table for people, one JSON object, Markdown tables, or CSV (raw units:
    /// bytes as integers, rates as plain numbers).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Colour for verdicts and warnings: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Md,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List catalogue entries: models, hardware or API prices.
    List(ListArgs),
    /// Every field of one model, device or API price, plus derived figures.
    Show(ShowArgs),
    /// What runs on these devices (default: this machine): every catalogue model with the best
    /// quantization that fits at the context, its decode tok/s, expected KLD and weight size.
    Models(ModelsArgs),
    /// The user catalogue: `catalog add config.json` makes a local model a catalogue id.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Will MODEL at this quantization and context fit these devices? Per-device memory, verdict,
    /// largest context, launch command.
    Fit(FitArgs),
    /// The cheapest device sets from the catalogue that run MODEL at this quantization and context.
    Gpus(GpusArgs),
    /// The quantization ladder of MODEL: bytes, bits per weight, fit and largest context on the
    /// devices, and the quality loss each level costs.
    Quants(QuantsArgs),
    /// A GGUF file or Hugging Face config.json: metadata, tensors and bytes by type, exact
    /// parameter count, bits per weight. (`fit FILE.gguf` hands the same inventory to the estimator.)
    Inspect(InspectArgs),
    /// $ per 1M output tokens: owned hardware, cloud rental and API prices, with break-even volumes.
    Cost(CostArgs),
    /// Quantize a GGUF file to a llama.cpp file type, byte for byte as llama-quantize does.
    Quantize(QuantizeArgs),
    /// Run a GGUF model with the built-in reference engine: continuation and measured tok/s.
    Run(RunArgs),
    /// Token ids of TEXT under a GGUF model's tokenizer (special tokens parsed as llama.cpp does).
    Tokenize(TokenizeArgs),
    /// This machine's hardware: CPU, RAM, SIMD features, NVIDIA GPUs (NVML) matched to the catalogue.
    Detect(DetectArgs),
    /// Quantize a GGUF model to each file type and measure, on this machine with the reference
    /// engine, the quality lost (KL divergence, top-1, perplexity) and tok/s of each level, held
    /// against the estimator's predictions.
    Validate(ValidateArgs),
    /// Shell completion script (catalogue ids offered for MODEL and --gpu), on stdout.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// The manual page (roff), on stdout: `vramplan man > vramplan.1`.
    Man,
}

#[derive(Debug, Args, Clone)]
pub struct DetectArgs {
    /// Measure this machine's memory read bandwidth now (about 10 s) and cache it for planning
    /// (fit for this host); otherwise the cached figure is shown.
    #[arg(long)]
    pub measure: bool,
    /// Threads for --measure (0: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Args, Clone)]
pub struct ValidateArgs {
    /// A GGUF model; an F16/BF16/F32 source gives the cleanest reference. Default: SmolLM2-135M
    /// (Q4_1) where tools/fetch_smollm2.sh puts it.
    pub model: Option<PathBuf>,
    /// File types to measure, comma-separated (those needing an importance matrix excluded).
    #[arg(
        long,
        default_value = "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,IQ4_XS,Q3_K_M,Q2_K"
    )]
    pub types: String,
    /// Compare the levels against this GGUF (e.g. the F16) instead of the source, like
    /// llama-perplexity --kl-divergence-base; same vocabulary required.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Evaluation text file (default: the embedded public-domain text).
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// Tokens per chunk (llama-perplexity's --ctx-size); the second half of each is scored.
    #[arg(long, default_value_t = 512)]
    pub ctx: usize,
    /// Evaluate at most this many chunks (llama-perplexity's --chunks; default: all the text gives).
    #[arg(long)]
    pub chunks: Option<usize>,
    /// Use only the first N tokens of the text.
    #[arg(long)]
    pub tokens: Option<usize>,
    /// Decode steps timed per run.
    #[arg(long, default_value_t = 32)]
    pub decode: usize,
    /// Timed decode runs per level (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Worker threads (0: every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No speed prediction: neither measure nor use this machine's memory bandwidth.
    #[arg(long)]
    pub no_bandwidth: bool,
    /// Write validate.json, validate.md, validate.csv, SVG plots and validate.html into DIR.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No model needed: a generated ~1B-parameter llama-shaped model with random weights gives
    /// the speed half (prefill, decode, predicted vs measured) per level; default levels
    /// Q8_0,Q4_K_M,Q4_0.
    #[arg(long, conflicts_with_all = ["model", "base", "text"])]
    pub synthetic: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// A GGUF model (llama, mistral, smollm2, qwen2, Mixtral-style MoE).
    pub model: PathBuf,
    /// The prompt.
    #[arg(long, short = 'p', conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    /// Read the prompt from FILE (`-`: standard input; at most 1 MiB of UTF-8).
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Tokens to generate.
    #[arg(long, short = 'n', default_value_t = 64)]
    pub n_predict: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub temp: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Context size (default: prompt + generated tokens); at most the model's training context
    /// and what this machine's RAM holds.
    #[arg(long, short = 'c', allow_hyphen_values = true)]
    pub ctx: Option<String>,
    /// KV cache type: f16 or q8_0.
    #[arg(long, default_value = "f16")]
    pub kv_type: String,
}

#[derive(Debug, Args, Clone)]
pub struct TokenizeArgs {
    /// A GGUF model whose tokenizer to use.
    pub model: PathBuf,
    /// The text.
    pub text: String,
    /// Treat special-token text (`<|im_start|>`) as plain text.
    #[arg(long)]
    pub no_parse_special: bool,
    /// Do not add BOS even where the model asks for it.
    #[arg(long)]
    pub no_bos: bool,
    /// Print only the ids, as a list (`[1, 15043, 3186]`, like llama-tokenize --ids); the default
    /// prints `id -> 'piece'` per token.
    #[arg(long)]
    pub ids: bool,
}

#[derive(Debug, Args, Clone)]
pub struct QuantizeArgs {
    /// Input GGUF file.
    pub input: PathBuf,
    /// Output GGUF file (written to a temporary file and renamed into place when complete).
    pub output: PathBuf,
    /// Target file type: Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, IQ4_XS, F16, BF16, ...
    #[arg(long = "type", short = 't')]
    pub ftype: String,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Allow requantizing tensors that are already quantized (quality suffers; llama.cpp's flag).
    #[arg(long)]
    pub allow_requantize: bool,
    /// Replace OUTPUT if it exists (never a device, directory or the input itself).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CostArgs {
    #[command(flatten)]
    pub est: EstimateArgs,
    /// Network between nodes for multi-node plans (catalogue id or name: infiniband-ndr,
    /// infiniband-hdr, roce-400g, roce-200g, roce-100g, ethernet-25g, ethernet-10g); default:
    /// infiniband-ndr between servers of datacenter GPUs, ethernet-10g between other hosts.
    #[arg(long)]
    pub network: Option<String>,
    /// Owned devices: ID[xCOUNT],...; default: the cheapest set from `gpus`.
    #[arg(long)]
    pub gpu: Option<String>,
    /// Output tokens generated per day.
    #[arg(long, default_value = "1M", allow_hyphen_values = true)]
    pub tokens_per_day: String,
    /// Or: the share of the day the hardware generates (0-1); sets tokens per day from its speed.
    #[arg(long, allow_hyphen_values = true)]
    pub utilization: Option<f64>,
    /// Years over which the purchase is amortized.
    #[arg(long, default_value_t = 3.0, allow_hyphen_values = true)]
    pub years: f64,
    /// Electricity price, US$ per kWh.
    #[arg(long, default_value_t = 0.30, allow_hyphen_values = true)]
    pub kwh: f64,
    /// API price entries to compare (ids, comma-separated) besides those serving this model.
    #[arg(long)]
    pub api: Option<String>,
    /// US$ per EUR for EUR prices.
    #[arg(long, default_value_t = 1.0903)]
    pub eur_usd: f64,
}

#[derive(Debug, Args, Clone)]
pub struct InspectArgs {
    /// A .gguf file or a config.json.
    pub file: PathBuf,
    /// With a config.json: the safetensors weight files, for their dtypes and bytes (repeatable).
    #[arg(long)]
    pub safetensors: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct QuantsArgs {
    /// Catalogue model id or name.
    pub model: String,
    /// Devices to fit against: ID[xCOUNT],...
    #[arg(long)]
    pub gpu: Option<String>,
    /// Context per sequence in tokens.
    #[arg(long, short = 'c', default_value = "8192", allow_hyphen_values = true)]
    pub ctx: String,
    /// KV cache type: f16, bf16, q8_0, q4_0.
    #[arg(long, default_value = "f16")]
    pub kv_type: String,
    /// Sequences served at once.
    #[arg(long, default_value_t = 1)]
    pub parallel: u64,
    /// Files quantized with an importance matrix (llama-quantize --imatrix).
    #[arg(long)]
    pub imatrix: bool,
}

/// What to estimate: the model, its format and context, and the engine.
#[derive(Debug, Args, Clone)]
pub struct EstimateArgs {
    /// Catalogue model id or name ("Mixtral 8x7B").
    pub model: String,
    /// Weight format: a llama.cpp file type (Q4_K_M, Q8_0, IQ4_XS, BF16, ...) or, for vLLM,
    /// awq, gptq, fp8, nf4, int8, bf16. Default: Q4_K_M for llama.cpp, bf16 for vLLM, the
    /// file's own type for a GGUF file.
    #[arg(long, short = 'q')]
    pub quant: Option<String>,
    /// The GGUF was quantized with an importance matrix (llama-quantize --imatrix), as most
    /// published quantizations are; IQ1/IQ2/IQ3_XXS/IQ3_XS/Q2_K_S always are.
    #[arg(long)]
    pub imatrix: bool,
    /// Context per sequence in tokens: 8192, 32k (= 32768), 128k.
    #[arg(long, short = 'c', default_value = "8192", allow_hyphen_values = true)]
    pub ctx: String,
    /// KV cache type: f16, bf16, q8_0, q4_0 (llama.cpp), fp8 (vLLM).
    #[arg(long, default_value = "f16")]
    pub kv_type: String,
    /// Inference engine: llama.cpp, vllm or vramplan (the reference engine).
    #[arg(long, default_value = "llama.cpp", value_parser = parse_engine)]
    pub engine: Engine,
    /// Sequences served at once.
    #[arg(long, default_value_t = 1)]
    pub parallel: u64,
    /// Disable flash attention (llama.cpp then materializes the attention scores).
    #[arg(long)]
    pub no_flash_attn: bool,
    /// llama.cpp physical batch size (-ub).
    #[arg(long, default_value_t = 512)]
    pub ubatch: u64,
    /// Full-size cache for sliding-window layers (llama.cpp --swa-full; its C API's default).
    #[arg(long)]
    pub swa_full: bool,
    /// vLLM --gpu-memory-utilization.
    #[arg(long, default_value_t = 0.9)]
    pub gpu_util: f64,
    /// Prompt length for prefill speed and time to first token.
    #[arg(long, default_value = "1024", allow_hyphen_values = true)]
    pub prompt: String,
    /// Host memory bandwidth (GB/s) serving CPU-resident layers; default: the catalogue host
    /// listed in --gpu, else dual-channel DDR5-5600 (89.6).
    #[arg(long)]
    pub host_bandwidth: Option<f64>,
}

#[derive(Debug, Args, Clone)]
pub struct FitArgs {
    #[command(flatten)]
    pub est: EstimateArgs,
    /// Network between nodes for multi-node plans (catalogue id or name: infiniband-ndr,
    /// infiniband-hdr, roce-400g, roce-200g, roce-100g, ethernet-25g, ethernet-10g); default:
    /// infiniband-ndr between servers of datacenter GPUs, ethernet-10g between other hosts.
    #[arg(long)]
    pub network: Option<String>,
    /// Devices: ID[xCOUNT],... e.g. rtx-4090, rtx-3060-12gbx2, rtx-3090,rtx-3060-12gb, m4-max-64gb.
    #[arg(long)]
    pub gpu: Option<String>,
    /// llama.cpp -ngl: layers on the GPUs (the output head counts as one); default: as many as fit.
    #[arg(long)]
    pub ngl: Option<u32>,
    /// Keep every layer's MoE expert tensors in host RAM (llama.cpp --cpu-moe).
    #[arg(long, conflicts_with = "n_cpu_moe")]
    pub cpu_moe: bool,
    /// Keep the MoE expert tensors of the first N layers in host RAM (llama.cpp --n-cpu-moe);
    /// default without --ngl: chosen with the offload when the model does not fit.
    #[arg(long, value_name = "N")]
    pub n_cpu_moe: Option<u32>,
    /// Show how the speed estimate was formed.
    #[arg(long)]
    pub explain: bool,
    /// RAM of the host beside the GPUs: 64 (GB), 64GB, 64GiB; default: this machine's, or the
    /// catalogue CPU host listed in --gpu.
    #[arg(long)]
    pub ram: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct GpusArgs {
    #[command(flatten)]
    pub est: EstimateArgs,
    /// Network between nodes for multi-node plans (catalogue id or name: infiniband-ndr,
    /// infiniband-hdr, roce-400g, roce-200g, roce-100g, ethernet-25g, ethernet-10g); default:
    /// infiniband-ndr between servers of datacenter GPUs, ethernet-10g between other hosts.
    #[arg(long)]
    pub network: Option<String>,
    /// Only device sets whose purchase price is at most this many US dollars.
    #[arg(long, allow_hyphen_values = true)]
    pub budget: Option<f64>,
    /// At most this many GPUs in a set.
    #[arg(long, default_value_t = 64)]
    pub max_gpus: u32,
    /// Devices you already own (ID[xN],...): free, and every candidate adds to them.
    #[arg(long)]
    pub have: Option<String>,
    /// Rank by cloud on-demand $/hour instead of purchase price.
    #[arg(long)]
    pub cloud: bool,
    /// How many candidates to show.
    #[arg(long, default_value_t = 15)]
    pub limit: usize,
    /// Only sets whose expected decode speed at the requested context is at least this many tokens/s.
    #[arg(long)]
    pub min_tps: Option<f64>,
    /// Only sets whose host RAM need fits this much RAM: 64 (GB), 64GB, 64GiB.
    #[arg(long)]
    pub ram: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Write a user catalogue entry (models.toml format, in ~/.config/vramplan/) from a local
    /// Hugging Face config.json.
    Add(CatalogAddArgs),
}

#[derive(Debug, Args, Clone)]
pub struct CatalogAddArgs {
    /// A Hugging Face config.json, or a repo id (`org/repo`) whose snapshot is in the local
    /// Hugging Face cache.
    pub config: PathBuf,
    /// Name of the entry (its id is the kebab-case form); default: the repo folder's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Replace an entry with the same id (a user file, or an embedded entry by override).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ModelsArgs {
    /// Devices: ID[xCOUNT],... (rtx-4090, 2x3060, m4-max-128gb); default: this machine.
    #[arg(long)]
    pub gpu: Option<String>,
    /// Context per sequence in tokens: 8192, 8k, 32k.
    #[arg(long, short = 'c', default_value = "8192", allow_hyphen_values = true)]
    pub ctx: String,
    /// Only quantizations whose expected decode speed is at least this many tokens/s.
    #[arg(long, allow_hyphen_values = true)]
    pub min_tps: Option<f64>,
    /// Only quantizations whose expected KL divergence vs BF16 is at most this (0.2: IQ3_XXS
    /// and better; 1 admits every rung).
    #[arg(long, default_value_t = 0.2, allow_hyphen_values = true)]
    pub max_kld: f64,
    /// Only these model families (comma-separated or repeated): llama, qwen, gemma, mistral, ...
    #[arg(long)]
    pub family: Vec<String>,
    /// Order: quality (larger model first, then lower KLD), speed, size, kld, name.
    #[arg(long, default_value = "quality")]
    pub sort: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    Models,
    Hardware,
    Apis,
    /// Models on this machine: Ollama's store ($OLLAMA_MODELS, ~/.ollama/models) and the
    /// Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub).
    Local,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    pub what: ListWhat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A model, device or API id (or a name as people write it: "Mixtral 8x7B", "RTX 4090").
    pub id: String,
}

/// `--engine`: an engine's name or alias (the table in `vramplan::estimate::place`).
fn parse_engine(s: &str) -> Result<Engine, String> {
    Engine::from_name(s).ok_or_else(|| format!("unknown engine `{s}` ({})", Engine::names()))
}
