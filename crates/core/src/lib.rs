//! The domain of OnDemand Proxy, free of any HTTP server or desktop framework.
//!
//! # Floors
//!
//! The core is built in floors, from the ground up. A module may use modules on its own floor
//! and below, never above, and no two modules may use each other, even round a circle. The
//! test command checks both (`scripts/dev/floors.py`, from the list below), so a name that
//! two floors need lives on the lower one.
//!
//! 1. ground: [`secret`], [`private`], [`quiet`], [`clock`], [`usage`], [`stops`], [`limits`]:
//!    values never printed, private files, quiet logging, the clock, token counts, stop
//!    sequences and rate limits; they use nothing of the crate.
//! 2. config: [`config`]: settings, accounts and their sources, validated.
//! 3. wire: [`openai`], [`output`], [`tools`], [`endpoints`], [`models`], [`images`], [`conversation`]:
//!    the OpenAI wire types, answer formats, the tool protocol, the live endpoint catalogue
//!    and the alias table over it, images, and a conversation rendered as one query.
//! 4. upstream: [`upstream`], [`health`], [`pool`]: the on-demand.io client, each account's
//!    health, and the pool that chooses among them.
//! 5. store: [`store`], [`client_tokens`], [`sessions`], [`telemetry`]: the SQLite database and its
//!    live feed, client tokens and their limits, upstream sessions kept for reuse, `/metrics`.
//! 6. planning: [`chat`]: a validated request planned as one upstream query.
//! 7. engine: [`record`], [`janitor`], [`engine`]: one request's record and usage row, the
//!    deleting of finished upstream sessions, and the engine that dispatches, retries and
//!    fails over.
//! 8. dialects: [`relay`], [`anthropic`], [`responses`], [`completions`]: answers and streams
//!    encoded for OpenAI Chat Completions (and the [`relay::Encoder`] every dialect
//!    implements), Anthropic Messages, OpenAI Responses and legacy completions.
//! 9. control: [`control`]: the changes people make, stored and applied live.
//! 10. app: [`app`]: the application object the server and the desktop shell share.

pub mod anthropic;
pub mod app;
pub mod chat;
pub mod client_tokens;
pub mod clock;
pub mod completions;
pub mod config;
pub mod control;
pub mod conversation;
pub mod endpoints;
pub mod engine;
pub mod health;
pub mod images;
pub mod janitor;
pub mod limits;
pub mod models;
pub mod openai;
pub mod output;
pub mod pool;
pub mod private;
pub mod quiet;
pub mod record;
pub mod relay;
pub mod responses;
pub mod secret;
pub mod sessions;
pub mod stops;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod upstream;
pub mod usage;

pub use app::App;
pub use engine::Engine;
pub use secret::Secret;

#[cfg(test)]
mod properties_tests;
