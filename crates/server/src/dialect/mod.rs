//! The client dialects under `/v1`: OpenAI Chat Completions and models ([`openai`]), legacy
//! completions ([`completions`]), Anthropic Messages ([`anthropic`]) and OpenAI Responses
//! ([`responses`]).
//!
//! Every dialect's request goes through one [`pipeline`]: admitted (the
//! [`pipeline::Admitted`] extractor: the token's quota and rate limit, the body, the model), decoded into Chat
//! Completions' terms by the dialect, planned, and answered whole or streamed through the
//! dialect's encoder. A dialect file only translates; an error is rendered in the dialect's
//! envelope from its typed value.

pub mod anthropic;
pub mod completions;
pub mod openai;
pub(crate) mod pipeline;
pub mod responses;
