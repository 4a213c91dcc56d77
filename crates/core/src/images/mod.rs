//! Images in a request, described by on-demand.io's image agent (`upstream/ondemand-media.md`).
//!
//! The upstream's query takes text only. An image is uploaded to the Media API with the
//! image agent, which answers with a description; the description goes into the transcript
//! where the image stood, labelled as what it is. The model reads a description, never the
//! pixels: small text and fine detail may be lost.
//!
//! - Every dialect decodes its image form (Chat Completions `image_url` parts, Anthropic
//!   `image` blocks, Responses `input_image` items) into one core part, an `image_url` part
//!   whose `url` is a `data:` URL or an `http(s)` URL.
//! - [`read`] checks each part when the request is planned: a data URL is decoded and its
//!   bytes must be PNG or JPEG (detected from the bytes, not the claimed type); an `http(s)`
//!   URL is fetched later by the proxy ([`fetch`]), never by the upstream, and checked then.
//!   In the transcript the part becomes a [`marker`] that names the image by its content.
//! - The engine fetches what must be fetched and looks each image up in the description
//!   cache ([`crate::store::images`]) before any account is tried; an image not in it is
//!   uploaded on the account and session of the attempt, and its marker filled in ([`fill`]).

pub mod fetch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The image agent: the Media API's `plugins` value that turns an image into prose (§1.4).
pub const IMAGE_AGENT: &str = "plugin-1713958591";

/// The image types the image agent takes (§1.4: png, jpg, jpeg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
}

impl Kind {
    /// The type of `bytes`, from their first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Self::Jpeg)
        } else {
            None
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
        }
    }
}

/// What bytes that are not PNG or JPEG look like, for the error that refuses them.
fn looks_like(bytes: &[u8]) -> &'static str {
    let starts = |prefix: &[u8]| bytes.starts_with(prefix);
    if starts(b"GIF8") {
        "a GIF"
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "a WebP image"
    } else if starts(b"BM") {
        "a BMP"
    } else if bytes.get(4..12).is_some_and(|b| b.starts_with(b"ftyp")) {
        "an HEIC/AVIF image"
    } else if starts(b"<svg") || starts(b"<?xml") {
        "an SVG"
    } else if starts(b"%PDF") {
        "a PDF"
    } else if bytes.is_empty() {
        "empty"
    } else {
        "not an image the proxy knows"
    }
}

/// The refusal of an image: where it is in the client's request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub param: String,
    pub message: String,
}

impl Refused {
    pub fn new(param: &str, message: impl Into<String>) -> Self {
        Self {
            param: param.to_owned(),
            message: message.into(),
        }
    }
}

/// Checks that `bytes` are PNG or JPEG within `max_bytes`.
pub fn check_bytes(bytes: &[u8], at: &str, max_bytes: usize) -> Result<Kind, Refused> {
    if bytes.len() > max_bytes {
        return Err(too_large(at, max_bytes));
    }
    Kind::sniff(bytes).ok_or_else(|| {
        Refused::new(
            at,
            format!(
                "The image is {}; on-demand.io's image agent takes PNG and JPEG only.",
                looks_like(bytes)
            ),
        )
    })
}

fn too_large(at: &str, max_bytes: usize) -> Refused {
    Refused::new(
        at,
        format!("The image is larger than image_max_bytes ({max_bytes} bytes)."),
    )
}

/// Where an image's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Decoded from a data URL (or an Anthropic base64 block) and checked.
    Bytes(Arc<Vec<u8>>, Kind),
    /// An `http(s)` URL the proxy fetches before the first attempt.
    Url(String),
}

/// One image of a request.
#[derive(Debug, Clone)]
pub struct Picture {
    /// Where it is in the client's request (`messages[0].content[1]`), for errors.
    pub at: String,
    /// Names it in the transcript: derived from its bytes (or its URL), so the same image
    /// gets the same marker on every turn (reuse mode's history keys depend on it).
    pub key: String,
    pub source: Source,
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads an image part's URL: a base64 `data:` URL is decoded and checked now; an `http(s)`
/// URL is kept for [`fetch`]. Anything else is refused, naming `at`.
pub fn read(url: &str, at: &str, max_bytes: usize) -> Result<Picture, Refused> {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| Refused::new(at, "A data URL needs a comma before its data."))?;
        if !meta.ends_with(";base64") {
            return Err(Refused::new(
                at,
                "Only base64 data URLs are taken (data:image/png;base64,…).",
            ));
        }
        // Base64 is 4 characters for 3 bytes: a longer text cannot fit the cap.
        if data.len() / 4 * 3 > max_bytes + 3 {
            return Err(too_large(at, max_bytes));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim_end_matches(['\n', '\r', ' ']))
            .map_err(|e| Refused::new(at, format!("The image's base64 data is not valid: {e}.")))?;
        let kind = check_bytes(&bytes, at, max_bytes)?;
        let key = format!("d{}", &sha256_hex(&bytes)[..24]);
        return Ok(Picture {
            at: at.to_owned(),
            key,
            source: Source::Bytes(Arc::new(bytes), kind),
        });
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| Refused::new(at, "An image is a data: URL or an http(s) URL."))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refused::new(
            at,
            format!(
                "`{}:` URLs are not taken; an image is a data: URL or an http(s) URL.",
                parsed.scheme()
            ),
        ));
    }
    if url.len() > 8192 {
        return Err(Refused::new(
            at,
            "The image URL is longer than 8192 characters.",
        ));
    }
    Ok(Picture {
        at: at.to_owned(),
        key: format!("u{}", &sha256_hex(url.as_bytes())[..24]),
        source: Source::Url(url.to_owned()),
    })
}

/// An image part's place in the transcript until its description is known.
pub fn marker(key: &str) -> String {
    format!("{MARKER_START}{key}{MARKER_END}")
}

const MARKER_START: &str = "\u{FFFC}image:";
const MARKER_END: char = '\u{FFFC}';

/// The markers in `text`, in order: each one's byte range and key.
fn markers(text: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = from + text[from..].find(MARKER_START)?;
        let key_start = start + MARKER_START.len();
        let key_len = text[key_start..].find(MARKER_END)?;
        let end = key_start + key_len + MARKER_END.len_utf8();
        from = end;
        Some((start..end, &text[key_start..key_start + key_len]))
    })
}

/// The keys of the markers in `text`, in order (each once).
pub fn markers_in(text: &str) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for (_, key) in markers(text) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// `text` with each marker replaced by `described(key)` (a marker it cannot fill stays).
pub fn fill(text: &str, described: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (range, key) in markers(text) {
        if let Some(description) = described(key) {
            out.push_str(&text[copied..range.start]);
            out.push_str(&description);
            copied = range.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// How an image stands during its request.
#[derive(Debug, Clone)]
pub enum Slot {
    /// Its bytes are known, its description not yet: an attempt uploads it.
    Pending {
        bytes: Arc<Vec<u8>>,
        kind: Kind,
        hash: String,
    },
    /// Described by the image agent during this request, or found in the cache.
    Described { text: String, cached: bool },
}

/// A request's images: what the plan found, and how each stands (filled in as the request
/// goes: fetched, found in the cache, described). Shared by the request's attempts.
#[derive(Debug, Default)]
pub struct Images {
    pub pictures: Vec<Picture>,
    slots: Mutex<HashMap<String, Slot>>,
    /// Uploads to the Media API made for this request, failed ones included.
    uploads: std::sync::atomic::AtomicU32,
}

/// What a request did with its images, for its usage row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Described by the image agent for this request.
    pub described: u32,
    /// Found in the description cache.
    pub cached: u32,
    /// Uploads made to describe them, failed ones included (each spends the account's
    /// Media API allowance).
    pub uploads: u32,
}

impl Images {
    pub fn new(pictures: Vec<Picture>) -> Self {
        Self {
            pictures,
            slots: Mutex::default(),
            uploads: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Counts an upload about to be made.
    pub fn uploading(&self) {
        self.uploads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn slot(&self, key: &str) -> Option<Slot> {
        self.slots().get(key).cloned()
    }

    pub fn set(&self, key: &str, slot: Slot) {
        self.slots().insert(key.to_owned(), slot);
    }

    /// Whether `query` holds an image that still needs the image agent.
    pub fn pending_in(&self, query: &str) -> bool {
        let slots = self.slots();
        markers_in(query)
            .iter()
            .any(|key| matches!(slots.get(*key), Some(Slot::Pending { .. })))
    }

    /// The order in which images first appear in the request, for their labels.
    fn number(&self, key: &str) -> usize {
        let mut seen: Vec<&str> = Vec::new();
        for picture in &self.pictures {
            if !seen.contains(&picture.key.as_str()) {
                seen.push(&picture.key);
            }
        }
        seen.iter().position(|k| *k == key).map_or(0, |i| i + 1)
    }

    /// `query` with every described image's marker replaced by its labelled description.
    pub fn fill(&self, query: &str) -> String {
        let slots = self.slots();
        fill(query, |key| match slots.get(key) {
            Some(Slot::Described { text, .. }) => Some(label(self.number(key), text)),
            _ => None,
        })
    }

    pub fn tally(&self) -> Tally {
        let slots = self.slots();
        let mut tally = Tally {
            uploads: self.uploads.load(std::sync::atomic::Ordering::Relaxed),
            ..Tally::default()
        };
        for slot in slots.values() {
            match slot {
                Slot::Described { cached: true, .. } => tally.cached += 1,
                Slot::Described { cached: false, .. } => tally.described += 1,
                Slot::Pending { .. } => {}
            }
        }
        tally
    }
}

/// A description as the model reads it: plainly marked as a description, not the image.
pub fn label(number: usize, description: &str) -> String {
    format!(
        "[Image {number}: the image itself is not available; on-demand.io's image agent describes it as follows]\n{} [End of image {number}]",
        description.trim()
    )
}

#[cfg(test)]
mod tests;
