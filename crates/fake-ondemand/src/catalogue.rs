//! The endpoint catalogue the fake serves and enforces (§14.1): by default the public
//! record of 2026-09-18, active and inactive endpoints alike. Efforts and context lengths
//! are the fake's own (the record gives their shape, not every value).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One endpoint as the fake knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeEndpoint {
    pub id: String,
    pub active: bool,
    pub premium: bool,
    /// Empty: the endpoint takes no `reasoningEffort` (`null` on the wire).
    pub reasoning_efforts: Vec<String>,
    pub context_length: u64,
}

impl FakeEndpoint {
    pub fn new(id: &str, active: bool) -> Self {
        Self {
            id: id.to_owned(),
            active,
            premium: false,
            reasoning_efforts: Vec::new(),
            context_length: 128_000,
        }
    }

    pub fn premium(mut self) -> Self {
        self.premium = true;
        self
    }

    pub fn reasoning(mut self) -> Self {
        self.reasoning_efforts = ["low", "medium", "max"].map(String::from).to_vec();
        self
    }

    pub fn context(mut self, tokens: u64) -> Self {
        self.context_length = tokens;
        self
    }

    /// The object the real catalogue answers with (every documented field, §14.1).
    pub fn to_json(&self) -> Value {
        let name = self
            .id
            .trim_start_matches("predefined-")
            .replace(['-', '_'], " ");
        json!({
            "endpoint_id": self.id,
            "endpoint_name": name,
            "endpoint_type": "llm",
            "endpoint_url": "",
            "model_id": self.id.trim_start_matches("predefined-"),
            "status": if self.active { "active" } else { "inactive" },
            "is_premium": self.premium,
            "reasoning_efforts": if self.reasoning_efforts.is_empty() { Value::Null } else { json!(self.reasoning_efforts) },
            "context_length": self.context_length,
            "streaming_supported": true,
            "fallback_endpoint_id": null,
            "fallback_max_error_threshold": 3,
            "model_config": {"temperature": 0.7},
            "createdAt": "2026-01-15T00:00:00Z",
            "updatedAt": "2026-09-18T00:00:00Z",
        })
    }
}

/// How the catalogue answer is wrapped (the real envelope was not captured: §14.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Envelope {
    /// `{"message":"Success","data":[…]}`, as a July 2026 capture shows (§14.4).
    #[default]
    Data,
    Bare,
    /// `{"data":{"endpoints":[…]}}`.
    Nested,
}

pub fn answer(endpoints: &[FakeEndpoint], envelope: Envelope) -> Value {
    let list: Vec<Value> = endpoints.iter().map(FakeEndpoint::to_json).collect();
    match envelope {
        Envelope::Data => json!({"message": "Success", "data": list}),
        Envelope::Bare => Value::Array(list),
        Envelope::Nested => json!({"data": {"endpoints": list}}),
    }
}

/// The catalogue of 2026-09-18 (§14.1): the active endpoints, then the inactive ones that
/// the original proxy's aliases and the 2026-08 docs named.
pub fn record_2026_09_18() -> Vec<FakeEndpoint> {
    let on = |id: &str| FakeEndpoint::new(id, true);
    let off = |id: &str| FakeEndpoint::new(id, false);
    let mut all = vec![
        on("predefined-gpt-5.6-luna").reasoning().context(400_000),
        on("predefined-gpt-5.6-sol")
            .premium()
            .reasoning()
            .context(400_000),
        on("predefined-gpt-5.6-terra")
            .premium()
            .reasoning()
            .context(400_000),
        on("predefined-gpt-6-astra")
            .premium()
            .reasoning()
            .context(1_000_000),
        on("predefined-claude-opus-5")
            .premium()
            .reasoning()
            .context(200_000),
        on("predefined-claude-sonnet-5")
            .premium()
            .reasoning()
            .context(200_000),
        on("predefined-claude-fable-5.1").premium().context(200_000),
        on("predefined-claude-4-5-haiku").context(200_000),
        on("predefined-gemini-3.8-flash")
            .reasoning()
            .context(1_000_000),
        on("predefined-deepseek-v4-pro")
            .reasoning()
            .context(128_000),
        on("predefined-deepseek-v4-flash")
            .premium()
            .context(128_000),
        on("predefined-deepseek-flash").premium().context(128_000),
        on("predefined-deepseek-v4-flash-vision-exp").context(64_000),
        on("predefined-kimi-k3").context(256_000),
        on("predefined-kimi-k3-fast").premium().context(256_000),
        on("predefined-qwen-3.8-max").reasoning().context(256_000),
        on("predefined-cerebras-qwen-3.8-27b")
            .premium()
            .context(32_000),
        on("predefined-glm-5.3").reasoning().context(200_000),
        on("predefined-glm-5.3-flash").context(200_000),
        on("predefined-minimax-m3").context(1_000_000),
        on("predefined-muse_spark_1.3").context(64_000),
        on("predefined-xai-grok4.6").reasoning().context(256_000),
        // An account's own model (BYOI), as every account's catalogue lists its own.
        on("byoi-6e314690-4eaf-4def-a33c-380809acf1f5").context(128_000),
    ];
    all.extend(
        [
            "predefined-openai-gpt4o",
            "predefined-openai-gpt4o-mini",
            "predefined-openai-gpto3-mini",
            "predefined-openai-gpt4.1",
            "predefined-openai-gpt4.1-mini",
            "predefined-openai-gpt4.1-nano",
            "predefined-claude-3.5-sonnet",
            "predefined-claude-3.7-sonnet",
            "predefined-claude-3-opus",
            "predefined-claude-3-haiku",
            "predefined-gemini-2.0-flash",
            "predefined-gemini-1.5-pro",
            "predefined-deepseek-v3",
            "predefined-deepseek-r1",
            "predefined-gemini-3.6-flash",
            "predefined-gemini-3.7-flash",
            "predefined-gemini-3.1-pro-preview",
            "predefined-glm-5.2",
            "predefined-muse_spark_1.2",
            "predefined-claude-fable-5",
            "predefined-xai-grok4.5",
        ]
        .map(off),
    );
    all
}
