//! Status moves: conditional on the stored status, recorded in the history in the same transaction,
//! and idempotent per provider event.
//!
//! One file a concern: [`moves`], [`relationship`], [`item_removal`] and [`reconcile`].

mod item_removal;
mod moves;
mod reconcile;
mod relationship;
