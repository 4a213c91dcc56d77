//! The Media API (ondemand-media.md): an image upload to the image agent, and its delete.

use serde_json::Value;

use super::auth::Credential;
use super::error::UpstreamError;
use super::{Caller, MAX_ANSWER_BYTES, UpstreamClient, check_status, read_body, send_within};
use crate::config::Settings;

/// What the image agent made of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The media's id (`data.id`, or the 2024 client's `_id`), for deleting it later.
    pub media_id: Option<String>,
    /// `data.context` (or `data.extractedText`); empty when the agent gave none.
    pub description: String,
    /// `data.actionStatus` (`completed`, `processing`), or `unknown`.
    pub status: String,
}

impl UpstreamClient {
    /// `POST /media/v1/public/file/raw` with the image agent in sync mode, on `session_id`
    /// (ondemand-media.md §1.1). Only API-key accounts can: the Media API's JWT routes
    /// refuse API use (§1). A 429 limits this account's uploads, not its chat.
    pub async fn upload_image(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        session_id: &str,
        bytes: Vec<u8>,
        kind: crate::images::Kind,
        name: &str,
    ) -> Result<Upload, UpstreamError> {
        let Credential::ApiKey(key) = caller.credential else {
            return Err(UpstreamError::NoUploads(
                "it signs in by email and password, and on-demand.io's Media API takes API keys",
            ));
        };
        let size = bytes.len();
        let file = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(kind.mime())
            .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("name", name.to_owned())
            .text("plugins", crate::images::IMAGE_AGENT)
            .text("responseMode", "sync")
            .text("sizeBytes", size.to_string())
            .text("sessionId", session_id.to_owned());
        let (route, request) = self.keyed(
            reqwest::Method::POST,
            "/media/v1/public/file/raw",
            key,
            caller.proxy,
            settings,
        )?;
        let request = request.map(|r| r.multipart(form));
        let response =
            match check_status(send_within(&route, request, settings.request_timeout).await?).await
            {
                Err(UpstreamError::Status {
                    status: 429,
                    message,
                    ..
                }) => return Err(UpstreamError::UploadsLimited { message }),
                other => other?,
            };
        let body = read_body(response, settings.request_timeout, MAX_ANSWER_BYTES).await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Protocol(format!("upload answer is not JSON ({e})")))?;
        let data = &value["data"];
        let text = |key: &str| data[key].as_str().map(str::trim).filter(|t| !t.is_empty());
        Ok(Upload {
            media_id: text("id").or_else(|| text("_id")).map(str::to_owned),
            description: text("context")
                .or_else(|| text("extractedText"))
                .unwrap_or_default()
                .to_owned(),
            status: text("actionStatus").unwrap_or("unknown").to_owned(),
        })
    }

    /// `DELETE /media/v1/public/file/{id}` (ondemand-media.md §1.3): any 2xx is a success.
    pub async fn delete_media(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        media_id: &str,
    ) -> Result<(), UpstreamError> {
        let Credential::ApiKey(key) = caller.credential else {
            return Err(UpstreamError::NoUploads("no API key"));
        };
        let (route, request) = self.keyed(
            reqwest::Method::DELETE,
            &format!("/media/v1/public/file/{media_id}"),
            key,
            caller.proxy,
            settings,
        )?;
        let response =
            check_status(send_within(&route, request, settings.request_timeout).await?).await?;
        super::finish(response).await;
        Ok(())
    }
}
