//! The `mail-events` function: SES bounce, complaint, delivery, open and click events (issue 4).
