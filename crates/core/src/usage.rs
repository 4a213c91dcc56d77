//! Token usage: exact figures from the upstream's metrics (§5), or an estimate.
//!
//! The upstream reports `inputTokens` / `outputTokens` / `totalTokens` in `data.metrics` (sync)
//! or the `metricsLog` frame (stream). Both are undocumented and may be missing; then the proxy
//! counts with the o200k tokenizer and marks the figures as estimated, so that nobody mistakes
//! them for what the account was billed.

use std::sync::OnceLock;

use serde::Serialize;
use serde_json::Value;

/// The upstream's own figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metrics {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

impl Metrics {
    /// Reads `{inputTokens, outputTokens, totalTokens}`; `None` unless both counts are there.
    pub fn from_json(value: &Value) -> Option<Self> {
        let count = |key| {
            value
                .get(key)
                .and_then(Value::as_f64)
                .map(|n| n.max(0.0) as u64)
        };
        let input_tokens = count("inputTokens")?;
        let output_tokens = count("outputTokens")?;
        Some(Self {
            input_tokens,
            output_tokens,
            total_tokens: count("totalTokens").unwrap_or(input_tokens + output_tokens),
        })
    }
}

/// Usage as the proxy reports it to clients and records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// True when counted locally because the upstream sent no metrics. Internal: the OpenAI
    /// wire format has no such field, so it is not serialised to clients.
    #[serde(skip)]
    pub estimated: bool,
    /// How many of `completion_tokens` were reasoning (counted from the reasoning's text: the
    /// upstream's metrics do not split them). For the dialects that report it.
    #[serde(skip)]
    pub reasoning_tokens: u64,
}

impl std::ops::Add for TokenUsage {
    type Output = Self;

    /// Two upstream calls' usage together (an answer and its corrective follow-up).
    fn add(self, other: Self) -> Self {
        Self {
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            total_tokens: self.total_tokens + other.total_tokens,
            estimated: self.estimated || other.estimated,
            reasoning_tokens: self.reasoning_tokens + other.reasoning_tokens,
        }
    }
}

impl TokenUsage {
    /// Exact usage when the upstream gave metrics, else an estimate over what was sent and
    /// received.
    pub fn resolve(metrics: Option<Metrics>, query: &str, answer: &str, reasoning: &str) -> Self {
        let reasoning_tokens = count_tokens(reasoning);
        match metrics {
            Some(m) => Self {
                prompt_tokens: m.input_tokens,
                completion_tokens: m.output_tokens,
                total_tokens: m.total_tokens,
                estimated: false,
                reasoning_tokens: reasoning_tokens.min(m.output_tokens),
            },
            None => {
                let prompt_tokens = count_tokens(query);
                let completion_tokens = count_tokens(answer) + reasoning_tokens;
                Self {
                    prompt_tokens,
                    completion_tokens,
                    total_tokens: prompt_tokens + completion_tokens,
                    estimated: true,
                    reasoning_tokens,
                }
            }
        }
    }
}

/// Texts up to this size are counted exactly; a larger one is estimated from a sample of
/// this size, so that counting never holds a runtime thread for long (a 2 MB prompt took
/// seconds to count exactly).
pub const EXACT_COUNT_BYTES: usize = 64 * 1024;

/// Counts tokens with o200k_base, the tokenizer of current OpenAI models; the upstream's
/// own models differ, so this is an estimate by nature. Above [`EXACT_COUNT_BYTES`] the
/// count is the sample's (the text's start, its middle and its end), scaled by length.
pub fn count_tokens(text: &str) -> u64 {
    if text.len() <= EXACT_COUNT_BYTES {
        return count_exact(text);
    }
    let part = EXACT_COUNT_BYTES / 3;
    let floor = |mut at: usize| {
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let middle = floor(text.len() / 2 - part / 2);
    let pieces = [
        &text[..floor(part)],
        &text[middle..floor(middle + part)],
        &text[floor(text.len() - part)..],
    ];
    let sampled: usize = pieces.iter().map(|p| p.len()).sum();
    let tokens: u64 = pieces.iter().map(|p| count_exact(p)).sum();
    (tokens as f64 * text.len() as f64 / sampled.max(1) as f64).ceil() as u64
}

#[cfg(test)]
thread_local! {
    /// Bytes this thread gave the tokenizer: how much work a count was.
    static TOKENIZED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count_exact(text: &str) -> u64 {
    #[cfg(test)]
    TOKENIZED.with(|n| n.set(n.get() + text.len()));
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    if text.is_empty() {
        return 0;
    }
    match BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()) {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        // The tokenizer data ships inside the crate, so this is a can't-happen fallback.
        None => text.chars().count().div_ceil(4) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metrics_need_both_counts() {
        let m = Metrics::from_json(
            &json!({"inputTokens": 226, "outputTokens": 10, "totalTokens": 236}),
        );
        assert_eq!(
            m,
            Some(Metrics {
                input_tokens: 226,
                output_tokens: 10,
                total_tokens: 236
            })
        );
        let no_total = Metrics::from_json(&json!({"inputTokens": 2, "outputTokens": 3}));
        assert_eq!(no_total.map(|m| m.total_tokens), Some(5));
        assert_eq!(Metrics::from_json(&json!({"inputTokens": 2})), None);
    }

    #[test]
    fn usage_is_exact_with_metrics_and_estimated_without() {
        let exact = TokenUsage::resolve(
            Some(Metrics {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            }),
            "q",
            "a",
            "",
        );
        assert!(!exact.estimated);
        assert_eq!(exact.total_tokens, 3);
        let est = TokenUsage::resolve(None, "Hello there, how are you?", "Fine, thanks.", "");
        assert!(est.estimated);
        assert!(est.prompt_tokens >= 5 && est.prompt_tokens <= 9, "{est:?}");
        assert!(
            est.completion_tokens >= 3 && est.completion_tokens <= 6,
            "{est:?}"
        );
        assert_eq!(est.total_tokens, est.prompt_tokens + est.completion_tokens);
    }

    #[test]
    fn a_large_text_is_estimated_from_samples_close_to_the_exact_count() {
        // Varied prose with multi-byte characters: 200 kB, three times the exact limit.
        let words = [
            "latency",
            "throughput",
            "naïve",
            "café",
            "on-demand",
            "proxy",
            "流式",
            "tokens",
            "42",
            "\n",
        ];
        let text: String = (0..40_000)
            .map(|i| format!("{} ", words[(i * 7 + i / 13) % words.len()]))
            .collect();
        assert!(text.len() > 3 * EXACT_COUNT_BYTES);
        let exact = count_exact(&text);
        let estimate = count_tokens(&text);
        let off = (estimate as f64 - exact as f64).abs() / exact as f64;
        assert!(off < 0.05, "estimate {estimate} vs exact {exact}");
        assert_eq!(
            count_tokens("hello world"),
            count_exact("hello world"),
            "small texts are exact"
        );
    }

    #[test]
    fn counting_a_huge_prompt_tokenizes_a_bounded_sample() {
        let huge = "All work and no play makes a prompt long. ".repeat(50_000);
        TOKENIZED.with(|n| n.set(0));
        let tokens = count_tokens(&huge);
        let work = TOKENIZED.with(std::cell::Cell::get);
        assert!(
            work <= EXACT_COUNT_BYTES,
            "tokenized {work} of {} bytes",
            huge.len()
        );
        assert!(tokens > 400_000 && tokens < 600_000, "{tokens}");
    }
}
