//! Outbox: sent mail from the local moto server, as files (in progress).
