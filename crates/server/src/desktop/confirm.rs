//! Questions only the person at the machine can answer. The desktop shell asks them in a
//! native dialog, whose answer no page can give; the tests script the answers.
//!
//! A debug build run with `ODP_E2E_DIALOG=<dir>` asks through files instead ([`by_files`]),
//! so the end-to-end test on Xvfb can read the question and answer it; release builds have
//! no such hook (it is compiled only with `debug_assertions`).

use std::future::Future;
use std::pin::Pin;

use crate::glance::dialog_word;

/// What a dialog asks, in the app's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub title: String,
    pub message: String,
    pub yes: String,
    pub no: String,
}

impl Question {
    /// `topic` is `expose`, `launch` or `connect` (the `dialog` section of the
    /// translations).
    pub fn about(topic: &str, language: &str) -> Self {
        let w = |key: &str| dialog_word(language, &format!("{topic}{key}"));
        Self {
            title: w("Title"),
            message: w("Message"),
            yes: w("Yes"),
            no: dialog_word(language, "cancel"),
        }
    }
}

/// An answer on its way: `true` only for a yes.
pub type Answer = Pin<Box<dyn Future<Output = bool> + Send>>;

type Asker = dyn Fn(Question) -> Answer + Send + Sync;

/// How the app asks: natively in the app, scripted in the tests; and in which language.
pub struct Confirmer {
    ask: Box<Asker>,
    language: Box<dyn Fn() -> String + Send + Sync>,
}

impl Confirmer {
    /// Asks in English until told otherwise ([`Confirmer::speaking`]).
    pub fn new(ask: impl Fn(Question) -> Answer + Send + Sync + 'static) -> Self {
        Self {
            ask: Box::new(ask),
            language: Box::new(|| "en".to_owned()),
        }
    }

    /// Asks in the language `language` reads at the time (the app's preference).
    pub fn speaking(self, language: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self {
            language: Box::new(language),
            ..self
        }
    }

    /// Asks about `topic` (see [`Question::about`]) in the app's language, with `{{name}}`
    /// in its words replaced by the values given.
    pub fn ask_about(&self, topic: &str, values: &[(&str, &str)]) -> Answer {
        let mut question = Question::about(topic, &(self.language)());
        for (name, value) in values {
            let placeholder = format!("{{{{{name}}}}}");
            for text in [
                &mut question.title,
                &mut question.message,
                &mut question.yes,
            ] {
                *text = text.replace(&placeholder, value);
            }
        }
        self.ask(question)
    }

    /// The end-to-end test's dialog when `ODP_E2E_DIALOG` names a directory (debug builds
    /// only); `None` otherwise.
    pub fn for_tests() -> Option<Self> {
        #[cfg(debug_assertions)]
        if let Some(dir) = std::env::var_os("ODP_E2E_DIALOG") {
            let dir = std::path::PathBuf::from(dir);
            return Some(Self::new(move |question| {
                Box::pin(by_files(dir.clone(), question))
            }));
        }
        None
    }

    /// Asks; `false` unless the person said yes.
    pub fn ask(&self, question: Question) -> Answer {
        (self.ask)(question)
    }
}

/// The end-to-end test's dialog: the question is written to `dir/question` (title, then
/// message), and the answer is the first word of `dir/answer` once it holds a whole line
/// (`yes`, or anything else for no); both files are then removed.
#[cfg(debug_assertions)]
async fn by_files(dir: std::path::PathBuf, question: Question) -> bool {
    let asked = dir.join("question");
    let reply = dir.join("answer");
    let text = format!("{}\n{}\n", question.title, question.message);
    if let Err(error) = tokio::fs::write(&asked, text).await {
        tracing::warn!(%error, "the test dialog could not ask");
        return false;
    }
    let yes = loop {
        if let Ok(reply) = tokio::fs::read_to_string(&reply).await
            && reply.ends_with('\n')
        {
            break reply.split_whitespace().next() == Some("yes");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let _ = tokio::fs::remove_file(&reply).await;
    let _ = tokio::fs::remove_file(&asked).await;
    yes
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn the_file_dialog_writes_the_question_and_reads_a_whole_answer() {
        let dir = tempfile::tempdir().unwrap();
        let question = Question::about("expose", "en");
        let asking = tokio::spawn(by_files(dir.path().to_owned(), question.clone()));
        let asked = dir.path().join("question");
        while !asked.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let text = std::fs::read_to_string(&asked).unwrap();
        assert_eq!(text, format!("{}\n{}\n", question.title, question.message));
        std::fs::write(dir.path().join("answer"), "ye").unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        assert!(!asking.is_finished(), "half a line is not an answer");
        std::fs::write(dir.path().join("answer"), "yes\n").unwrap();
        assert!(asking.await.unwrap());
        assert!(!asked.exists() && !dir.path().join("answer").exists());
    }
}
