//! The domain of OnDemand Proxy, free of any HTTP server or desktop framework.
//!
//! - [`app`]: the application object the server and the desktop shell share, and its upkeep;
//! - [`upstream`]: the on-demand.io client, its stream parser and typed errors;
//! - [`openai`]: the OpenAI wire types the proxy speaks;
//! - [`chat`] and [`conversation`]: validating a request and planning its upstream query;
//! - [`models`]: the alias table; [`endpoints`]: the live endpoint catalogue;
//! - [`pool`] and [`engine`]: choosing accounts, retrying, failing over; [`janitor`]: deleting
//!   finished upstream sessions in the background;
//! - [`relay`]: encoding answers and streams in the OpenAI format, and the [`relay::Encoder`]
//!   every dialect's stream implements; [`anthropic`]: the Anthropic Messages dialect; [`responses`]: the OpenAI Responses dialect; [`completions`]: legacy completions;
//! - [`usage`]: exact and estimated token counts; [`record`]: one request's usage row; [`store`]: the SQLite database;
//! - [`live`]: the feed behind the live dashboard; [`tokens`]: client tokens and their limits; [`control`]: the changes people make,
//!   stored and applied live;
//! - [`config`]: configuration sources and validation; [`secret`]: values never printed.

pub mod anthropic;
pub mod app;
pub mod chat;
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
pub mod live;
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
pub mod tokens;
pub mod tools;
pub mod upstream;
pub mod usage;

pub use app::App;
pub use engine::Engine;
pub use secret::Secret;

#[cfg(test)]
mod properties_tests;
