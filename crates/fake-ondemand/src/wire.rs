//! The upstream's wire formats, byte for byte as recorded (§3.3.1, §4).

use std::fmt::Write as _;

/// JSON string literal the way Python's `json.dumps` writes it: non-ASCII as `\uXXXX`
/// escapes (surrogate pairs above the BMP). `fulfillment` frames use this style.
pub fn py_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Compact JSON string literal with raw UTF-8, as the other frames use.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The deterministic answer: the prefix and the query's last non-empty line.
pub fn answer_for(prefix: &str, query: &str) -> String {
    let last = query
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    format!("{prefix}{last}")
}

/// Deterministic token count: a quarter of the characters, rounded up.
pub fn tokens_for(text: &str) -> u64 {
    text.chars().count().div_ceil(4) as u64
}

/// The answer cut into stream deltas: words with their leading space, like the recording.
pub fn deltas(answer: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in answer.char_indices() {
        if c == ' ' && i > start {
            out.push(&answer[start..i]);
            start = i;
        }
    }
    if start < answer.len() {
        out.push(&answer[start..]);
    }
    out
}

/// The answer cut into pieces of `n` characters (at least one).
pub fn chunks(answer: &str, n: usize) -> Vec<&str> {
    let n = n.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for (count, (i, _)) in answer.char_indices().enumerate() {
        if count > 0 && count % n == 0 {
            out.push(&answer[start..i]);
            start = i;
        }
    }
    if start < answer.len() {
        out.push(&answer[start..]);
    }
    out
}

pub struct Frames<'a> {
    pub session_id: &'a str,
    pub message_id: &'a str,
    pub time: &'a str,
}

impl Frames<'_> {
    fn message(&self, payload: &str) -> String {
        format!("event:message\ndata:{payload}\n\n")
    }

    pub fn status(
        &self,
        index: usize,
        status_type: &str,
        status_message: &str,
        answer: Option<&str>,
    ) -> String {
        let answer = answer
            .map(|a| format!(",\"answer\":{}", json_string(a)))
            .unwrap_or_default();
        self.message(&format!(
            "{{\"sessionId\":\"{}\",\"messageId\":\"{}\",\"eventIndex\":{index},\"eventType\":\"statusLog\",\"status\":\"processing\",\"currentStatusLog\":{{\"statusType\":\"{status_type}\",\"statusMessage\":\"{status_message}\"{answer},\"time\":\"{}\"}}}}",
            self.session_id, self.message_id, self.time
        ))
    }

    pub fn fulfillment(&self, index: usize, delta: &str) -> String {
        self.message(&format!(
            "{{\"sessionId\": \"{}\", \"messageId\": \"{}\", \"answer\": {}, \"status\": \"processing\", \"eventIndex\":{index}, \"eventType\": \"fulfillment\"}}",
            self.session_id,
            self.message_id,
            py_json_string(delta)
        ))
    }

    pub fn thinking(&self, index: usize, delta: &str) -> String {
        format!(
            "event:thinking\ndata:{{\"sessionId\":\"{}\",\"messageId\":\"{}\",\"eventIndex\":{index},\"eventType\":\"fulfillment_thinking\",\"status\":\"processing\",\"thinking\":{{\"delta\":{}}}}}\n\n",
            self.session_id,
            self.message_id,
            json_string(delta)
        )
    }

    pub fn metrics(&self, index: usize, input: u64, output: u64) -> String {
        self.message(&format!(
            "{{\"sessionId\":\"{}\",\"messageId\":\"{}\",\"eventIndex\":{index},\"eventType\":\"metricsLog\",\"status\":\"processing\",\"publicMetrics\":{}}}",
            self.session_id,
            self.message_id,
            metrics_json(input, output)
        ))
    }

    pub fn heartbeat(&self) -> String {
        format!(
            "event:heartbeat\ndata:{{\"sessionId\":\"{}\",\"messageId\":\"{}\",\"time\":\"{}\"}}\n\n",
            self.session_id, self.message_id, self.time
        )
    }

    pub fn unknown(&self, index: usize) -> String {
        format!(
            "event:agent\ndata:{{\"sessionId\":\"{}\",\"messageId\":\"{}\",\"eventIndex\":{index},\"eventType\":\"plugin_suggestion.created\",\"status\":\"processing\",\"suggestion\":{{\"pluginIds\":[]}}}}\n\n",
            self.session_id, self.message_id
        )
    }

    pub fn malformed(&self) -> String {
        format!(
            "event:message\ndata:{{\"sessionId\":\"{}\", \"answer\": \"unterminated\n\n",
            self.session_id
        )
    }

    pub fn error(&self, code: &str, message: &str) -> String {
        format!(
            "event:message\ndata:[ERROR]:{{\"message\":{},\"errorCode\":{}}}\n\n",
            json_string(message),
            json_string(code)
        )
    }

    pub fn done(&self) -> String {
        "event:message\ndata:[DONE]\n\n".to_owned()
    }
}

pub fn metrics_json(input: u64, output: u64) -> String {
    format!(
        "{{\"inputTokens\":{input},\"outputTokens\":{output},\"totalTokens\":{},\"ragTimeSec\":0,\"fulfillmentTimeSec\":0.01,\"totalTimeSec\":0.01}}",
        input + output
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_escapes_like_the_recording() {
        assert_eq!(py_json_string("\u{2019}s"), "\"\\u2019s\"");
        assert_eq!(py_json_string("日"), "\"\\u65e5\"");
        assert_eq!(py_json_string("😀"), "\"\\ud83d\\ude00\"");
        assert_eq!(py_json_string("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
        let parsed: String = serde_json::from_str(&py_json_string("mixed ünï 😀 \u{1}")).unwrap();
        assert_eq!(parsed, "mixed ünï 😀 \u{1}");
    }

    #[test]
    fn deltas_keep_leading_spaces_and_rejoin() {
        assert_eq!(deltas("A solar eclipse"), ["A", " solar", " eclipse"]);
        assert_eq!(deltas(""), Vec::<&str>::new());
        assert_eq!(chunks("ab北京c", 2), ["ab", "北京", "c"]);
        assert_eq!(chunks("", 3), Vec::<&str>::new());
        assert_eq!(deltas("  two  spaces").concat(), "  two  spaces");
    }

    #[test]
    fn answers_and_tokens_are_deterministic() {
        assert_eq!(
            answer_for("Echo: ", "[USER]\nhi\n\n[USER]\nlast line\n"),
            "Echo: last line"
        );
        assert_eq!(tokens_for("abcde"), 2);
        assert_eq!(tokens_for(""), 0);
    }
}
