//! The question asked before an action that can not be undone (deactivate an order, close a
//! booking, drain a virtual number): a page of its own with the action's button and a way
//! back, since the pages run no script (`confirm()` is refused by their policy).

use askama::Template;

/// "Deactivate order OD-1?", what follows from it, the button that does it (a form posted to
/// `action`) and the page to go back to.
#[derive(Template)]
#[template(path = "admin/confirm.html")]
pub(super) struct ConfirmPage {
    pub signed_in: bool,
    pub section: &'static str,
    pub csrf: String,
    pub title: String,
    pub consequence: String,
    pub action: String,
    pub button: String,
    pub back: String,
}
