//! A request's images in the engine. Before the first attempt, [`Engine::prepare_images`]
//! fetches what was given by URL and looks every image up in the description cache; during
//! an attempt, [`Engine::describe_in`] uploads what is still unknown on the attempt's own
//! account and session, and fills the descriptions into the query.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DispatchError, Engine};
use crate::chat::ChatPlan;
use crate::clock::now_ms;
use crate::config::Settings;
use crate::images::{Images, Kind, Slot, Source, markers_in, sha256_hex};
use crate::pool::Account;
use crate::upstream::auth::Credential;
use crate::upstream::error::UpstreamError;

/// How long an account's uploads rest after a 429: the Media API's limit is per minute.
const UPLOADS_REST: Duration = Duration::from_secs(60);

const DAY_MS: i64 = 86_400_000;

impl Engine {
    /// Fetches the images given by URL and looks them all up in the cache (one read). A URL
    /// that cannot be fetched, or whose bytes are not PNG or JPEG, refuses the request (400).
    pub(super) async fn prepare_images(
        &self,
        plan: &ChatPlan,
        settings: &Settings,
    ) -> Result<(), DispatchError> {
        let Some(images) = &plan.images else {
            return Ok(());
        };
        let mut unknown: Vec<(String, Arc<Vec<u8>>, Kind, String)> = Vec::new();
        for picture in &images.pictures {
            if images.slot(&picture.key).is_some()
                || unknown.iter().any(|(key, ..)| *key == picture.key)
            {
                continue;
            }
            let (bytes, kind) = match &picture.source {
                Source::Bytes(bytes, kind) => (bytes.clone(), *kind),
                Source::Url(url) => {
                    let (bytes, kind) = self
                        .images
                        .fetcher
                        .fetch(
                            url,
                            &picture.at,
                            settings.image_max_bytes,
                            &settings.user_agent,
                        )
                        .await
                        .map_err(|refused| DispatchError::BadImage {
                            param: refused.param,
                            message: refused.message,
                        })?;
                    (Arc::new(bytes), kind)
                }
            };
            let hash = sha256_hex(&bytes);
            unknown.push((picture.key.clone(), bytes, kind, hash));
        }
        let hashes: Vec<String> = unknown.iter().map(|(.., hash)| hash.clone()).collect();
        let mut cached = self.cached_descriptions(hashes, settings).await;
        let mut found = Vec::new();
        for (key, bytes, kind, hash) in unknown {
            let slot = match cached.remove(&hash) {
                Some(text) => {
                    found.push(hash);
                    Slot::Described { text, cached: true }
                }
                None => Slot::Pending { bytes, kind, hash },
            };
            images.set(&key, slot);
        }
        self.touch_descriptions(found);
        Ok(())
    }

    /// The cached descriptions of the images with these hashes, by hash.
    async fn cached_descriptions(
        &self,
        hashes: Vec<String>,
        settings: &Settings,
    ) -> HashMap<String, String> {
        let Some(store) = self.images.store.as_ref().filter(|_| !hashes.is_empty()) else {
            return HashMap::new();
        };
        let (now, ttl) = (now_ms(), i64::from(settings.image_cache_days) * DAY_MS);
        store
            .read(move |conn| crate::store::images::get_many(conn, &hashes, now, ttl))
            .await
            .inspect_err(
                |error| tracing::warn!(%error, "reading the image description cache failed"),
            )
            .unwrap_or_default()
    }

    /// Marks cached descriptions as used, in the background: the request does not wait on
    /// a write that only orders the cache's evictions.
    fn touch_descriptions(&self, hashes: Vec<String>) {
        let Some(store) = self.images.store.clone().filter(|_| !hashes.is_empty()) else {
            return;
        };
        let now = now_ms();
        tokio::spawn(async move {
            let touched = store
                .write(move |tx| {
                    crate::store::images::touch(tx, &hashes, now)
                        .map_err(crate::store::StoreError::from)
                })
                .await;
            if let Err(error) = touched {
                tracing::debug!(%error, "marking image descriptions as used failed");
            }
        });
    }

    /// Keeps a new description before the answer goes out (awaited, unlike the touch: the
    /// client's next turn resends the image and must find it).
    async fn remember_description(&self, hash: &str, description: &str, settings: &Settings) {
        let Some(store) = self.images.store.as_ref() else {
            return;
        };
        let (hash, description, now) = (hash.to_owned(), description.to_owned(), now_ms());
        let ttl = i64::from(settings.image_cache_days) * DAY_MS;
        let kept = store
            .write(move |tx| {
                crate::store::images::put(
                    tx,
                    &hash,
                    &description,
                    now,
                    ttl,
                    crate::store::images::MAX_ENTRIES,
                )
                .map_err(crate::store::StoreError::from)
            })
            .await;
        if let Err(error) = kept {
            tracing::warn!(%error, "keeping an image description failed");
        }
    }

    /// Whether `account` may upload now, checked before a session is made for an attempt
    /// that must upload: only API-key accounts can, and not while their uploads rest.
    pub(super) fn can_upload(account: &Account, now: Instant) -> Result<(), UpstreamError> {
        if matches!(account.credential, Credential::Password(_)) {
            return Err(UpstreamError::NoUploads(
                "it signs in by email and password, and on-demand.io's Media API takes API keys",
            ));
        }
        if account.uploads_resting(now) {
            return Err(UpstreamError::UploadsLimited {
                message: "rate limited within the last minute; resting".into(),
            });
        }
        Ok(())
    }

    /// `query` with its images' descriptions: each one not known yet is uploaded to the
    /// image agent on `account`, in `session_id`, and kept in the cache. The upload is
    /// queued for deletion once described.
    pub(super) async fn describe_in(
        &self,
        account: &Account,
        settings: &Settings,
        session_id: &str,
        images: &Images,
        query: &str,
    ) -> Result<String, UpstreamError> {
        for key in markers_in(query) {
            let Some(Slot::Pending { bytes, kind, hash }) = images.slot(key) else {
                continue;
            };
            let at = images
                .pictures
                .iter()
                .find(|p| p.key == key)
                .map_or("the request", |p| p.at.as_str());
            let name = format!("image-{}.{}", &hash[..12], kind.extension());
            let started = Instant::now();
            images.uploading();
            let upload = self
                .routing
                .upstream
                .upload_image(
                    account.caller(),
                    settings,
                    session_id,
                    bytes.to_vec(),
                    kind,
                    &name,
                )
                .await;
            let upload = match upload {
                Err(limited @ UpstreamError::UploadsLimited { .. }) => {
                    account.rest_uploads(Instant::now() + UPLOADS_REST);
                    return Err(limited);
                }
                other => other?,
            };
            if let Some(id) = upload.media_id.as_deref().filter(|id| safe_id(id))
                && settings.delete_sessions
            {
                self.sessions.janitor.uploaded(&account.name, id);
            }
            if upload.description.is_empty() {
                return Err(UpstreamError::NoDescription {
                    at: at.to_owned(),
                    status: upload.status,
                });
            }
            tracing::info!(
                account = %account.name,
                ms = started.elapsed().as_millis() as u64,
                "an image was described by the image agent"
            );
            self.remember_description(&hash, &upload.description, settings)
                .await;
            images.set(
                key,
                Slot::Described {
                    text: upload.description,
                    cached: false,
                },
            );
        }
        Ok(images.fill(query))
    }
}

/// An upstream id fit to put in a path.
fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
