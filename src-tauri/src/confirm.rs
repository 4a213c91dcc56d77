//! The native dialog behind [`Confirmer`]: a question only the person at the machine can
//! answer, asked from Rust. The page can change what it likes through `set_preferences`,
//! but what would expose the proxy or start it at every login is asked here, and the page
//! has no command for the dialog.

use tauri::{AppHandle, Manager, Runtime};

pub use ondemand_proxy::desktop::confirm::{Confirmer, Question};

/// A native message dialog over the main window (a warning, with the question's two
/// buttons); closing it is a no. Debug builds asked to by the end-to-end test ask through
/// files instead ([`Confirmer::for_tests`]).
pub fn native<R: Runtime>(app: AppHandle<R>) -> Confirmer {
    let reader = app.clone();
    let language = move || crate::prefs::load(&reader).language().to_owned();
    if let Some(scripted) = Confirmer::for_tests() {
        return scripted.speaking(language);
    }
    Confirmer::new(move |question| {
        use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
        let (answer, answered) = tokio::sync::oneshot::channel();
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
        Box::pin(async move { answered.await.unwrap_or(false) })
    })
    .speaking(language)
}
