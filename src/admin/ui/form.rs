//! What a form of the admin UI shows when it is sent back: every bad field's message, in
//! plain words under the form's own label, beside the field and in a summary at the top of
//! the form (`templates/admin/forms.html`), the first bad field focused (`autofocus`: the
//! pages run no script); and, when the form had expired, what was typed, kept.

/// One bad field of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's `id` in the page (the summary links to it).
    pub id: &'static str,
    /// The field's label as the form shows it.
    pub label: &'static str,
    /// What is wrong, in plain words, starting with a capital letter.
    pub message: String,
}

/// What a form sent back says: its bad fields, in the form's order, and whether it had
/// expired (its CSRF token was not the session's: nothing was done).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    pub fields: Vec<FieldError>,
    pub expired: bool,
    /// The `id` of the form's first field, focused when the form had expired.
    first: &'static str,
}

/// What a form that had expired says above what was typed.
pub const EXPIRED: &str = "This form had expired (it was opened before a sign-in or sign-out), \
    so nothing was saved. What you typed is kept below: check it and submit it again.";

impl FormErrors {
    /// The errors of a form that had expired, whose first field is `first` (focused, so that
    /// the page opens on the form and its notice).
    pub fn expired(first: &'static str) -> Self {
        Self {
            fields: Vec::new(),
            expired: true,
            first,
        }
    }

    /// Adds the message of the field `id` labelled `label`. A field gets one message: a
    /// second one for the same field is dropped.
    pub fn add(&mut self, id: &'static str, label: &'static str, message: impl AsRef<str>) {
        if self.fields.iter().any(|f| f.id == id) {
            return;
        }
        self.fields.push(FieldError {
            id,
            label,
            message: sentence(message.as_ref()),
        });
    }

    /// Whether the form was accepted as sent.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && !self.expired
    }

    /// The message of the field `id`, if it is bad.
    pub fn of(&self, id: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.message.as_str())
    }

    /// Whether `id` is the first bad field (or, for a form that had expired, its first
    /// field): the one the page focuses.
    pub fn focus(&self, id: &str) -> bool {
        match self.fields.first() {
            Some(f) => f.id == id,
            None => self.expired && self.first == id,
        }
    }
}

/// `message` as a sentence: a capital first letter and a full stop.
fn sentence(message: &str) -> String {
    let message = message.trim();
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_gets_one_message_and_the_first_is_focused() {
        let mut errors = FormErrors::default();
        assert!(errors.is_empty());
        errors.add("pin", "PIN", "a PIN has 4 to 8 digits");
        errors.add(
            "order_id",
            "Order id",
            "an order id has 1 to 64 characters.",
        );
        errors.add("pin", "PIN", "another");
        assert_eq!(errors.fields.len(), 2);
        assert_eq!(errors.of("pin"), Some("A PIN has 4 to 8 digits."));
        assert_eq!(
            errors.of("order_id"),
            Some("An order id has 1 to 64 characters.")
        );
        assert!(errors.focus("pin") && !errors.focus("order_id"));
        let expired = FormErrors::expired("order_id");
        assert!(!expired.is_empty());
        assert!(expired.focus("order_id") && !expired.focus("pin"));
    }
}
