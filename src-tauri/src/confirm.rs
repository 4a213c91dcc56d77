//! Questions only the person at the machine can answer: a native dialog, asked from Rust.
//! The page can change what it likes through `set_preferences`, but what would expose the
//! proxy or start it at every login goes through [`ask`], whose answer the page cannot
//! give (it has no command for it, and the dialog is not part of it).
//!
//! A debug build run with `ODP_E2E_DIALOG=<dir>` asks through files instead, so the
//! end-to-end test on Xvfb can read the question and answer it; release builds have no
//! such hook (it is compiled only with `debug_assertions`).

use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::oneshot;

use ondemand_proxy::glance::dialog_word;

/// What a dialog asks, in the app's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub title: String,
    pub message: String,
    pub yes: String,
    pub no: String,
}

impl Question {
    /// `topic` is `expose` or `launch` (the `dialog` section of the translations).
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

type Asker = dyn Fn(Question) -> oneshot::Receiver<bool> + Send + Sync;

/// How the app asks: natively in the app, scripted in the unit tests. Without one, every
/// question is answered no.
pub struct Confirmer(Box<Asker>);

impl Confirmer {
    pub fn new(ask: impl Fn(Question) -> oneshot::Receiver<bool> + Send + Sync + 'static) -> Self {
        Self(Box::new(ask))
    }

    /// A native message dialog over the main window (a warning, with the question's two
    /// buttons); closing it is a no.
    pub fn native<R: Runtime>(app: AppHandle<R>) -> Self {
        #[cfg(debug_assertions)]
        if let Some(dir) = std::env::var_os("ODP_E2E_DIALOG") {
            return Self::new(move |question| by_files(dir.clone().into(), question));
        }
        Self::new(move |question| {
            use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
            let (answer, answered) = oneshot::channel();
            let mut dialog = app
                .dialog()
                .message(question.message)
                .title(question.title)
                .kind(MessageDialogKind::Warning)
                .buttons(MessageDialogButtons::OkCancelCustom(
                    question.yes,
                    question.no,
                ));
            if let Some(window) = app.get_webview_window(crate::MAIN_WINDOW) {
                dialog = dialog.parent(&window);
            }
            dialog.show(move |yes| {
                let _ = answer.send(yes);
            });
            answered
        })
    }
}

/// Asks the person at the machine; `false` unless they said yes.
pub async fn ask<R: Runtime>(app: &AppHandle<R>, question: Question) -> bool {
    let Some(confirmer) = app.try_state::<Confirmer>() else {
        return false;
    };
    let answered = (confirmer.0)(question);
    answered.await.unwrap_or(false)
}

/// The end-to-end test's dialog: the question is written to `dir/question` (title, then
/// message), and the answer is the first word of `dir/answer` once it holds a whole line
/// (`yes`, or anything else for no); both files are then removed.
#[cfg(debug_assertions)]
fn by_files(dir: std::path::PathBuf, question: Question) -> oneshot::Receiver<bool> {
    let (answer, answered) = oneshot::channel();
    tauri::async_runtime::spawn(async move {
        let asked = dir.join("question");
        let reply = dir.join("answer");
        let text = format!("{}\n{}\n", question.title, question.message);
        if let Err(error) = tokio::fs::write(&asked, text).await {
            tracing::warn!(%error, "the test dialog could not ask");
            return;
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
        let _ = answer.send(yes);
    });
    answered
}
