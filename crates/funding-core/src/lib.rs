//! The funding workflow: the use cases and the ports they need. It depends on the domain crate only;
//! providers and storage come in through the traits of [`ports`].

pub mod model;
pub mod ports;
